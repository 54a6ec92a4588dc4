"""`pressroom serve --workers N`: answering processes behind one HTTP process, as a user and an operator see them.

A real server subprocess (real model, real FAISS) with two workers must answer exactly as one (in-process) does,
through /api/ask, gradio_client and the chat; a worker killed with SIGKILL or stuck is replaced without a hang;
stopping or killing the server leaves no worker behind; a bad setting or an unopenable index is one sentence.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import signal
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from assistant.retrieval import Retriever
from assistant.settings import Settings, worker_threads
from assistant.workers import Catalog, reply_from_wire, reply_to_wire
from embeddings.errors import PressroomError
from embeddings.index import Index
from embeddings.ingest import ingest
from embeddings.onnx_encoder import threads
from embeddings.store import AnswerFilter

from .conftest import PARAPHRASE, SEED_QUESTION, FakeEncoder, Server, free_port, repeated_qa, run_cli

pytestmark = pytest.mark.slow

QUESTIONS = [SEED_QUESTION, PARAPHRASE, "foreign trade", "What did Wang Wentao say about exports?",
             "cross-border e-commerce", "🚢 ports", "<b>trade</b>", "weather in Paris tomorrow"]


def workers_of(pid: int) -> list[int]:
    """The answering processes of the server ``pid``: its children, from /proc."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(kids)


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def ask(server: Server, question: str, **params) -> httpx.Response:
    return httpx.get(server.url + "/api/ask", params={"q": question, **params}, timeout=90)


# --- settings -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("flags", "env", "message"), [
    ({"workers": "0"}, {}, "workers must be between 1 and 32 (got 0)"),
    ({"workers": "33"}, {}, "workers must be between 1 and 32 (got 33)"),
    ({}, {"PRESSROOM_WORKERS": "two"}, "PRESSROOM_WORKERS must be a whole number (got 'two')"),
    ({}, {"PRESSROOM_THREADS": "0"}, "threads must be between 1 and 64 (got 0)"),
    ({}, {"PRESSROOM_THREADS": "two"}, "PRESSROOM_THREADS must be a whole number (got 'two')"),
])
def test_workers_setting_is_checked(flags: dict, env: dict, message: str) -> None:
    with pytest.raises(PressroomError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.load(env, **flags)


def test_workers_setting_from_env_and_flag() -> None:
    assert Settings.load({}).workers == 1
    assert Settings.load({"PRESSROOM_WORKERS": "2"}).workers == 2
    assert Settings.load({"PRESSROOM_WORKERS": "2"}, workers="3").workers == 3


def test_workers_share_the_cores_between_their_encoders() -> None:
    cores = threads()
    assert worker_threads(Settings.load({})) == cores  # one process answers: every core for a question
    assert worker_threads(Settings.load({"PRESSROOM_WORKERS": "2"})) == max(1, cores // 2)
    assert worker_threads(Settings.load({"PRESSROOM_WORKERS": "32"})) == 1
    assert worker_threads(Settings.load({"PRESSROOM_WORKERS": "2", "PRESSROOM_THREADS": "3"})) == 3


def test_serve_with_a_bad_worker_count_is_one_sentence(served_index: Path) -> None:
    result = run_cli("serve", "--index", str(served_index), "--workers", "0", timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: workers must be between 1 and 32 (got 0)")
    assert "Traceback" not in result.stderr


# --- the wire between server and worker -------------------------------------------------------------------

@pytest.mark.parametrize("question", QUESTIONS)
def test_a_reply_crosses_the_wire_unchanged(retriever: Retriever, question: str) -> None:
    reply = retriever.ask(question, 10)
    assert reply_from_wire(reply_to_wire(reply)) == reply


def test_a_follow_up_with_filters_crosses_the_wire_unchanged(retriever: Retriever) -> None:
    where = AnswerFilter(speaker="gu", since=date(2024, 1, 1))
    reply = retriever.ask("and who is responsible for that?", 5, where, [SEED_QUESTION])
    assert reply.query.follow_up and reply.hits
    assert reply_from_wire(reply_to_wire(reply)) == reply


def test_a_period_named_in_the_question_crosses_the_wire_unchanged(retriever: Retriever) -> None:
    reply = retriever.ask("What are the plans for foreign trade since January 2024?", 5, earlier=[SEED_QUESTION])
    assert reply.query.period == (date(2024, 1, 1), None) and reply.hits
    assert reply_from_wire(reply_to_wire(reply)) == reply


# --- a live server with two workers ----------------------------------------------------------------------

def test_the_conference_filter_offers_each_conference_newest_first(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """In an archive every Q&A day is a "Regular press conference": the chat's filter offered that title once, which
    picked them all. Each conference is its own choice, by day (two of one day told apart), and picks it alone."""
    ingest([repeated_qa(tmp_path / "qa")], tmp_path / "ix", fake_encoder)
    retriever = Retriever(Index.open(tmp_path / "ix"), fake_encoder, abstain_below=-1.0)
    catalog = Catalog.of(retriever)
    labels = [label for label, _ in catalog.conference_choices]
    assert len(set(labels)) == len(labels) == retriever.index.manifest.conferences == 5
    assert labels[0] == "2025-03-05 · Regular press conference · " + catalog.conference_choices[0][1][:8]
    assert [label[:10] for label in labels] == sorted((label[:10] for label in labels), reverse=True)
    found = 0
    for _, conference in catalog.conference_choices:
        hits = retriever.search("Taiwan visit information", 50, AnswerFilter(conference=conference))
        assert {h.answer.conference_id for h in hits} <= {conference}
        found += bool(hits)
    assert found >= 2
    assert Catalog.from_wire(catalog.to_wire()) == catalog
    # The chat's note names the conference chosen as the choice read, not by its id.
    from assistant.chat import format_reply

    label, conference = catalog.conference_choices[0]
    assert label[:10] == "2025-03-05"
    reply = retriever.ask("Taiwan", 1, AnswerFilter(conference=conference))
    note = format_reply(reply, {cid: text for text, cid in catalog.conference_choices})[0].content
    assert note.startswith("*Only answers with* conference 2025\\-03\\-05 · Regular press conference · ")
    assert conference not in note.split("\n\n")[0] and conference[:8] in note
    retriever.close()


@pytest.fixture
def two_workers(two_workers_server: Server) -> Server:
    return two_workers_server


def test_two_workers_are_two_processes(two_workers: Server) -> None:
    assert httpx.get(two_workers.url + "/healthz", timeout=30).json()["workers"] == 2
    kids = workers_of(two_workers.process.pid)
    assert len(kids) == 2
    for pid in kids:
        assert b"assistant.workers" in Path(f"/proc/{pid}/cmdline").read_bytes()
        # each encoder runs a question on its share of the cores (not every core in every worker)
        share = f"PRESSROOM_THREADS={max(1, threads() // 2)}".encode()
        assert share in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


@pytest.mark.parametrize("question", QUESTIONS)
def test_two_workers_answer_as_one_does(two_workers: Server, live_server: Server, question: str) -> None:
    from gradio_client import Client

    one = ask(live_server, question, k=5)
    two = ask(two_workers, question, k=5)
    assert one.status_code == two.status_code == 200
    assert two.json() == one.json()
    assert Client(two_workers.url, verbose=False).predict(q=question, k=5, api_name="/ask") == one.json()


def test_two_workers_answer_filters_and_mistakes_as_one_does(two_workers: Server, live_server: Server) -> None:
    for params in ({"speaker": "chen", "k": 10}, {"from": "2024-03-01", "to": "2024-03-31"},
                   {"conference": "foreign trade"}, {"k": 0}, {"from": "yesterday"}):
        one, two = ask(live_server, "foreign trade", **params), ask(two_workers, "foreign trade", **params)
        assert (two.status_code, two.json()) == (one.status_code, one.json()), params


def test_concurrent_questions_are_shared_by_both_workers(two_workers: Server) -> None:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda i: ask(two_workers, QUESTIONS[i % len(QUESTIONS)], k=3), range(64)))
    assert [r.status_code for r in replies] == [200] * 64
    by_question: dict[str, list[dict]] = {}
    for reply in replies:
        by_question.setdefault(reply.json()["question"], []).append(reply.json())
    assert all(all(r == rs[0] for r in rs) for rs in by_question.values())


def test_a_killed_worker_is_replaced_and_nothing_hangs(two_workers: Server) -> None:
    before = workers_of(two_workers.process.pid)
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: not alive(victim), 30)
    # Every question gets an answer or a clear 503 (httpx's timeout would fail a hang).
    for question in QUESTIONS * 2:
        response = ask(two_workers, question)
        assert response.status_code in (200, 503), response.text[:200]
        if response.status_code == 503:
            assert "retry" in response.json()["error"] and response.headers["retry-after"] == "1"
    assert wait_until(lambda: httpx.get(two_workers.url + "/healthz", timeout=30).json()["workers"] == 2, 120)
    after = workers_of(two_workers.process.pid)
    assert len(after) == 2 and victim not in after and before[1] in after
    # Seen dead by the monitor, or by the question sent to it first: either way it is reported and replaced.
    assert re.search(rf"\(pid {victim}\) (exited with status -9|stopped while answering \(.+\)); starting another",
                     two_workers.output())
    assert ask(two_workers, SEED_QUESTION).json()["answers"][0]["speaker"] == "Gu Jun"


def test_a_stuck_worker_is_killed_and_its_question_gets_a_503(served_index: Path) -> None:
    server = Server(served_index, "--workers", "2")
    try:
        stuck = workers_of(server.process.pid)[0]
        os.kill(stuck, signal.SIGSTOP)  # alive but silent
        # The idle workers are taken in turn, so one of the first two questions goes to the stuck one.
        replies = [ask(server, question) for question in QUESTIONS[:4]]
        assert sorted(r.status_code for r in replies) == [200, 200, 200, 503]
        (busy,) = [r for r in replies if r.status_code == 503]
        assert "gave no answer within 30 s" in busy.json()["error"] and busy.headers["retry-after"] == "1"
        assert wait_until(lambda: not alive(stuck), 30)
        assert wait_until(lambda: httpx.get(server.url + "/healthz", timeout=30).json()["workers"] == 2, 120)
    finally:
        server.stop()


def test_one_worker_is_the_server_process(live_server: Server) -> None:
    assert workers_of(live_server.process.pid) == []  # answered in-process: no hand-off to pay for
    assert httpx.get(live_server.url + "/healthz", timeout=30).json()["workers"] == 1


def test_all_workers_killed_gives_503s_then_answers_again(served_index: Path) -> None:
    server = Server(served_index, "--workers", "2")
    try:
        victims = workers_of(server.process.pid)
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: not any(alive(pid) for pid in victims), 30)
        codes = []
        for question in QUESTIONS:
            response = ask(server, question)
            codes.append(response.status_code)
            assert response.status_code == 200 or (
                response.status_code == 503 and "retry" in response.json()["error"]), response.text[:200]
        assert wait_until(lambda: ask(server, SEED_QUESTION).status_code == 200, 120), codes
        assert wait_until(lambda: len(workers_of(server.process.pid)) == 2, 120)
    finally:
        server.stop()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_no_worker_outlives_the_server(served_index: Path, how: signal.Signals) -> None:
    server = Server(served_index, "--workers", "2")
    try:
        kids = workers_of(server.process.pid)
        assert len(kids) == 2 and ask(server, PARAPHRASE).status_code == 200
        server.process.send_signal(how)
        server.process.wait(timeout=60)
        assert wait_until(lambda: not any(alive(pid) for pid in kids), 60), [p for p in kids if alive(p)]
    finally:
        server.stop()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_index_no_worker_can_open_is_one_sentence(served_index: Path, tmp_path: Path, workers: str) -> None:
    broken = tmp_path / "index"
    shutil.copytree(served_index, broken)
    generation = (broken / "CURRENT").read_text().strip()
    (broken / generation / "vectors.faiss").write_bytes(b"not a faiss index")
    result = run_cli("serve", "--index", str(broken), "--workers", workers, "--port", str(free_port()), timeout=300)
    assert result.returncode == 1
    assert "is corrupt or missing; run `pressroom doctor`" in result.stderr
    assert "Traceback" not in result.stderr
