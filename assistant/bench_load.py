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
from urllib.parse import urlencode

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
    client_cpu_seconds: float = 0.0  # the load generator's own CPU time: it shares the server's cores

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
            "client_cpu_ms_per_request": round(1000 * self.client_cpu_seconds / self.requests, 2),
            "first_errors": self.errors[:5],
        }


class _Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads bodies of a known length.

    The load generator shares the server's cores, so each request must cost it little: this takes a small
    fraction of httpx's CPU per request (`pressroom bench load` prints its own CPU time per request).
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        url = httpx.URL(base_url)
        self.host, self.port = url.host, url.port or 80
        self.timeout = timeout
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        async with asyncio.timeout(self.timeout):
            if self.streams is None:
                self.streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self.streams
            writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
                if "content-length" not in headers:
                    raise ValueError(f"no Content-Length in the response: {lines[0]}")
                body = await reader.readexactly(int(headers["content-length"]))
            except BaseException:
                self.close()  # a half-read response would desynchronise the next one
                raise
            if headers.get("connection") == "close":
                self.close()
            return int(lines[0].split(" ", 2)[1]), body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def _ask_api(connection: _Connection, question: str, k: int) -> tuple[str, str | None]:
    status, body = await connection.get("/api/ask?" + urlencode({"q": question, "k": k}))
    if status != 200:
        return str(status), body[:200].decode("utf-8", "replace")
    if "answers" not in json.loads(body):
        return "bad-body", body[:200].decode("utf-8", "replace")
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
    cycle = itertools.cycle(questions)
    remaining = itertools.count()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(client: httpx.AsyncClient) -> None:
        connection = _Connection(base_url, timeout)
        while next(remaining) < total:
            question = next(cycle)
            t0 = time.perf_counter()
            try:
                if endpoint == "api":
                    status, problem = await _ask_api(connection, question, k)
                else:
                    status, problem = await _ask_gradio(client, question, k)
            except (httpx.HTTPError, OSError, EOFError, ValueError, KeyError, asyncio.LimitOverrunError) as exc:
                status, problem = type(exc).__name__, repr(exc)[:200]
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[status] += 1
            if problem and len(errors) < 20:
                errors.append(f"{status}: {problem}")
        connection.close()

    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as client:
        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return LoadReport(endpoint, clients, total, seconds, latencies, statuses, errors, cpu)


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
