"""A bounded load generator: N concurrent clients ask a running server a fixed number of questions.

Used by `pressroom bench load` and by the load test. It talks HTTP only, so it measures what a caller sees:
`/api/ask`, or the Gradio endpoint through Gradio's own two-step HTTP protocol (POST `/gradio_api/call/<name>`,
then read the result as server-sent events), which is what `gradio_client` does underneath.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from embeddings.errors import PressroomError

ENDPOINTS = ("api", "gradio")
DEFAULT_QUESTIONS = (
    "How will Shanghai lead the integration of the Yangtze River Delta?",
    "What are Shanghai's plans for sci-tech innovation?",
    "How will Shanghai attract foreign investment?",
    "What about the international shipping center?",
    "What is the plan for the financial center?",
)


@dataclass
class LoadReport:
    """What one load run saw."""

    endpoint: str
    clients: int
    requests: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    statuses: Counter[str]
    errors: list[str] = field(default_factory=list)  # first few error descriptions

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def to_json(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint, "clients": self.clients, "requests": self.requests,
            "errors": self.failed, "statuses": dict(self.statuses),
            "p50_ms": round(self.percentile(50), 1), "p99_ms": round(self.percentile(99), 1),
            "per_s": round(self.requests / self.seconds, 1) if self.seconds else None,
            "first_errors": self.errors[:5],
        }


async def _ask_api(client: httpx.AsyncClient, question: str, k: int) -> tuple[str, str | None]:
    response = await client.get("/api/ask", params={"q": question, "k": k})
    if response.status_code != 200:
        return str(response.status_code), response.text[:200]
    body = response.json()
    if "answers" not in body:
        return "bad-body", response.text[:200]
    return "200", None


async def _ask_gradio(client: httpx.AsyncClient, question: str, k: int) -> tuple[str, str | None]:
    """One call of the chat's `/ask` endpoint over Gradio's HTTP protocol."""
    # All inputs in order (q, k, speaker, conference, from, to): the raw protocol fills no defaults.
    start = await client.post("/gradio_api/call/ask", json={"data": [question, k, "", "", "", ""]})
    if start.status_code != 200:
        return str(start.status_code), start.text[:200]
    event_id = start.json()["event_id"]
    event = None
    async with client.stream("GET", f"/gradio_api/call/ask/{event_id}") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = line.split(":", 1)[1].strip()
                if event == "error":
                    return "gradio-error", data[:200]
                json.loads(data)
                return "200", None
    return "no-result", f"stream ended after event {event!r}"


async def _run(base_url: str, endpoint: str, questions: Sequence[str], clients: int, total: int, k: int,
               timeout: float) -> LoadReport:
    ask = _ask_api if endpoint == "api" else _ask_gradio
    cycle = itertools.cycle(questions)
    remaining = itertools.count()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(client: httpx.AsyncClient) -> None:
        while next(remaining) < total:
            question = next(cycle)
            t0 = time.perf_counter()
            try:
                status, problem = await ask(client, question, k)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                status, problem = type(exc).__name__, repr(exc)[:200]
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[status] += 1
            if problem and len(errors) < 20:
                errors.append(f"{status}: {problem}")

    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        seconds = time.perf_counter() - t0
    return LoadReport(endpoint, clients, total, seconds, latencies, statuses, errors)


def check_server(base_url: str) -> dict[str, object]:
    """The server's /healthz, or a sentence saying that nothing answers at ``base_url``."""
    try:
        response = httpx.get(base_url.rstrip("/") + "/healthz", timeout=10)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PressroomError(
            f"No Press Room server answers at {base_url} ({exc}); start one with `pressroom serve`."
        ) from exc


def run_load(base_url: str, questions: Sequence[str], *, clients: int = 8, total: int = 1000,
             endpoint: str = "api", k: int = 5, timeout: float = 60.0) -> LoadReport:
    """Ask ``total`` questions (cycling through ``questions``) with ``clients`` concurrent connections."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)} (got {endpoint!r})")
    if not questions:
        raise ValueError("at least one question is needed")
    return asyncio.run(_run(base_url.rstrip("/"), endpoint, list(questions), clients, total, k, timeout))


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (server workers), in MB, from /proc."""
    total_kb = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def _children(pid: int) -> list[int]:
    try:
        kids = [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]
    except OSError:
        return []
    return kids + [g for c in kids for g in _children(c)]
