"""Answering processes: N fresh interpreters that each open the index once, and the pool the server hands them.

With one (the default) there is no pool: the server answers in its own process (``InProcess``), which measured
cheaper than handing every question to a single process behind it.

One HTTP process (FastAPI + Gradio) stays in front because Gradio's queue keeps each session's state in the
process the browser joined: behind plain `uvicorn --workers N` the join and the event stream land in different
processes and the chat breaks. Behind it, each worker is a fresh interpreter (`python -m assistant.workers`,
never a fork of a process with onnxruntime or FAISS loaded) that opens the index read-only — the vectors are
mapped, so N workers share one copy in the page cache — and answers one question at a time.

Server and worker talk over a Unix socket pair, one message at a time: a kind byte, a 4-byte length and a JSON
body (never pickle). A worker exits when its socket closes, so none outlives the server, even one killed with
SIGKILL. A worker that dies or stops answering is replaced; the question it held gets a clear 503.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from embeddings.errors import PressroomError
from embeddings.index import exists
from embeddings.onnx_encoder import THREADS_VARIABLE
from embeddings.records import Kind, Paragraph
from embeddings.store import Answer, AnswerFilter

from .conversation import Query
from .retrieval import Hit, Reply, Retriever, make_filter
from .settings import Settings, worker_threads

HEADER = struct.Struct(">cI")  # kind, body length
AS_JSON = b"J"  # question → the JSON of /api/ask; answer: that JSON
AS_REPLY = b"R"  # question → the whole Reply, for the chat; answer: that Reply (see reply_to_wire)
CATALOG = b"C"  # a worker's first message: it is ready, and this is what its index holds
MISTAKE = b"E"  # {"error": sentence}: the question cannot be answered as asked (HTTP 400)
FAILURE = b"X"  # {"error": …}: a bug in the worker, logged there with its traceback (HTTP 500)

START_SECONDS = 300.0  # to load the model and open the index, on a machine busy with other work
ANSWER_SECONDS = 30.0  # a worker silent this long is stuck: it is killed and replaced
WAIT_SECONDS = 30.0  # the longest a question waits for a free worker before its 503
WATCH_SECONDS = 1.0  # how often idle workers are checked for having died
STOP_SECONDS = 5.0  # grace for workers to exit when the server stops, before SIGKILL
MAX_RESTART_DELAY = 60.0  # back-off between failed restarts, so a broken index does not spin the CPU


class Unavailable(PressroomError):
    """No answering process could take or finish the question; the caller may retry shortly (HTTP 503)."""


@dataclass(frozen=True)
class Catalog:
    """What the index holds, as the pages show it and /healthz reports it; sent by each worker when ready."""

    model: str
    passages: int
    conferences: int
    speakers: tuple[str, ...]  # officials, most answers first (the chat's speaker filter)
    # The chat's conference filter: (day · title, conference id) each, newest first. One choice a conference, its
    # id the value: in an archive every Q&A day is a "Regular press conference", and a title's choice (or one such
    # as "Press conference", part of every title) picked all of them rather than one.
    conference_choices: tuple[tuple[str, str], ...]
    examples: tuple[str, ...]  # questions journalists asked, shown under the chat

    @classmethod
    def of(cls, retriever: Retriever) -> Catalog:
        m = retriever.index.manifest
        conferences = retriever.index.store.conferences()[::-1]
        labels = [f"{c.date or 'undated'} · {c.title}" for c in conferences]
        # Two conferences of a day with one title (the archive has such days): the id as `pressroom list` shows it.
        shared = {label for label, n in Counter(labels).items() if n > 1}
        choices = tuple((label + (f" · {c.id[:8]}" if label in shared else ""), c.id)
                        for label, c in zip(labels, conferences, strict=True))
        return cls(m.model, m.passages, m.conferences, tuple(retriever.speakers), choices,
                   tuple(retriever.example_questions()))

    def to_wire(self) -> bytes:
        """The body of a worker's CATALOG message."""
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_wire(cls, data: bytes) -> Catalog:
        """The Catalog that ``to_wire`` encoded (JSON lists back to tuples)."""
        d = json.loads(data)
        return cls(**{**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()},
                      "conference_choices": tuple((label, cid) for label, cid in d["conference_choices"])})


# --- the wire form of a Reply: every field, so the chat formats exactly what an in-process Retriever gives ---

def reply_to_wire(reply: Reply) -> bytes:
    """``reply`` as JSON bytes, losslessly (``reply_from_wire`` gives back an equal Reply)."""
    return json.dumps(asdict(reply), default=_iso).encode("utf-8")


def reply_from_wire(data: bytes) -> Reply:
    """The Reply that ``reply_to_wire`` encoded."""
    d = json.loads(data)
    where, query = d["where"], d["query"]
    period = query["period"] and (_day(query["period"][0]), _day(query["period"][1]))
    return Reply(d["question"], Query(**{**query, "period": period}),
                 AnswerFilter(where["speaker"], where["conference"], _day(where["since"]), _day(where["until"])),
                 [Hit(_answer_from_wire(h["answer"]), h["score"], h["matched"], h["below_threshold"])
                  for h in d["hits"]])


def _answer_from_wire(d: dict[str, Any]) -> Answer:
    return Answer(**{**d, "kind": Kind(d["kind"]), "paragraphs": tuple(Paragraph(**p) for p in d["paragraphs"]),
                     "held": _day(d["held"]), "published": _day(d["published"]),
                     "also": tuple(date.fromisoformat(day) for day in d["also"])})


def api_json(reply: Reply) -> bytes:
    """The body of /api/ask, as Starlette's JSONResponse writes it: UTF-8, compact, no NaN."""
    return json.dumps(reply.to_json(), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _iso(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not part of a Reply's wire form")


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _frame(kind: bytes, body: bytes) -> bytes:
    return HEADER.pack(kind, len(body)) + body


def _error_frame(kind: bytes, message: str) -> bytes:
    """A MISTAKE or FAILURE message; the server reads its "error" (see WorkerPool._ask)."""
    return _frame(kind, json.dumps({"error": message}).encode())


def _read(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """One message from a blocking socket; None when the other end has closed it."""
    header = _read_exactly(sock, HEADER.size)
    if header is None:
        return None
    kind, size = HEADER.unpack(header)
    body = _read_exactly(sock, size)
    if body is None:
        return None
    return kind, body


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# --- the worker's side ------------------------------------------------------------------------------------

def handle(retriever: Retriever, kind: bytes, body: bytes) -> bytes:
    """The message that answers one question message (AS_JSON or AS_REPLY), or says why it cannot."""
    try:
        request = json.loads(body)
        where = request["where"]
        reply = retriever.ask(request["q"], request["k"],
                              make_filter(where["speaker"], where["conference"], where["from"], where["to"]),
                              request["earlier"])
        return _frame(AS_REPLY, reply_to_wire(reply)) if kind == AS_REPLY else _frame(AS_JSON, api_json(reply))
    except PressroomError as exc:
        return _error_frame(MISTAKE, str(exc))
    except Exception as exc:  # a bug: say so to the server (a 500) and keep serving the other questions
        traceback.print_exc(file=sys.stderr)
        return _error_frame(FAILURE, f"{type(exc).__name__}: {exc}")


def serve_questions(sock: socket.socket, settings: Settings) -> int:
    """Open the index, say so, then answer questions until the server closes the socket."""
    try:
        try:
            retriever = Retriever.open(settings)
        except PressroomError as exc:
            sock.sendall(_error_frame(MISTAKE, str(exc)))
            return 1
        sock.sendall(_frame(CATALOG, Catalog.of(retriever).to_wire()))
        while (message := _read(sock)) is not None:
            sock.sendall(handle(retriever, *message))
    except OSError:  # the server went away
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """A worker's entry point (`python -m assistant.workers`, started by WorkerPool); returns its exit status."""
    parser = argparse.ArgumentParser(prog="python -m assistant.workers", description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="the worker's end of the socket pair")
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args(argv)
    # Ctrl+C reaches the whole process group; the server stops its workers itself by closing their sockets.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with socket.socket(fileno=args.fd) as sock:
        return serve_questions(sock, Settings(index=args.index, data=args.data, model=args.model))


# --- the server's side ------------------------------------------------------------------------------------

class Answerer(Protocol):
    """What the server and the chat ask questions of: ``InProcess`` (one worker) or a ``WorkerPool``."""

    catalog: Catalog | None

    @property
    def ready(self) -> int: ...

    def start(self) -> Catalog: ...

    async def ask(self, question: object, k: object, where: AnswerFilter, earlier: Sequence[str] = ()) -> Reply: ...

    async def ask_json(self, question: object, k: object, where: AnswerFilter) -> bytes: ...

    async def watch(self) -> None: ...

    def close(self) -> None: ...


def answerer(settings: Settings) -> Answerer:
    """``settings.workers`` answering processes; one means the server's own process.

    Measured on 2 shared cores (`pressroom bench load`, README): one worker behind the HTTP process costs
    about 1 ms more CPU per question than answering in it (the hand-off between two processes), so the pool
    only starts at two.
    """
    return InProcess(settings) if settings.workers == 1 else WorkerPool(settings)


class InProcess:
    """Questions answered in the server's own process, on threads (the encoder and FAISS release the GIL)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog: Catalog | None = None
        self._retriever: Retriever | None = None

    @property
    def ready(self) -> int:
        return 0 if self._retriever is None else 1

    def start(self) -> Catalog:
        self._retriever = Retriever.open(self.settings)
        self.catalog = Catalog.of(self._retriever)
        return self.catalog

    async def ask(self, question: object, k: object, where: AnswerFilter, earlier: Sequence[str] = ()) -> Reply:
        assert self._retriever is not None, "start() first"
        return await run_in_threadpool(self._retriever.ask, question, k, where, earlier)

    async def ask_json(self, question: object, k: object, where: AnswerFilter) -> bytes:
        assert self._retriever is not None, "start() first"
        retriever = self._retriever
        # Encoding on the thread too: the event loop only moves bytes.
        return await run_in_threadpool(lambda: api_json(retriever.ask(question, k, where)))

    async def watch(self) -> None:
        return

    def close(self) -> None:
        if self._retriever is not None:
            self._retriever.close()


class _Worker:
    """One answering process and the server's end of its socket."""

    def __init__(self, slot: int, process: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.slot = slot
        self.process = process
        self.sock = sock
        self.state = "starting"  # → idle ⇄ busy; → lost once it died or stopped answering

    async def exchange(self, message: bytes) -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(self.sock, message)
        data = bytearray()
        while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[1]:
            chunk = await loop.sock_recv(self.sock, 1 << 16)
            if not chunk:
                raise EOFError("closed its connection")
            data += chunk
        kind, size = HEADER.unpack_from(data)
        if len(data) != HEADER.size + size:
            raise EOFError("sent more than one answer")
        return kind, bytes(data[HEADER.size:])


class WorkerPool:
    """``settings.workers`` answering processes behind the server's; questions go to whichever is free.

    ``start`` blocks until every worker is ready; ``ask``/``ask_json`` run on the server's event loop;
    ``watch`` (a task on that loop) replaces workers that die while idle; ``close`` stops them all.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.size = settings.workers
        self.catalog: Catalog | None = None
        self._slots: dict[int, _Worker] = {}  # the current worker of each slot
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._problem: str | None = None  # why the last restart failed, until one succeeds
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()  # _slots and _closed, shared with restart threads
        self._closed = False

    # starting and stopping

    def start(self) -> Catalog:
        """Start every worker and wait until each has opened the index. Raises PressroomError if one cannot.

        Without an index, the first worker builds it alone before the others open it.
        """
        slots = list(range(self.size))
        if not exists(self.settings.index):
            self._idle.put_nowait(self._ready(self._launch(slots.pop(0)), timeout=None))  # as long as it takes
        for worker in [self._launch(slot) for slot in slots]:
            self._idle.put_nowait(self._ready(worker, timeout=START_SECONDS))
        assert self.catalog is not None
        return self.catalog

    def _launch(self, slot: int) -> _Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with self._lock, theirs:
            if self._closed:
                ours.close()
                raise Unavailable("The server is stopping.")
            s = self.settings
            # Each worker's encoder gets its share of the cores, so N workers never run more threads than cores.
            env = {**os.environ, THREADS_VARIABLE: str(worker_threads(s))}
            process = subprocess.Popen(
                [sys.executable, "-m", "assistant.workers", "--fd", str(theirs.fileno()), "--index", str(s.index),
                 "--data", str(s.data), "--model", s.model], pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                env=env)
            worker = self._slots[slot] = _Worker(slot, process, ours)
        return worker

    def _ready(self, worker: _Worker, timeout: float | None) -> _Worker:
        """Wait (blocking) for the worker's catalog; then it may take questions (the caller queues it)."""
        worker.sock.settimeout(timeout)
        try:
            message = _read(worker.sock)
        except TimeoutError:
            worker.process.kill()
            raise Unavailable(f"Answering process {worker.slot} did not open the index within {timeout:.0f} s; the "
                              "machine may be too busy: start again, or with fewer --workers.") from None
        except OSError as exc:
            message = None
            why = str(exc)
        else:
            why = f"exited with status {worker.process.wait()}" if message is None else ""
        if message is None:
            raise Unavailable(f"Answering process {worker.slot} stopped while opening the index ({why}); "
                              "see the messages above.")
        kind, body = message
        if kind != CATALOG:
            worker.process.wait()
            raise PressroomError(json.loads(body)["error"])
        self.catalog = self.catalog or Catalog.from_wire(body)
        worker.sock.setblocking(False)
        worker.state = "idle"
        return worker

    def close(self) -> None:
        """Stop every worker: closing its socket makes it exit; one still running after a grace period is killed."""
        with self._lock:
            self._closed = True
            workers = list(self._slots.values())
        for worker in workers:
            worker.sock.close()
        deadline = time.monotonic() + STOP_SECONDS
        for worker in workers:
            try:
                worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()

    # answering

    @property
    def ready(self) -> int:
        """Workers alive and answering or able to answer."""
        return sum(1 for w in self._slots.values() if w.state in ("idle", "busy") and w.process.poll() is None)

    async def ask(self, question: object, k: object, where: AnswerFilter, earlier: Sequence[str] = ()) -> Reply:
        """The chat's reply to ``question`` (see Retriever.ask). Raises PressroomError, or Unavailable (503)."""
        return reply_from_wire(await self._ask(AS_REPLY, question, k, where, earlier))

    async def ask_json(self, question: object, k: object, where: AnswerFilter) -> bytes:
        """The body of /api/ask for ``question``: UTF-8 JSON, as the worker wrote it (no decoding here)."""
        return await self._ask(AS_JSON, question, k, where, ())

    async def _ask(self, kind: bytes, question: object, k: object, where: AnswerFilter,
                   earlier: Sequence[str]) -> bytes:
        request = json.dumps({"q": question, "k": k, "where": where.to_json(), "earlier": list(earlier)})
        worker = await self._take()
        # Its own task, shielded: a caller that goes away mid-question still leaves the answer read, so the
        # worker's stream stays in step and the worker goes back to the pool.
        kind, body = await asyncio.shield(self._use(worker, _frame(kind, request.encode("utf-8"))))
        if kind in (MISTAKE, FAILURE):
            message = json.loads(body)["error"]
            if kind == MISTAKE:
                raise PressroomError(message)
            raise RuntimeError(f"Answering process {worker.slot} failed: {message}")
        return body

    async def _take(self) -> _Worker:
        while True:
            if self._idle.empty() and not self.ready and self._problem:
                raise Unavailable(f"No answering process is running ({self._problem}); see the server's log.")
            if not self._idle.empty():
                worker = self._idle.get_nowait()
            else:
                try:
                    async with asyncio.timeout(WAIT_SECONDS):
                        worker = await self._idle.get()
                except TimeoutError:
                    raise Unavailable(f"No answering process was free within {WAIT_SECONDS:.0f} s; "
                                      "retry in a moment.") from None
            if worker.state != "idle":  # lost while it waited in the queue
                continue
            if worker.process.poll() is not None:
                self._lose(worker, f"exited with status {worker.process.returncode}")
                continue
            worker.state = "busy"
            return worker

    async def _use(self, worker: _Worker, message: bytes) -> tuple[bytes, bytes]:
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                reply = await worker.exchange(message)
        except (OSError, EOFError, TimeoutError, ValueError) as exc:
            why = f"gave no answer within {ANSWER_SECONDS:.0f} s" if isinstance(exc, TimeoutError) else \
                f"stopped while answering ({exc or type(exc).__name__})"
            self._lose(worker, why)
            raise Unavailable(f"The answering process {why}; retry in a moment.") from None
        worker.state = "idle"
        self._idle.put_nowait(worker)
        return reply

    # replacing

    async def watch(self) -> None:
        """Replace workers that die while idle (a busy one that dies is noticed by its question)."""
        while not self._closed:
            await asyncio.sleep(WATCH_SECONDS)
            for worker in list(self._slots.values()):
                if worker.state == "idle" and worker.process.poll() is not None:
                    self._lose(worker, f"exited with status {worker.process.returncode}")

    def _lose(self, worker: _Worker, why: str) -> None:
        """Drop a worker that died or hangs, and start another in its slot (on the running event loop)."""
        if worker.state == "lost":
            return
        worker.state = "lost"
        worker.sock.close()
        if worker.process.poll() is None:
            worker.process.kill()
        print(f"Answering process {worker.slot} (pid {worker.process.pid}) {why}; starting another.",
              file=sys.stderr, flush=True)
        task = asyncio.get_running_loop().create_task(self._restart(worker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self, lost: _Worker) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.0
        while not self._closed:
            await asyncio.sleep(delay)
            try:
                # In a thread: loading the model takes seconds, and questions keep going to the other workers.
                worker = await loop.run_in_executor(None, self._start_again, lost)
            except PressroomError as exc:
                delay = min(max(1.0, 2 * delay), MAX_RESTART_DELAY)
                self._problem = str(exc)
                print(f"{exc} Trying again in {delay:.0f} s.", file=sys.stderr, flush=True)
                continue
            self._problem = None
            self._idle.put_nowait(worker)  # here, on the loop: asyncio queues are not thread-safe
            return

    def _start_again(self, lost: _Worker) -> _Worker:
        lost.process.wait()  # reap it
        return self._ready(self._launch(lost.slot), timeout=START_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
