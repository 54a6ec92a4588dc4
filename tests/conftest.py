"""Shared fixtures: the seed transcript, a deterministic fake encoder, real-model indexes, CLI runner."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest

from embeddings.encoder import ABSTAIN_BELOW, QUESTION_KEY_MARGIN

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SEED = ROOT / "data" / "scio-2024-03-28-shanghai-five-centers-p7.txt"
SEED_QUESTION = (
    "As the leader in the integrated development of the Yangtze River Delta, how will Shanghai continue to "
    "play a pivotal role? What are the plans for integrating resources? Thank you."
)
PARAPHRASE = "How will Shanghai lead the integration of the Yangtze River Delta?"
BENCH = ROOT.parent / "shared" / "bench" / "mfa_qa.jsonl"  # the Q&A benchmark, read from ../shared at run time
REWORDINGS = DATA / "rewordings.tsv"
ZH = DATA / "questions_zh.tsv"


def _lines(path: Path) -> list[str]:
    return [q.strip() for q in path.read_text("utf-8").splitlines() if q.strip()]


OFF_TOPIC = _lines(DATA / "off_topic_questions.txt")
OFF_TOPIC_ZH = _lines(DATA / "off_topic_questions_zh.txt")


class FakeEncoder:
    """Deterministic bag-of-words hashing encoder: fast, no model, counts what it encodes."""

    name = "fake-bow-64"
    dim = 64
    abstain_below = ABSTAIN_BELOW
    question_key_margin = QUESTION_KEY_MARGIN

    def __init__(self) -> None:
        self.calls = 0
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str], *, progress: bool = False, query: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
            out[i] /= max(np.linalg.norm(out[i]), 1e-9)
        return out


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


def copy_sources(folder: Path, *more: Path) -> Path:
    """``folder`` (made if need be) holding private copies of the seed transcript, its sidecar and ``more``."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (SEED, SEED.with_name(SEED.name + ".meta.json"), *more):
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the shipped seed (with its sidecar) and the full-conference fixture."""
    return copy_sources(tmp_path / "corpus", DATA / "scio_full_conference.txt")


def write_jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    """``path`` holding ``rows`` as a Q&A file reads them: one JSON object a line."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    return path


REPEATED = "The Taiwan question is purely China's internal affair.\nWe firmly oppose any external interference."


def repeated_qa(folder: Path) -> Path:
    """Lin Jian says the same words on three days (once with other spacing); Mao Ning says them once."""
    def row(day: str, who: str, outlet: str, answer: str) -> dict[str, str]:
        return {"date": day, "spokesperson": who, "asked_by": outlet, "link": f"https://example.org/qa/{day}/{who}",
                "question": f"Question from {outlet} about Taiwan?", "answer": answer}

    rows = [row("2025-03-03", "Lin Jian", "CCTV", REPEATED),
            row("2025-03-05", "Lin Jian", "AFP", REPEATED),
            row("2025-01-10", "Lin Jian", "Kyodo", REPEATED.replace("purely China's", "purely  China's")),
            row("2025-03-05", "Mao Ning", "Reuters", REPEATED),
            row("2025-03-04", "Lin Jian", "NHK", "We have released information on the visit already.")]
    folder.mkdir()
    write_jsonl(folder / "qa.jsonl", rows)
    return folder


@pytest.fixture(scope="session")
def real_encoder():
    from embeddings.encoder import load_encoder

    return load_encoder()


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory, real_encoder) -> Path:
    """An index built with the real model from the seed and the fixture transcripts (built once)."""
    from embeddings.ingest import ingest

    folder = tmp_path_factory.mktemp("real")
    sources = copy_sources(folder / "sources", DATA / "scio_full_conference.txt", DATA / "no_blank_lines.txt")
    report = ingest([sources], folder / "index", real_encoder)
    assert report.ok and report.passages > 0
    return folder / "index"


@pytest.fixture(scope="session")
def bench_report(real_encoder):
    """`pressroom bench quality` on the benchmark's test split with every protocol (off-topic, rewordings,
    Chinese), run once: each protocol's tests read their part. Skips without the benchmark data."""
    if not BENCH.exists():
        pytest.skip(f"benchmark data not found at {BENCH}")
    from assistant.bench_quality import run_quality

    return run_quality(BENCH, real_encoder, split="test", off_topic=OFF_TOPIC, rewordings=REWORDINGS, chinese=ZH,
                       chinese_off_topic=OFF_TOPIC_ZH)


@pytest.fixture(scope="session")
def retriever(real_index: Path, real_encoder):
    from assistant.retrieval import Retriever
    from embeddings.index import Index

    return Retriever(Index.open(real_index), real_encoder)


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `pressroom` as a user would, in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True, env=full_env,
        cwd=ROOT, input=stdin, timeout=timeout,
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


def tree_digest(folder: Path) -> str:
    """sha256 over every file of an index folder (names and bytes): equal means untouched."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock"):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# --- live servers ----------------------------------------------------------------------------------

HOSTILE = DATA / "hostile_transcript.txt"


@pytest.fixture(scope="session")
def served_index(tmp_path_factory: pytest.TempPathFactory, real_encoder) -> Path:
    """The index behind the live server: the seed, the full-conference fixture and a hostile transcript."""
    from embeddings.ingest import ingest

    folder = tmp_path_factory.mktemp("served")
    sources = copy_sources(folder / "sources", DATA / "scio_full_conference.txt", HOSTILE)
    report = ingest([sources], folder / "index", real_encoder)
    assert report.ok and len(report.added) == 3
    return folder / "index"


@pytest.fixture(scope="session")
def served_digest(served_index: Path) -> str:
    """The served index's digest as built: every request later must leave it exactly so."""
    return tree_digest(served_index)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`pressroom serve` in a subprocess on 127.0.0.1: started, waited for, stopped."""

    def __init__(self, index: Path, *flags: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
        full_env.update(env or {})
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--index", str(index), "--port", str(self.port),
             *flags], cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the server did not answer within 180 s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class HostPage:
    """examples/embed.html served from another origin (another port), pointing at a Press Room server."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None  # type: ignore[method-assign]
        self.folder = folder
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def point_at(self, server_url: str) -> str:
        page = (ROOT / "examples" / "embed.html").read_text("utf-8").replace("http://127.0.0.1:7860", server_url)
        (self.folder / "embed.html").write_text(page, "utf-8")
        return self.origin + "/embed.html"

    def stop(self) -> None:
        self.httpd.shutdown()


@pytest.fixture(scope="session")
def host_page(tmp_path_factory: pytest.TempPathFactory):
    page = HostPage(tmp_path_factory.mktemp("host"))
    yield page
    page.stop()


@pytest.fixture(scope="session")
def live_server(served_index: Path, served_digest: str, host_page: HostPage):
    """The real server (real model, real FAISS) over ``served_index``, allowing the host page's origin."""
    server = Server(served_index, "--origins", host_page.origin)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def two_workers_server(served_index: Path, served_digest: str, host_page: HostPage):
    """``live_server`` with two answering processes (`serve --workers 2`)."""
    server = Server(served_index, "--origins", host_page.origin, "--workers", "2")
    yield server
    server.stop()
