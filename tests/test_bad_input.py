"""The bad-input matrix for the command line: one row per case, each with a clear outcome and the index untouched.

Every row runs `pressroom` in a subprocess, as a user would. A question that is odd but legitimate (emoji, RTL
marks, HTML, SQL-looking text) is answered like any other; a question or transcript that cannot be used gets one
plain sentence on stderr and exit status 1 — never a traceback — and the index folder is byte-for-byte unchanged.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import DATA, PARAPHRASE, ROOT, SEED, copy_sources, run_cli, tree_digest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = copy_sources(tmp_path_factory.mktemp("matrix"))
    result = run_cli("ingest", str(folder), "--index", str(folder / "index"))
    assert result.returncode == 0, result.stderr
    return folder / "index"


def ask_bytes(index: Path, stdin: bytes, *extra: str) -> subprocess.CompletedProcess[bytes]:
    """`pressroom ask -` with raw bytes on stdin (argv cannot carry NUL bytes or invalid UTF-8)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    return subprocess.run([sys.executable, "-m", "assistant.cli", "ask", "-", "--index", str(index), *extra],
                          input=stdin, capture_output=True, env=env, cwd=ROOT, timeout=300)


SOURCE_TEXT = SEED.read_text(encoding="utf-8")

# Questions that must be answered normally: (stdin bytes, extra flags).
ANSWERED = {
    "control-characters": (b"Shanghai\x07 \x1b[31mtrade\x1b[0m \x08plans", ()),
    "nul-bytes": (b"How will Shanghai\x00 lead the\x00 Yangtze River Delta?", ()),
    "lone-surrogate": (b"Yangtze River Delta \xed\xa0\x80 integration", ()),
    "rtl-marks": ("\u202eHow will Shanghai lead\u202c the \u200fYangtze River Delta?".encode(), ()),
    "emoji": ("🚢 What about the Yangtze River Delta? 🌏🇨🇳".encode(), ()),
    "non-utf8-bytes": (b"Yangtze \xff\xfe\xfa River Delta \xc3\x28 integration", ()),
    "html-injection": (b"<img src=x onerror=alert(1)><script>alert(1)</script> Yangtze River Delta", ()),
    "markdown-injection": (b"[x](javascript:alert(1)) **Yangtze** River Delta", ()),
    "sql-looking": (b"'; DROP TABLE turns; -- Yangtze River Delta OR 1=1", ()),
    "k-max": (PARAPHRASE.encode(), ("-k", "50")),
}


@pytest.mark.parametrize("case", list(ANSWERED))
def test_odd_but_legitimate_questions_are_answered_verbatim(index: Path, case: str) -> None:
    before = tree_digest(index)
    stdin, extra = ANSWERED[case]
    result = ask_bytes(index, stdin, "--json", *extra)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    reply = json.loads(result.stdout)
    for answer in reply["answers"]:
        assert all(p in SOURCE_TEXT for p in answer["paragraphs"])
    assert tree_digest(index) == before


# Questions that must be refused: (stdin bytes, extra flags, the sentence on stderr).
REFUSED = {
    "empty": (b"", (), "The question is empty"),
    "whitespace": (" \t\r\n \u3000".encode(), (), "The question is empty"),
    "only-control-characters": (b"\x00\x01\x02\x7f", (), "The question is empty"),
    "100kB": (b"y" * 100_000, (), "characters long; the limit is 2,000"),
    "10MB": (b"Shanghai " * 1_200_000, (), "characters long; the limit is 2,000"),
    "k-zero": (PARAPHRASE.encode(), ("-k", "0"), "k must be between 1 and 50 (got 0)"),
    "k-negative": (PARAPHRASE.encode(), ("-k", "-1"), "k must be between 1 and 50 (got -1)"),
    "k-huge": (PARAPHRASE.encode(), ("-k", str(10**9)), "k must be between 1 and 50 (got 1000000000)"),
    "k-text": (PARAPHRASE.encode(), ("-k", "abc"), "must be a whole number"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unusable_questions_get_one_sentence(index: Path, case: str) -> None:
    before = tree_digest(index)
    stdin, extra, message = REFUSED[case]
    result = ask_bytes(index, stdin, *extra)
    stderr = result.stderr.decode()
    assert result.returncode == 1 and result.stdout == b""
    assert message in stderr and "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    assert tree_digest(index) == before


def test_unknown_option_is_named(index: Path) -> None:
    result = run_cli("ask", PARAPHRASE, "--index", str(index), "--frobnicate", "1")
    assert result.returncode == 2 and "No such option '--frobnicate'" in result.stderr
    assert "Traceback" not in result.stderr


def _write(name: str, content: bytes | Callable[[Path], None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
        return path

    return make


def _fifty_megabytes(path: Path) -> None:
    block = ("Gu Jun:\n" + "The Yangtze River Delta is one of the most vibrant regions. " * 40 + "\n\n").encode()
    with path.open("wb") as out:
        for _ in range(50 * 1024 * 1024 // len(block) + 1):
            out.write(block)


SEED_BYTES = SEED.read_bytes()


def _with_sidecar(sidecar: str) -> Callable[[Path], Path]:
    """The seed transcript beside a sidecar ``<file>.meta.json`` holding ``sidecar``."""
    def make(folder: Path) -> Path:
        (folder / "page.txt.meta.json").write_text(sidecar, "utf-8")
        return _write("page.txt", SEED_BYTES)(folder)

    return make


# Transcripts that must be refused, with the sentence naming the problem.
REJECTED = {
    "empty-file": (_write("empty.txt", b""), "is empty"),
    "whitespace-file": (_write("blank.txt", b"\n \n\t\n"), "is empty"),
    "binary": (_write("binary.txt", bytes(range(256)) * 64), "is a binary file"),
    "gzip": (_write("page.txt", gzip.compress(SEED_BYTES)), "is gzip-compressed; decompress it first"),
    "50MB": (_write("huge.txt", _fifty_megabytes), "are refused (split it into pages)"),
    "windows-1252": (_write("cp1252.txt", SEED.read_text().replace("'", "\u2019").encode("cp1252", "replace")),
                     "is not UTF-8 text (byte 0x"),
    "no-speaker-lines": (lambda folder: Path(shutil.copy(DATA / "no_speakers.txt", folder)), "has no speaker lines"),
    "missing-path": (lambda folder: folder / "nope.txt", "does not exist"),
    "sidecar-a-number": (_with_sidecar("5"), "page.txt.meta.json must be a JSON object of metadata"),
    "sidecar-null": (_with_sidecar("null"), "page.txt.meta.json must be a JSON object of metadata"),
    "sidecar-a-list": (_with_sidecar('[{"title": "x"}]'), "page.txt.meta.json must be a JSON object of metadata"),
    "sidecar-title-a-list": (_with_sidecar('{"title": ["x"]}'), "page.txt.meta.json: title must be text (got list)"),
    "no-transcripts-in-folder": (lambda folder: _write("slides.png", b"\x89PNG")(folder).parent,
                                 "No transcripts found under"),
    "pdf": (_write("notes.pdf", b"%PDF-1.4"), "notes.pdf is a .pdf document, which ingest cannot read; save it as "
                                              "plain text (.txt) and ingest that."),
    "docx-in-a-folder": (lambda folder: _write("Notes.DOCX", b"PK\x03\x04")(folder).parent,
                         "Notes.DOCX is a .docx document, which ingest cannot read; save it as plain text"),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_unusable_transcripts_are_rejected_and_the_index_is_unchanged(index: Path, tmp_path: Path,
                                                                       case: str) -> None:
    before = tree_digest(index)
    make, message = REJECTED[case]
    result = run_cli("ingest", str(make(tmp_path)), "--index", str(index))
    assert result.returncode == 1, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
    assert tree_digest(index) == before


def _answers(index: Path, question: str) -> list[dict]:
    result = run_cli("ask", question, "--index", str(index), "--json", "-k", "50")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["answers"]


# Transcripts that look unusual but are real transcripts: read exactly like the UTF-8 original.
ACCEPTED = {
    "utf-16-with-bom": lambda: SEED.read_text().encode("utf-16"),
    "utf-8-with-bom": lambda: b"\xef\xbb\xbf" + SEED_BYTES,
    "crlf-line-ends": lambda: SEED_BYTES.replace(b"\n", b"\r\n"),
    "all-caps-speaker-lines": lambda: re.sub(r"(?m)^([A-Z][A-Za-z .]+):[ \t]*$", lambda m: m[1].upper() + ":",
                                             SEED.read_text()).encode(),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_unusual_but_valid_transcripts_give_the_same_answers(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "page.txt").write_bytes(ACCEPTED[case]())
    result = run_cli("ingest", str(folder), "--index", str(tmp_path / "index"))
    assert result.returncode == 0, result.stderr
    answers = _answers(tmp_path / "index", PARAPHRASE)
    source = SEED.read_text()
    assert answers and all(p in source for a in answers for p in a["paragraphs"])
    assert any(a["asked_by"] and a["asked_by"].lower() == "southern metropolis daily" for a in answers)
    assert {a["speaker"].lower() for a in answers} >= {"gu jun"}
