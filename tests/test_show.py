"""`pressroom show`: a conference's turns as the product reads them, on real indexes built with the real model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from embeddings.errors import PressroomError
from embeddings.index import Index
from embeddings.records import Kind, Role
from embeddings.transcripts import read_transcript

from .conftest import DATA, SEED, SEED_QUESTION, FakeEncoder, repeated_qa, run_cli, write_jsonl

pytestmark = pytest.mark.slow

HANDOFF = "This question goes to Mr. Gu."
ANSWER_START = "Thank you for your question. As we all know, the Yangtze River Delta"
ANSWER_END = "explore new cooperation models with neighboring regions. Thank you."  # past the first 200 characters


def show(index: Path, *args: str) -> str:
    result = run_cli("show", *args, "--index", str(index))
    assert result.returncode == 0, result.stderr
    return result.stdout


def turn_blocks(output: str) -> list[str]:
    """The printed turns, one block each (they start with '#<number> ')."""
    return [block for block in output.split("\n\n") if block.startswith("#")]


def test_seed_turns_as_read(real_index: Path) -> None:
    out = show(real_index, "five centers")
    assert out.startswith("SCIO press conference on focusing on the 'five centers' initiative of Shanghai")
    assert "held 2024-03-28  published 2024-04-08" in out
    assert "page 7: http://english.scio.gov.cn/m/pressroom/2024-04/08/content_117111081_7.htm" in out
    question, handoff, answer = turn_blocks(out)
    assert question.startswith("#1 [never] journalist's question — Southern Metropolis Daily [journalist, "
                               "outlet: Southern Metropolis Daily]")
    assert handoff.startswith("#2 [never] hand-off in reply to #1 — Gong Zheng [official]") and HANDOFF in handoff
    assert answer.startswith("#3 [ask]   official's answer in reply to #1 — Gu Jun [official]")
    assert ANSWER_START in " ".join(answer.split()) and ANSWER_END not in " ".join(answer.split())


def test_full_prints_whole_paragraphs(real_index: Path) -> None:
    out = " ".join(show(real_index, "five centers", "--full").split())
    assert ANSWER_END in out and " … " not in out
    assert " ".join(SEED_QUESTION.split()) in out


def test_json_shape(real_index: Path) -> None:
    data = json.loads(show(real_index, "five centers", "--json"))
    assert set(data) == {"id", "title", "date", "held", "published", "sources", "turns"}
    assert (data["date"], data["held"], data["published"]) == ("2024-03-28", "2024-03-28", "2024-04-08")
    assert data["sources"][0]["page"] == 7 and data["sources"][0]["url"].endswith("content_117111081_7.htm")
    question, handoff, answer = data["turns"]
    assert set(question) == {"number", "speaker", "title", "outlet", "role", "kind", "in_reply_to", "returnable",
                             "page", "paragraphs"}
    assert (question["number"], question["kind"], question["outlet"], question["returnable"]) == (
        1, "question", "Southern Metropolis Daily", False)
    assert question["paragraphs"] == [SEED_QUESTION]
    assert (handoff["speaker"], handoff["kind"], handoff["in_reply_to"], handoff["returnable"]) == (
        "Gong Zheng", "handoff", 1, False)
    assert handoff["paragraphs"][0].endswith(HANDOFF)
    assert (answer["speaker"], answer["kind"], answer["in_reply_to"], answer["returnable"]) == (
        "Gu Jun", "answer", 1, True)
    # Verbatim and whole even without --full: every paragraph is a piece of the transcript.
    assert len(answer["paragraphs"]) == 5 and all(p in SEED.read_text("utf-8") for p in answer["paragraphs"])
    listed = json.loads(run_cli("list", "--index", str(real_index), "--json").stdout)
    assert [row["id"] for row in listed if row["title"] == data["title"]] == [data["id"]]


@pytest.mark.parametrize("prefix", [False, True], ids=["whole id", "upper-case prefix"])
def test_an_id_or_its_start_names_a_conference(real_index: Path, prefix: bool) -> None:
    """As `pressroom remove` takes them: the start of an id, in either case, is enough when only one id starts so."""
    listed = json.loads(run_cli("list", "--index", str(real_index), "--json").stdout)
    for row in listed:
        wanted = row["id"][:8].upper() if prefix else row["id"]
        assert json.loads(show(real_index, wanted, "--json"))["title"] == row["title"]


def test_an_ambiguous_id_prefix_is_one_sentence_naming_them(tmp_path: Path, fake_encoder) -> None:
    """The error of an ambiguous title; `remove` looks ids up the same way, but never by title."""
    from embeddings.ingest import ingest, remove

    # 17 conferences: two ids share a first hex digit; the titles hold none ("Tour g" … "Tour w").
    pairs = [{"title": f"Tour {chr(ord('g') + i)}", "spokesperson": "Mao Ning", "question": f"What about item {i}?",
              "answer": f"Item {i} is going well and we will keep working on it."} for i in range(17)]
    assert ingest([write_jsonl(tmp_path / "qa.jsonl", pairs)], tmp_path / "index", fake_encoder).ok
    index = Index.open(tmp_path / "index")
    try:
        ids = [info.id for info in index.store.conferences()]
        digit = next(d for d in "0123456789abcdef" if sum(i.startswith(d) for i in ids) > 1)
        shared = [i for i in ids if i.startswith(digit)]
        with pytest.raises(PressroomError, match=f"^'{digit}' matches {len(shared)} conferences: ") as caught:
            index.store.find(digit)
        assert all(f"{i} (Tour " in str(caught.value) for i in shared)
        assert str(caught.value).endswith("; give one of these ids or more of the title.")
    finally:
        index.close()
    # remove takes no titles, so its sentence asks for no more of one
    with pytest.raises(PressroomError, match=rf"^'{digit}' matches {len(shared)} conferences: .*; give one of these "
                                             r"ids, whole or a longer start\.$"):
        remove(tmp_path / "index", [digit])
    with pytest.raises(PressroomError, match=r"^No conference has an id starting with 'Tour g'"):
        remove(tmp_path / "index", ["Tour g"])


@pytest.mark.parametrize(("wanted", "message"), [
    ("SCIO", "'SCIO' matches 2 conferences: "),
    ("no such conference", "No conference has the id or a title containing 'no such conference'; "
                           "`pressroom list` shows the indexed conferences."),
])
def test_ambiguous_or_unknown_is_one_sentence(real_index: Path, wanted: str, message: str) -> None:
    result = run_cli("show", wanted, "--index", str(real_index))
    assert result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: " + message) and result.stderr.count("\n") == 1
    if "matches" in message:  # each match named by id and title
        for row in json.loads(run_cli("list", "--index", str(real_index), "--json").stdout):
            assert (f"{row['id']} ({row['title']}, {row['date']})" in result.stderr) == row["title"].startswith("SCIO")


def test_stored_turns_are_the_parsed_turns(real_index: Path) -> None:
    """What show prints is what ingest stored, read back unchanged (only the declared speakers are not kept)."""
    index = Index.open(real_index)
    try:
        parsed = read_transcript(SEED)
        stored = index.store.find(parsed.title)
        assert stored.turns == parsed.turns and stored.id == parsed.id
        assert replace(parsed, pages=stored.pages, speakers={}) == stored
        with pytest.raises(PressroomError, match="matches 3 conferences"):
            index.store.find("press conference")
    finally:
        index.close()


@pytest.fixture(scope="module")
def user_index(tmp_path_factory: pytest.TempPathFactory, real_encoder) -> Path:
    """The transcript with many label forms, indexed alone with the real model."""
    from embeddings.ingest import ingest

    folder = tmp_path_factory.mktemp("user")
    report = ingest([DATA / "user_transcript.txt"], folder / "index", real_encoder)
    assert report.ok
    return folder / "index"


def test_user_transcript_roles(user_index: Path) -> None:
    turns = json.loads(show(user_index, "digital economy", "--json"))["turns"]
    by_start = {t["paragraphs"][0][:40]: t for t in turns}
    chair = by_start["Ladies and gentlemen, good morning. Welc"]
    assert (chair["role"], chair["kind"], chair["returnable"]) == (Role.MODERATOR, Kind.REMARKS, False)
    xinhua = by_start["What progress has been made in building "]
    assert (xinhua["kind"], xinhua["outlet"]) == (Kind.QUESTION, "Xinhua News Agency")
    handoff = by_start["This question goes to Mr. Liu Liehong."]
    assert (handoff["kind"], handoff["in_reply_to"], handoff["returnable"]) == (Kind.HANDOFF, xinhua["number"], False)
    interpreter = by_start["The head of the administration said the "]
    assert (interpreter["role"], interpreter["returnable"]) == (Role.INTERPRETER, False)
    zhang = by_start["Yes. Foreign-invested enterprises regist"]
    assert (zhang["speaker"], zhang["title"], zhang["kind"], zhang["returnable"]) == (
        "Zhang Hong", "deputy head of the National Data Administration", Kind.ANSWER, True)
    assert turns[zhang["in_reply_to"] - 1]["outlet"] == "Reuters"
    out = show(user_index, "digital economy")
    assert "#5 [never] interpreter's note — Interpreter [interpreter]" in out
    assert "[never] chairperson's remarks — Xi Yanchun [moderator]" in out


def test_a_whole_title_names_its_conference(tmp_path: Path, fake_encoder, monkeypatch) -> None:
    """A title that another title contains still names one conference; part of both is ambiguous (matching only)."""
    from embeddings.ingest import ingest

    text = (DATA / "no_blank_lines.txt").read_text("utf-8")
    title = "Press conference on the winter tourism season"
    assert title in text
    for name, new_title in (("a.txt", title), ("b.txt", title + " (continued)")):
        (tmp_path / name).write_text(text.replace(title, new_title), "utf-8")
    assert ingest([tmp_path / "a.txt", tmp_path / "b.txt"], tmp_path / "index", fake_encoder).ok
    index = Index.open(tmp_path / "index")
    try:
        assert index.store.find(title.upper()).title == title
        assert index.store.find(title + " (continued)").title == title + " (continued)"
        with pytest.raises(PressroomError, match="'winter tourism' matches 2 conferences") as caught:
            index.store.find("winter tourism")
        assert " more;" not in str(caught.value)
        monkeypatch.setattr("embeddings.store.SHOWN_MATCHES", 1)  # a word that matches more than are listed
        with pytest.raises(PressroomError, match=r"matches 2 conferences: \w+ \(Press conference on the winter "
                           r"tourism season[^;]*\) and 1 more; give one of these ids or more of the title\."):
            index.store.find("winter tourism")
    finally:
        index.close()


def test_several_matches_are_told_apart_by_day(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """An archive's Q&A days are all "Regular press conference": the ids listed in the error carry their day, or
    the sentence gave 1,357 identical titles to choose from."""
    from embeddings.ingest import ingest

    ingest([repeated_qa(tmp_path / "qa")], tmp_path / "ix", fake_encoder)
    index = Index.open(tmp_path / "ix")
    try:
        with pytest.raises(PressroomError, match="matches 5 conferences") as caught:
            index.store.find("regular")
        for day in ("2025-01-10", "2025-03-03", "2025-03-04", "2025-03-05"):
            assert f"(Regular press conference, {day})" in str(caught.value)
    finally:
        index.close()
