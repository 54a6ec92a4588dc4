"""Ingest from saved pages and from URLs served on 127.0.0.1: multi-page conferences, failures per source."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from embeddings.errors import PressroomError
from embeddings.fetch import Fetcher
from embeddings.index import Index
from embeddings.ingest import discover, ingest, remove
from embeddings.records import Conference, stable_id
from embeddings.store import Answer
from embeddings.transcripts import read_transcript

from .conftest import DATA, ROOT, SEED, FakeEncoder, copy_sources, repeated_qa, run_cli, tree_digest, write_jsonl

HTML = DATA / "html"
TITLE = "SCIO press conference on promoting high-quality development of foreign trade"
SEED_TITLE = read_transcript(SEED).title


class Handler(SimpleHTTPRequestHandler):
    """Serves tests/data/html; /fail/… answers 500; counts requests per path."""

    requests: Counter[str]

    def do_GET(self) -> None:
        self.requests[self.path] += 1
        if self.path.startswith("/fail/"):
            self.send_error(500, "Internal Server Error")
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path, Counter[str]]]:
    """A local web server on 127.0.0.1 over a private copy of the fixture pages: (base URL, folder, hits)."""
    folder = tmp_path / "site"
    shutil.copytree(HTML, folder)
    requests: Counter[str] = Counter()
    handler = type("Served", (Handler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder, requests
    finally:
        server.shutdown()
        server.server_close()


def fast_fetcher() -> Fetcher:
    return Fetcher(timeout=5, backoff=0)


def answer_of(root: Path, speaker: str, first_words: str) -> Answer:
    index = Index.open(root)
    rows = index.store.db.execute(
        "SELECT t.id FROM turns t JOIN paragraphs p ON p.turn_id = t.id AND p.seq = 0 "
        "WHERE t.speaker = ? AND p.text LIKE ?", (speaker, first_words + "%")).fetchall()
    assert len(rows) == 1, rows
    return index.store.answers([rows[0][0]])[rows[0][0]]


def test_url_ingests_a_three_page_conference_and_links_across_the_page_boundary(
    site: tuple[str, Path, Counter[str]], tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    base, _, requests = site
    root = tmp_path / "ix"
    report = ingest([f"{base}/conference/content_900001.htm"], root, fake_encoder, fetcher=fast_fetcher())
    assert report.ok and report.added == [TITLE] and report.committed
    assert report.files == 4  # three pages of transcript and the photo page, each fetched once
    assert all(n == 1 for n in requests.values()) and len(requests) == 4
    li = answer_of(root, "Li Ming", "Thank you for your question. Overseas warehouses")
    assert li.asked_by == "CCTV" and "overseas warehouses" in li.asked  # the question is on page 1
    assert li.source == f"{base}/conference/content_900001_2.htm"  # the answer is on page 2
    assert li.title == "vice minister of commerce and deputy China international trade representative"
    chen = answer_of(root, "Chen Hong", "Thank you for your question. Attracting")
    assert chen.asked_by == "Bloomberg News" and [p.page for p in chen.paragraphs] == [2, 3]
    assert Index.open(root).store.conferences()[0].sources == 4


def test_any_page_url_brings_the_whole_conference_once(
    site: tuple[str, Path, Counter[str]], tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    base, _, _ = site
    root = tmp_path / "ix"
    first = ingest([f"{base}/conference/content_900001_3.htm"], root, fake_encoder, fetcher=fast_fetcher())
    assert first.added == [TITLE]
    encoded, digest = len(fake_encoder.texts), tree_digest(root)
    again = ingest([f"{base}/conference/content_900001.htm", f"{base}/conference/content_900001_2.htm"], root,
                   fake_encoder, fetcher=fast_fetcher())
    assert again.unchanged == 1 and not again.committed and not again.added and not again.updated
    assert len(fake_encoder.texts) == encoded and tree_digest(root) == digest
    assert Index.open(root).manifest.conferences == 1


def test_changed_page_replaces_the_conference(
    site: tuple[str, Path, Counter[str]], tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    base, folder, _ = site
    root = tmp_path / "ix"
    first = ingest([f"{base}/conference/content_900001.htm"], root, fake_encoder, fetcher=fast_fetcher())
    page = folder / "conference" / "content_900001_2.htm"
    page.write_text(page.read_text("utf-8").replace("in key markets", "in key foreign markets"), "utf-8")
    edited = ingest([f"{base}/conference/content_900001.htm"], root, fake_encoder, fetcher=fast_fetcher())
    assert edited.updated == [TITLE] and edited.encoded == 1 and edited.passages == first.passages


@pytest.mark.parametrize(
    ("path", "message", "tries"),
    [
        ("/conference/content_404404.htm", r"answered HTTP 404 .*; check the address\.", 1),
        ("/fail/content_500.htm", r"could not be fetched \(HTTP 500 Internal Server Error, 3 tries\)", 3),
        ("/desktop/", "does not look like a press-conference transcript", 1),  # a folder listing
    ],
    ids=["404", "500-retried", "no-transcript"],
)
def test_bad_addresses_get_one_sentence_and_good_sources_still_land(
    site: tuple[str, Path, Counter[str]], tmp_path: Path, fake_encoder: FakeEncoder, path: str, message: str,
    tries: int,
) -> None:
    base, _, requests = site
    report = ingest([f"{base}{path}", SEED], tmp_path / "ix", fake_encoder, fetcher=fast_fetcher())
    assert len(report.added) == 1 and report.committed
    [(source, why)] = report.rejected
    assert source == f"{base}{path}" and "\n" not in why
    assert why.startswith(f"{base}{path}")
    assert re.search(message, why), why
    assert requests[path] == tries


def test_unreachable_address(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    fetcher = Fetcher(timeout=2, backoff=0.5, sleep=sleeps.append)
    report = ingest([f"http://127.0.0.1:{port}/content_1.htm"], tmp_path / "ix", fake_encoder, fetcher=fetcher)
    [(_, why)] = report.rejected
    assert why == (f"http://127.0.0.1:{port}/content_1.htm could not be fetched (connection refused, 3 tries); "
                   "check the address and the network connection.")
    assert sleeps == [0.5, 1.0]  # backoff doubles
    assert not report.committed


def test_missing_sibling_page_is_reported_and_the_rest_lands(
    site: tuple[str, Path, Counter[str]], tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    base, folder, _ = site
    (folder / "conference" / "content_900001_4.htm").unlink()
    report = ingest([f"{base}/conference/content_900001.htm"], tmp_path / "ix", fake_encoder,
                    fetcher=fast_fetcher())
    assert report.added == [TITLE]
    [(_, why)] = report.rejected
    assert "content_900001_4.htm answered HTTP 404" in why


def test_saved_pages_of_one_conference_ingest_as_one(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    folder = tmp_path / "saved"
    shutil.copytree(HTML, folder)
    root = tmp_path / "ix"
    report = ingest([folder], root, fake_encoder)
    assert report.ok and report.files == 6
    # mobile and desktop page 7 (two addresses) and the multi-page conference
    assert sorted(report.added) == sorted([TITLE, SEED_TITLE, SEED_TITLE])
    encoded = len(fake_encoder.texts)
    again = ingest([folder], root, fake_encoder)
    assert again.unchanged == 3 and len(fake_encoder.texts) == encoded and not again.committed
    li = answer_of(root, "Li Ming", "Thank you for your question. Overseas warehouses")
    assert li.asked_by == "CCTV" and li.source.endswith("/content_900001_2.htm")
    assert li.path == str(folder / "conference" / "content_900001_2.htm")


@pytest.mark.slow
def test_cli_ingests_a_url_and_answers_across_the_page_boundary(
    site: tuple[str, Path, Counter[str]], tmp_path: Path
) -> None:
    """As a user runs it, with the real model: `pressroom ingest http://127.0.0.1:PORT/…`, then `ask`."""
    base, folder, _ = site
    root = str(tmp_path / "ix")
    result = run_cli("ingest", f"{base}/conference/content_900001_2.htm", "--index", root)
    assert result.returncode == 0, result.stderr
    assert "Conferences in the index: 1 (1 added" in result.stdout and "Traceback" not in result.stderr
    result = run_cli("ask", "How will the ministry support overseas warehouses?", "--index", root, "-k", "1",
                     "--json")
    assert result.returncode == 0, result.stderr
    [top] = json.loads(result.stdout)["answers"]
    assert (top["speaker"], top["asked_by"], top["date"]) == ("Li Ming", "CCTV", "2024-01-16")
    assert top["source"] == f"{base}/conference/content_900001_2.htm"
    page = (folder / "conference" / "content_900001_2.htm").read_text("utf-8")
    assert all(p in page for p in top["paragraphs"])  # verbatim (the fixture has no entities in them)


@pytest.mark.slow
def test_cli_unreachable_url_is_one_sentence(tmp_path: Path) -> None:
    result = run_cli("ingest", "http://127.0.0.1:9/content_1.htm", "--index", str(tmp_path / "ix"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Problem: http://127.0.0.1:9/content_1.htm could not be fetched (connection refused, 3 tries)" \
        in result.stderr



@pytest.mark.slow
@pytest.mark.parametrize(("url", "why"), [("http://[::1", "Invalid port: ':1'"), ("https://", "no host name")],
                         ids=["bad-port", "no-host"])
def test_cli_malformed_url_is_one_sentence(tmp_path: Path, url: str, why: str) -> None:
    result = run_cli("ingest", url, "--index", str(tmp_path / "ix"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"Problem: {url} is not a valid web address ({why}); check it." in result.stderr

# --- incremental guarantees ------------------------------------------------------------------------

QA_LINES = [
    {"date": "2025-03-03", "spokesperson": "Lin Jian", "asked_by": "CCTV", "link": "https://example.org/qa/1",
     "question": "What is your comment on the trade talks?",
     "answer": "We hope the talks will be constructive.\nBoth sides should meet each other halfway on trade."},
    {"date": "2025-03-03", "spokesperson": "Lin Jian", "asked_by": "AFP", "link": "https://example.org/qa/1",
     "question": "Will the foreign minister travel next week?",
     "answer": "We will release information on the trip in due course."},
    {"date": "2025-03-04", "spokesperson": "Mao Ning", "asked_by": "Reuters", "link": "https://example.org/qa/2",
     "question": "How do you view the climate pledge?",
     "answer": "China honours its climate commitments with concrete action."},
]

PASSAGES = 21  # passages of corpus_with_everything: all distinct texts
QUESTIONS = 10  # question keys: one per answer that replied to a question (one question got two answers)


def corpus_with_everything(folder: Path) -> Path:
    """Text transcripts, saved pages of a multi-page conference and a Q&A file, in one folder."""
    shutil.copytree(HTML / "conference", folder / "pages")
    copy_sources(folder, DATA / "no_blank_lines.txt")
    write_jsonl(folder / "qa.jsonl", QA_LINES)
    return folder


def test_reingesting_the_same_sources_changes_nothing(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    folder = corpus_with_everything(tmp_path / "in")
    root = tmp_path / "ix"
    first = ingest([folder], root, fake_encoder)
    assert first.ok and len(first.added) == 5  # seed, another text, pages, two Q&A conferences
    assert first.files == 7 and first.passages_added == first.passages == PASSAGES
    assert first.questions == QUESTIONS and first.encoded == PASSAGES + QUESTIONS - 1  # that question once
    calls, encoded, digest = fake_encoder.calls, len(fake_encoder.texts), tree_digest(root)
    again = ingest([folder], root, fake_encoder)
    assert (again.unchanged, again.added, again.updated, again.committed) == (4, [], [], False)
    assert (again.passages, again.questions) == (first.passages, first.questions)
    assert fake_encoder.calls == calls and len(fake_encoder.texts) == encoded  # no encoder call at all
    assert tree_digest(root) == digest


# An edit in each kind of source: (file in corpus_with_everything, old words, new words, the rest of the paragraph).
EDITS = {
    "text": (SEED.name, "explore new cooperation models", "explore new models",
             " with neighboring regions. Thank you."),
    "page": ("pages/content_900001_3.htm", "hold regular roundtables", "hold roundtables",
             " with foreign chambers of commerce to solve their problems promptly."),
    "qa": ("qa.jsonl", "concrete action", "concrete and steady action", "."),
}


@pytest.mark.parametrize("source", list(EDITS))
def test_editing_one_paragraph_reencodes_one_paragraph(tmp_path: Path, fake_encoder: FakeEncoder,
                                                       source: str) -> None:
    folder = corpus_with_everything(tmp_path / "in")
    root = tmp_path / "ix"
    first = ingest([folder], root, fake_encoder)
    name, old, new, rest = EDITS[source]
    path = folder / name
    path.write_text(path.read_text("utf-8").replace(old, new), "utf-8")
    before = len(fake_encoder.texts)
    edited = ingest([folder], root, fake_encoder)
    assert edited.encoded == 1 and len(fake_encoder.texts) == before + 1
    assert fake_encoder.texts[-1].endswith(new + rest)
    assert edited.passages == first.passages and len(edited.updated) == 1 and edited.unchanged == 3
    assert (edited.passages_added, edited.passages_updated, edited.passages_removed) == (0, 1, 0)
    assert edited.passages_kept == first.passages - 1
    assert f"Passages in the index: {PASSAGES} (0 added, 1 updated, {PASSAGES - 1} unchanged); 0 removed; 1 text " \
        "newly encoded." in edited.summary()


def test_the_summary_says_what_it_counts_and_adds_up(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """Sources (a Q&A file of two conferences is one) are read, unchanged or rejected; conferences and passages in
    the index are added, updated or unchanged. The summary counted files in one place and sources in another."""
    qa = tmp_path / "qa.jsonl"
    rows = [{"date": day, "spokesperson": "Mao Ning", "question": f"What happened on {day}?",
             "answer": f"Talks were held on {day} and both sides agreed to meet again."}
            for day in ("2025-03-03", "2025-03-04")]
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{bad\n", "utf-8")
    shutil.copy(SEED, tmp_path / SEED.name)
    root = tmp_path / "ix"
    first = ingest([qa, tmp_path / SEED.name, tmp_path / "missing.txt"], root, fake_encoder)
    assert first.summary().startswith(
        "Sources: 3 (2 files or pages): 2 read, 0 unchanged, 1 rejected; 2 problems listed below. "
        "Conferences in the index: 3 (3 added, 0 updated, 0 unchanged); 0 removed. "
        f"Passages in the index: {first.passages} ({first.passages} added, 0 updated, 0 unchanged); 0 removed; ")
    write_jsonl(qa, rows[:1])  # one conference left in the file
    again = ingest([qa, tmp_path / SEED.name], root, fake_encoder)
    assert again.summary().startswith(
        "Sources: 2 (2 files or pages): 1 read, 1 unchanged, 0 rejected. "
        "Conferences in the index: 2 (0 added, 0 updated, 2 unchanged); 1 removed. "
        f"Passages in the index: {first.passages - 1} (0 added, 0 updated, {first.passages - 1} unchanged); 1 removed; "
        "0 texts newly encoded. Journalists' questions as keys: ")


def test_remove_takes_a_conference_out_without_encoding(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    folder = corpus_with_everything(tmp_path / "in")
    root = tmp_path / "ix"
    ingest([folder], root, fake_encoder)
    index = Index.open(root)
    target = next(info for info in index.store.conferences() if info.sources == 4)  # the saved pages
    total = index.manifest.passages
    index.close()
    calls = fake_encoder.calls
    titles, left = remove(root, [target.id[:6]])
    assert titles == [TITLE] and left == total - target.passages and fake_encoder.calls == calls
    index = Index.open(root)
    assert target.id not in {info.id for info in index.store.conferences()}
    assert index.manifest.passages == left and index.manifest.conferences == 4
    assert index.vectors.ntotal == index.manifest.count == left + index.manifest.questions
    # Ingesting the folder again brings it back (its pages are new sources again); nothing else changes.
    back = ingest([folder], root, fake_encoder)
    assert back.added == [TITLE] and back.unchanged == 3 and back.passages == total


@pytest.mark.parametrize(("wanted", "named"), [("ffff", "ffff"), ("", ""), ("  ", "")])
def test_remove_of_an_id_none_starts_with_says_what_to_run_and_removes_nothing(
        tmp_path: Path, fake_encoder: FakeEncoder, wanted: str, named: str) -> None:
    # Every id starts with "": `pressroom remove "$ID"` with ID unset must not take out an index's only conference.
    root = tmp_path / "ix"
    ingest([SEED], root, fake_encoder)
    digest = tree_digest(root)
    with pytest.raises(PressroomError,
                       match=rf"^No conference has an id starting with '{named}'; `pressroom list` shows the ids\.$"):
        remove(root, [wanted])
    assert tree_digest(root) == digest


@pytest.mark.slow
def test_cli_remove_and_list(tmp_path: Path) -> None:
    """With the real model's index, as users have one (a fake encoder's index has no backend to match)."""
    root = tmp_path / "ix"
    result = run_cli("ingest", str(SEED), str(DATA / "scio_full_conference.txt"), "--index", str(root))
    assert result.returncode == 0, result.stderr
    listed = json.loads(run_cli("list", "--index", str(root), "--json").stdout)
    assert len(listed) == 2
    result = run_cli("remove", listed[0]["id"], "--index", str(root))
    assert result.returncode == 0, result.stderr
    assert f"Removed: {listed[0]['title']}" in result.stdout
    after = json.loads(run_cli("list", "--index", str(root), "--json").stdout)
    assert [row["id"] for row in after] == [listed[1]["id"]]
    result = run_cli("ask", "Yangtze River Delta", "--index", str(root), "--json")
    assert result.returncode == 0, result.stderr
    assert {a["conference"] for a in json.loads(result.stdout)["answers"]} <= {listed[1]["title"]}
    result = run_cli("remove", "nope", "--index", str(root))
    assert result.returncode == 1 and result.stderr.startswith("Error: No conference has an id starting with 'nope'")


def test_progress_bar_counts_the_texts_encoded_and_changes_no_vector(
    tmp_path: Path, fake_encoder: FakeEncoder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = corpus_with_everything(tmp_path / "in")
    ingest([folder], tmp_path / "quiet", FakeEncoder())
    report = ingest([folder], tmp_path / "bar", fake_encoder, progress=True)
    err = capsys.readouterr().err
    assert "Encoding" in err and f"{report.encoded}/{report.encoded}" in err and " texts" in err
    quiet, bar = Index.open(tmp_path / "quiet"), Index.open(tmp_path / "bar")
    assert np.array_equal(quiet.store.key_vectors(64), bar.store.key_vectors(64))


MFA = ROOT.parent / "shared" / "bench" / "mfa_qa.jsonl"


@pytest.mark.slow
@pytest.mark.skipif(not MFA.exists(), reason="../shared/bench/mfa_qa.jsonl is not beside the project")
def test_foreign_ministry_qa_file_ingests_and_answers_verbatim_with_the_date(tmp_path: Path) -> None:
    """The acceptance run on real pairs: progress bar, summary, then answers in the spokesperson's words."""
    root = str(tmp_path / "ix")
    result = run_cli("ingest", str(MFA), "--index", root, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "Encoding" in result.stderr and "Passages in the index: " in result.stdout and " 0 rejected" in result.stdout
    rows = [json.loads(line) for line in MFA.read_text("utf-8").splitlines() if line.strip()]
    question = next(r for r in rows if r["asked_by"] == "Bloomberg")["question"]
    result = run_cli("ask", question, "--index", root, "--json", "-k", "3")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)["answers"]
    assert answers
    for answer in answers:  # every answer is a spokesperson's own words, with that pair's name and date
        assert any(all(p in r["answer"] for p in answer["paragraphs"]) and r["spokesperson"] == answer["speaker"]
                   and r["date"] == answer["date"] for r in rows)



@pytest.mark.slow
def test_qa_pairs_without_a_link_each_land(tmp_path: Path) -> None:
    """The README's own Q&A format ({"question", "answer", "date"} a line, no link): every pair is kept and found."""
    rows = [{"question": q, "answer": a, "date": "2025-03-03"} for q, a in (
        ("What about trade with Europe?", "Trade with Europe grew steadily this year, by every measure we keep."),
        ("Will the minister travel?", "The foreign minister will visit Brazil and Chile next week."),
        ("What about the climate pledge?", "China honours its climate commitments with concrete action."),
    )]
    qa = write_jsonl(tmp_path / "my_qa.jsonl", rows)
    root = str(tmp_path / "ix")
    result = run_cli("ingest", str(qa), "--index", root)
    assert result.returncode == 0, result.stderr
    assert "Conferences in the index: 3 (3 added, 0 updated" in result.stdout
    listed = run_cli("list", "--index", root, "--json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 3
    for number, row in enumerate(rows, 1):
        result = run_cli("ask", row["question"], "--index", root, "--json", "-k", "1")
        assert result.returncode == 0, result.stderr
        [answer] = json.loads(result.stdout)["answers"]
        assert answer["text"] == row["answer"] and answer["source"] == f"{qa}#{number}"

def test_every_bad_source_gets_its_sentence_and_the_good_ones_land(
    site: tuple[str, Path, Counter[str]], tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    """The acceptance matrix in one run: each bad source is named with why; the rest lands; the index is sound."""
    from embeddings.doctor import check

    base, folder, _ = site
    big = folder / "big"
    big.mkdir()
    with open(big / "content_7.htm", "wb") as f:  # 50 MB served (sparse: nothing is really written)
        f.truncate(50 * 1024 * 1024)
    local = tmp_path / "in"
    local.mkdir()
    shutil.copy(DATA / "no_blank_lines.txt", local)
    for name in ("huge.txt", "huge.html"):
        with open(local / name, "wb") as f:
            f.truncate(50 * 1024 * 1024)
    rows = [json.dumps(QA_LINES[0]), "{not json", json.dumps({"question": "No answer here?"}), json.dumps(QA_LINES[2])]
    (local / "qa.jsonl").write_text("\n".join(rows) + "\n", "utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/content_1.htm"
    urls = [closed, f"{base}/conference/content_404.htm", f"{base}/fail/content_500.htm", f"{base}/desktop/",
            f"{base}/big/content_7.htm", f"{base}/conference/content_900001.htm"]
    root = tmp_path / "ix"
    report = ingest([local, *urls], root, fake_encoder, fetcher=fast_fetcher())
    why = dict(report.rejected)
    assert len(report.rejected) == 9, report.rejected
    assert "could not be fetched (connection refused, 3 tries)" in why[closed]
    assert "answered HTTP 404" in why[f"{base}/conference/content_404.htm"]
    assert "HTTP 500 Internal Server Error, 3 tries" in why[f"{base}/fail/content_500.htm"]
    assert "does not look like a press-conference transcript" in why[f"{base}/desktop/"]
    assert why[f"{base}/big/content_7.htm"].endswith("is 52 MB; pages over 20 MB are refused.")
    assert "is 52 MB; transcripts over 20 MB are refused" in why[str(local / "huge.txt")]
    assert "is 52 MB; pages over 20 MB are refused" in why[str(local / "huge.html")]
    qa_problems = [w for s, w in report.rejected if s == str(local / "qa.jsonl")]
    assert qa_problems == [f"{local / 'qa.jsonl'} line 2 is not JSON (Expecting property name enclosed in double "
                           "quotes).", f"{local / 'qa.jsonl'} line 3 has no answer (its keys: question); each line "
                           'needs a "question" and an "answer" with text.']
    assert all("\n" not in w for w in why.values())
    # The good ones landed: the text, both Q&A pairs (two conferences) and the three-page conference.
    assert report.added.count("Regular press conference") == 2 and TITLE in report.added
    assert len(report.added) == 4 and report.committed
    assert check(root) is None  # the index loads and its parts agree


# --- repeated answers --------------------------------------------------------------------------------

def test_repeated_answers_are_one_passage_with_the_other_dates(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    from assistant.cli import _format_hit
    from assistant.retrieval import Retriever

    root = tmp_path / "ix"
    report = ingest([repeated_qa(tmp_path / "in")], root, fake_encoder)
    assert report.passages == 2 + 2 + 1  # Lin Jian's words once, Mao Ning's once, the other answer
    retriever = Retriever(Index.open(root), fake_encoder)
    hits = retriever.search("Taiwan question internal affair external interference", 5)
    lin = [h for h in hits if h.answer.speaker == "Lin Jian" and "Taiwan" in h.answer.text]
    assert len(lin) == 1  # shown once
    shown = lin[0].answer
    assert shown.date.isoformat() == "2025-03-05" and shown.asked_by == "AFP"  # the latest saying
    assert [d.isoformat() for d in shown.also] == ["2025-01-10", "2025-03-03"]
    assert lin[0].to_json()["also"] == ["2025-01-10", "2025-03-03"]
    assert "also said on 2025-01-10, 2025-03-03" in _format_hit(1, lin[0])
    mao = [h for h in hits if h.answer.speaker == "Mao Ning"]
    assert len(mao) == 1 and mao[0].answer.also == ()  # the same words by another official stay apart
    retriever.close()


def test_removing_the_latest_saying_shows_the_one_before(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    from assistant.retrieval import Retriever

    root = tmp_path / "ix"
    ingest([repeated_qa(tmp_path / "in")], root, fake_encoder)

    def shown_after_removing(day: str) -> Answer:
        remove(root, [stable_id(f"https://example.org/qa/{day}/Lin Jian")], fake_encoder)
        retriever = Retriever(Index.open(root), FakeEncoder())  # the question's vector is not counted
        [answer] = [h.answer for h in retriever.search("Taiwan internal affair", 5)
                    if h.answer.speaker == "Lin Jian" and "Taiwan" in h.answer.text]
        retriever.close()
        return answer

    encoded = len(fake_encoder.texts)
    shown = shown_after_removing("2025-03-05")
    assert shown.date.isoformat() == "2025-03-03" and [d.isoformat() for d in shown.also] == ["2025-01-10"]
    assert len(fake_encoder.texts) == encoded  # the same texts: vectors from the cache
    shown = shown_after_removing("2025-03-03")
    assert shown.date.isoformat() == "2025-01-10" and shown.also == ()
    assert fake_encoder.texts[encoded:] == ["The Taiwan question is purely  China's internal affair."]  # spaced apart


def test_a_removed_conference_of_a_qa_file_comes_back_when_the_file_is_ingested_again(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    """One Q&A file holds several conferences: removing one must not leave the file 'unchanged' for good."""
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps({"question": f"What about topic {n}?", "answer": f"On topic {n} we will act "
                                        "firmly and keep our word to all partners.", "spokesperson": "Mao Ning",
                                        "date": f"2024-05-1{n}", "link": f"https://example.org/{n}"})
                            for n in (1, 2)) + "\n", encoding="utf-8")
    root = tmp_path / "ix"
    ingest([qa], root, fake_encoder)
    index = Index.open(root)
    infos = index.store.conferences()
    index.close()
    assert len(infos) == 2
    remove(root, [infos[0].id])
    back = ingest([qa], root, fake_encoder)
    assert back.added == [infos[0].title] and back.updated == [] and back.unchanged == 0
    index = Index.open(root)
    assert {info.id for info in index.store.conferences()} == {info.id for info in infos}
    index.close()


def test_rebuild_reports_against_the_index_it_replaces(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """--rebuild re-encodes everything, but a conference that was there and still is was not 'added': the
    summary compares with the live index, so its counts add up (before + added - removed = after)."""
    root = tmp_path / "ix"
    first = ingest([SEED, DATA / "scio_full_conference.txt"], root, fake_encoder)
    seed_passages = ingest([SEED], tmp_path / "seed-only", fake_encoder).passages
    report = ingest([SEED, DATA / "no_blank_lines.txt"], root, fake_encoder, rebuild=True)
    assert len(report.added) == 1 and report.updated == [] and len(report.removed) == 1
    assert report.passages_before == first.passages and report.passages_kept == seed_passages
    assert report.passages_before + report.passages_added - report.passages_removed == report.passages


def test_a_page_saved_as_text_and_as_html_is_one_conference_and_then_unchanged(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    """The shipped transcript and its saved page are the same conference: reported once, and skipped as unchanged
    on the next ingest (each read used to drop the other's hash, so both were re-read and 'updated' every time)."""
    html = ROOT / "tests" / "data" / "html" / "mobile" / "content_117111081_7.htm"
    root = tmp_path / "ix"
    first = ingest([SEED, html], root, fake_encoder)
    assert len(first.added) == 1 and first.updated == [] and first.passages == 5
    again = ingest([SEED, html], root, fake_encoder)
    assert again.unchanged == 2 and again.added == again.updated == [] and not again.committed


def test_a_file_without_a_source_address_keeps_its_id_however_its_path_is_written(
        tmp_path: Path, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ingest energy.txt` in its folder, then `ingest /abs/…/energy.txt` after an edit: one conference updated,
    with one id, not one removed and another added (its id came from the path as typed, so did its source)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    path = folder / "user.txt"
    shutil.copy(DATA / "user_transcript.txt", path)
    root = tmp_path / "ix"
    monkeypatch.chdir(folder)
    first = ingest(["user.txt"], root, fake_encoder)
    before = _only_conference(root)
    path.write_text(path.read_text("utf-8").replace("Now the floor is open", "The floor is now open"), "utf-8")
    monkeypatch.chdir(tmp_path)
    edited = ingest([str(path)], root, fake_encoder)
    after = _only_conference(root)
    assert first.ok and edited.ok and (edited.added, edited.removed) == ([], []) and len(edited.updated) == 1
    assert after.id == before.id and after.source == str(path)


def _only_conference(root: Path) -> Conference:
    idx = Index.open(root)
    try:
        (row,) = idx.store.conferences()
        return idx.store.find(row.id)
    finally:
        idx.close()


def test_a_document_beside_transcripts_is_named_not_skipped_in_silence(tmp_path: Path) -> None:
    """A folder of .txt transcripts and one kept as .docx: the .txt are read, the .docx is reported with what to do
    (it used to be passed over without a word, so its conference was missing with exit status 0)."""
    folder = copy_sources(tmp_path / "mine")
    (folder / "briefing.docx").write_bytes(b"PK\x03\x04")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8")
    files, problems = discover([folder])
    assert files == [folder / SEED.name]
    assert problems == [(str(folder / "briefing.docx"), f"{folder / 'briefing.docx'} is a .docx document, which "
                         "ingest cannot read; save it as plain text (.txt) and ingest that.")]


def test_a_page_saved_complete_by_a_browser_is_read_without_its_files_folder(
        tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """"Save page as… complete" writes `<page>_files/` beside the page, with frames and widgets as .html: they are
    the page's parts, not transcripts, and used to be rejected one by one (exit status 1)."""
    folder = tmp_path / "saved"
    parts = folder / "content_117111081_7_files"
    parts.mkdir(parents=True)
    shutil.copy(HTML / "mobile" / "content_117111081_7.htm", folder)
    (parts / "share.html").write_text("<html><body><div>Share to WeChat</div></body></html>", "utf-8")
    (parts / "style.css").write_text("body {}", "utf-8")
    (folder / "notes_files").mkdir()  # no page of that name beside it: still read
    shutil.copy(DATA / "user_transcript.txt", folder / "notes_files")
    report = ingest([folder], tmp_path / "ix", fake_encoder)
    assert report.ok, report.rejected
    assert len(report.added) == 2 and report.files == 2


def test_a_qa_line_with_other_keys_says_which_keys_are_needed(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """{"q": …, "a": …} is a newcomer's guess at the format: the sentence names the keys it has and the ones needed."""
    path = tmp_path / "mine.jsonl"
    path.write_text('{"q": "Any comment?", "a": "No comment."}\n', "utf-8")
    report = ingest([path], tmp_path / "ix", fake_encoder)
    assert report.rejected == [(str(path), f'{path} line 1 has no answer or question (its keys: q, a); each line '
                                           'needs a "question" and an "answer" with text.')]


@pytest.mark.parametrize(("name", "why"), [
    ("qa.json", "is not read: Q&A pairs go in a .jsonl file, one JSON object a line."),
    ("page.mhtml", 'is a web archive, which ingest cannot read; save the page as "Webpage, HTML only" (.htm).'),
    (SEED.name + ".meta.json", f"is a sidecar; ingest the transcript beside it ({SEED.name})."),
])
def test_a_file_of_another_kind_says_what_to_give_instead(tmp_path: Path, name: str, why: str) -> None:
    path = tmp_path / name
    path.write_text("{}", "utf-8")
    assert discover([path]) == ([], [(str(path), f"{path} {why}")])


def test_pages_saved_under_their_titles_are_still_one_conference(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """A browser names a saved page by its title ("…_SCIO (2).htm"), not content_<id>_2.htm: the pages' own address
    (canonical link, og:url) groups them, so the question ending page 1 still links to its answer on page 2
    (they were three conferences and a rejected photo page)."""
    folder = tmp_path / "saved"
    folder.mkdir()
    for number, page in enumerate(sorted((HTML / "conference").glob("*.htm")), 1):
        shutil.copy(page, folder / f"SCIO press conference on foreign trade_SCIO ({5 - number}).htm")
    report = ingest([folder], tmp_path / "ix", fake_encoder)
    assert report.ok, report.rejected
    assert report.added == [TITLE] and report.files == 4
    li = answer_of(tmp_path / "ix", "Li Ming", "Thank you for your question. Overseas warehouses")
    assert li.asked_by == "CCTV" and li.source.endswith("/content_900001_2.htm")


@pytest.mark.slow
def test_a_conference_with_only_short_answers_is_a_problem_of_the_summary(tmp_path: Path) -> None:
    """Answers of fewer than three words are not passages: a conference of only those is stored, unsearchable,
    and the summary says so in one line naming it, rather than nothing at all."""
    folder = tmp_path / "in"
    folder.mkdir()
    short = folder / "short.txt"
    short.write_text("Press conference on short replies\n\nSpeakers:\nMr. Gu Jun, spokesperson of the city\n\n"
                     "China Daily:\nWill the new port open this year?\n\nGu Jun:\nYes.\n", "utf-8")
    shutil.copy(DATA / "user_transcript.txt", folder)
    result = run_cli("ingest", str(folder), "--index", str(tmp_path / "ix"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "2 read, 0 unchanged, 0 rejected; 1 problem listed below." in result.stdout
    assert "(2 added, 0 updated, 0 unchanged)" in result.stdout
    assert [line for line in result.stderr.splitlines() if line.startswith("Problem:")] == [
        f'Problem: "Press conference on short replies" ({short}) is stored with no passage: none of its answers '
        "has 3 words or more, so `pressroom ask` cannot return it."]


def test_a_qa_file_with_no_readable_pair_is_rejected_and_changes_nothing(tmp_path: Path,
                                                                         fake_encoder: FakeEncoder) -> None:
    """A Q&A file none of whose lines is a pair replaces nothing: its earlier conferences stay, no generation is
    written, and it counts as rejected (it was 'read', and a new generation published the same content)."""
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Will the port open this year?",
                                             "answer": "The port will open in June, as planned by the city.",
                                             "date": "2024-05-01"}])
    root = tmp_path / "ix"
    ingest([SEED, qa], root, fake_encoder)
    digest = tree_digest(root)
    qa.write_text('{"q": 1}\n{not json\n', "utf-8")
    report = ingest([SEED, qa], root, fake_encoder)
    assert (report.read, report.unchanged, report.sources_rejected) == (0, 1, 1)
    assert [why for _, why in report.rejected] == [
        f'{qa} line 1 has no answer or question (its keys: q); each line needs a "question" and an "answer" with '
        "text.", f"{qa} line 2 is not JSON (Expecting property name enclosed in double quotes)."]
    assert not report.committed and tree_digest(root) == digest
