"""Index mechanics with a deterministic fake encoder: build, reopen, cache, manifest checks, atomicity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest

from embeddings.errors import IndexProblem
from embeddings.index import CURRENT, MANIFEST, VECTORS, Index, IndexWriter
from embeddings.ingest import ingest
from embeddings.keywords import KeywordIndex
from embeddings.records import Kind
from embeddings.store import QUESTION_KEY

from .conftest import DATA, FakeEncoder, copy_sources, repeated_qa, tree_digest, write_jsonl


def test_build_and_reopen(corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    report = ingest([corpus], tmp_path / "ix", fake_encoder)
    assert report.ok and len(report.added) == 2 and report.committed
    index = Index.open(tmp_path / "ix", model=fake_encoder.name)
    assert index.manifest.count == index.vectors.ntotal == report.passages + report.questions
    assert index.manifest.questions == report.questions > 0 and index.manifest.passages == report.passages
    assert index.manifest.model == "fake-bow-64" and index.manifest.dim == 64
    # Only answers and statements are keys: no question, hand-off or remark is ever a vector.
    kinds = {row[0] for row in index.store.db.execute(
        "SELECT DISTINCT t.kind FROM keys k JOIN turns t ON t.id = k.turn_id")}
    assert kinds <= {Kind.ANSWER.value, Kind.STATEMENT.value}
    # FAISS row i is the stored vector of key i.
    stored = index.store.key_vectors(64)
    assert np.allclose(stored[3], index.vectors.reconstruct(3))


def test_key_table_equals_the_keys_in_sqlite(corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """The in-memory key table answers what the SQL queries it replaced answered, question keys included."""
    ingest([corpus], tmp_path / "ix", fake_encoder)
    store = Index.open(tmp_path / "ix", model=fake_encoder.name).store
    db = store.db
    rows = db.execute("SELECT pos, turn_id, paragraph FROM keys ORDER BY pos").fetchall()
    assert any(para == QUESTION_KEY for _, _, para in rows) and any(para >= 0 for _, _, para in rows)
    positions = [pos for pos, _, _ in rows][::-1]  # any order
    assert store.keys_at(positions) == {pos: (tid, para) for pos, tid, para in rows}
    turns = [*sorted({tid for _, tid, _ in rows}), "no-such-turn"]
    expected: dict[str, list[tuple[int, int]]] = {}
    for tid, pos, para in db.execute("SELECT turn_id, pos, paragraph FROM keys WHERE asked IS NULL ORDER BY pos"):
        expected.setdefault(tid, []).append((pos, para))
    assert store.paragraph_keys(turns) == expected and store.paragraph_keys([]) == {}


def test_model_mismatch_stops_with_what_to_run(corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    ingest([corpus], tmp_path / "ix", fake_encoder)
    with pytest.raises(IndexProblem, match=r"built with the model 'fake-bow-64'.*pressroom ingest --rebuild"):
        Index.open(tmp_path / "ix", model="all-MiniLM-L6-v2")

    class Other(FakeEncoder):
        name = "other-model"

    with pytest.raises(IndexProblem, match="would mix models"):
        ingest([corpus], tmp_path / "ix", Other())
    rebuilt = ingest([corpus], tmp_path / "ix", Other(), rebuild=True)
    assert Index.open(tmp_path / "ix").manifest.model == "other-model" and rebuilt.committed


@pytest.mark.parametrize("target", [
    (faiss, "write_index"),
    (KeywordIndex, "save"),  # on the keywords' own thread, while the encoder runs
], ids=["vectors", "keywords beside the encoder"])
def test_failed_commit_leaves_previous_index(
    corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch, target: tuple
) -> None:
    root = tmp_path / "ix"
    ingest([corpus / "scio-2024-03-28-shanghai-five-centers-p7.txt"], root, fake_encoder)
    digest = tree_digest(root)

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(*target, disk_full)
    with pytest.raises(IndexProblem, match=r"No space left on device.*the previous index is intact"):
        ingest([corpus], root, fake_encoder)
    assert tree_digest(root) == digest
    assert not [p for p in root.iterdir() if p.name.startswith(".stage-")]
    assert Index.open(root).store.count("conferences") == 1


def test_the_encoder_is_prepared_only_when_a_source_changed(
    corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    prepared: list[int] = []
    fake_encoder.prepare = lambda: prepared.append(len(fake_encoder.texts))  # type: ignore[attr-defined]
    root = tmp_path / "ix"
    ingest([corpus], root, fake_encoder)
    assert prepared == [0]  # once, before anything was encoded, though two sources changed
    ingest([corpus], root, fake_encoder)
    assert prepared == [0]  # nothing changed: no sessions made for nothing


def test_stale_stage_from_a_killed_writer_is_cleaned(corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    root = tmp_path / "ix"
    ingest([corpus], root, fake_encoder)
    (root / ".stage-killed").mkdir()
    (root / ".stage-killed" / "store.sqlite").write_bytes(b"half written")
    with IndexWriter(root, fake_encoder) as writer:
        assert not (root / ".stage-killed").exists()
        assert writer.store.count("conferences") == 2


@pytest.mark.parametrize("damage", ["vectors", "manifest", "current"])
def test_corrupt_index_gives_a_clear_message(corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder,
                                             damage: str) -> None:
    root = tmp_path / "ix"
    ingest([corpus], root, fake_encoder)
    gen = root / (root / CURRENT).read_text().strip()
    if damage == "vectors":
        (gen / VECTORS).write_bytes(b"garbage")
    elif damage == "manifest":
        (gen / MANIFEST).write_text(json.dumps({"format": 1}))
    else:
        (root / CURRENT).write_text("../../etc")
    with pytest.raises(IndexProblem, match="pressroom doctor"):
        Index.open(root)


def test_missing_index_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(IndexProblem, match="pressroom ingest"):
        Index.open(tmp_path / "nothing")


def test_rejected_files_do_not_block_good_ones(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(DATA / "no_blank_lines.txt", folder)
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02")
    report = ingest([folder, tmp_path / "missing"], tmp_path / "ix", fake_encoder)
    assert len(report.added) == 1
    reasons = dict(report.rejected)
    assert "binary" in reasons[str(folder / "binary.txt")]
    assert "does not exist" in reasons[str(tmp_path / "missing")]


def test_an_ingest_that_finds_nothing_to_read_makes_no_folder(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """Every path rejected before anything is read (a mistyped path): no index folder is made (it was left
    holding only `.lock`); a folder that was there stays, as it was, and so does a live index's lock."""
    report = ingest([tmp_path / "missing"], tmp_path / "new" / "ix", fake_encoder)
    assert report.rejected and not report.committed
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    ingest([tmp_path / "missing"], existing, fake_encoder)
    assert existing.is_dir() and not any(existing.iterdir())
    ingest([DATA / "no_blank_lines.txt"], existing, fake_encoder)
    ingest([tmp_path / "missing"], existing, fake_encoder)  # a live index: its lock stays
    assert (existing / CURRENT).exists() and (existing / ".lock").exists()


def test_empty_folder_is_reported(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    (tmp_path / "empty").mkdir()
    report = ingest([tmp_path / "empty"], tmp_path / "ix", fake_encoder)
    assert report.rejected == [(str(tmp_path / "empty"), f"No transcripts found under {tmp_path / 'empty'} "
                                "(looked for .htm, .html, .jsonl, .md, .shtml, .txt).")]
    assert not report.committed


# --- question keys ----------------------------------------------------------------------------------------


def test_question_keys_route_to_their_answers(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    from assistant.retrieval import Retriever

    root = tmp_path / "ix"
    report = ingest([repeated_qa(tmp_path / "in")], root, fake_encoder)
    index = Index.open(root)
    keys = index.store.key_list()
    questions = [k for k in keys if k.is_question]
    assert report.questions == index.manifest.questions == len(questions) == 5  # one per question asked
    assert report.passages == index.manifest.passages == len(keys) - 5
    answers = index.store.answers(list({k.turn_id for k in keys}))
    for key in questions:  # a journalist's question, routing to an official answer (never to a question)
        kind = index.store.db.execute("SELECT kind FROM turns WHERE id = ?", (key.asked,)).fetchone()[0]
        assert key.paragraph == QUESTION_KEY and kind == Kind.QUESTION.value
        assert answers[key.turn_id].kind is Kind.ANSWER
    # Lin Jian's repeated words are one passage, keyed by each of the three questions they replied to.
    lin = {k.text for k in questions
           if answers[k.turn_id].speaker == "Lin Jian" and "Taiwan" in answers[k.turn_id].text}
    assert lin == {f"Question from {outlet} about Taiwan?" for outlet in ("CCTV", "AFP", "Kyodo")}
    # Row i of the keyword index is key i, question keys included.
    cctv = next(i for i, k in enumerate(keys) if k.text == "Question from CCTV about Taiwan?")
    assert int(np.argmax(index.keywords.scores("Question from CCTV about Taiwan?"))) == cctv

    # Found by its question alone, the answer is returned whole, its own paragraph in bold.
    [hit] = Retriever(index, fake_encoder, abstain_below=-1).search("Question from NHK about Taiwan?", 1)
    assert hit.answer.text == "We have released information on the visit already."
    assert hit.matched_text == hit.answer.text and hit.answer.asked == "Question from NHK about Taiwan?"
    index.close()

    with IndexWriter(root, fake_encoder, question_keys=False) as writer:  # answers alone, for the benchmark
        writer.commit()
    index = Index.open(root)
    assert index.manifest.questions == 0 and index.manifest.count == report.passages
    assert not any(k.is_question for k in index.store.key_list())
    index.close()


def test_an_index_of_the_previous_format_says_rebuild(corpus: Path, tmp_path: Path,
                                                      fake_encoder: FakeEncoder) -> None:
    root = tmp_path / "ix"
    ingest([corpus], root, fake_encoder)
    gen = root / (root / CURRENT).read_text().strip()
    manifest = json.loads((gen / MANIFEST).read_text())
    (gen / MANIFEST).write_text(json.dumps({**manifest, "format": 2}))  # built before question keys
    with pytest.raises(IndexProblem, match=r"format 2, this Press Room reads format 3.*pressroom ingest --rebuild"):
        Index.open(root)
    with pytest.raises(IndexProblem, match="pressroom ingest --rebuild"):
        ingest([corpus], root, fake_encoder)
    assert ingest([corpus], root, fake_encoder, rebuild=True).questions > 0
    assert Index.open(root).manifest.format == 3


def test_a_store_that_lost_a_key_row_is_inconsistent(corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    # FAISS row i is key i of the store: a store one row short would route the last vector to nothing (or, at
    # another row, to the wrong answer), so the counts are checked, the store's included.
    import sqlite3

    root = tmp_path / "ix"
    ingest([corpus], root, fake_encoder)
    gen = root / (root / CURRENT).read_text().strip()
    db = sqlite3.connect(gen / "store.sqlite")
    db.execute("DELETE FROM keys WHERE pos = (SELECT max(pos) FROM keys)")
    db.commit()
    db.close()
    with pytest.raises(IndexProblem, match=r"inconsistent .*store \d+.*pressroom doctor"):
        Index.open(root)


def test_speakers_are_listed_most_answers_first(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    # The chat's speaker filter lists them so: who answered most comes first, ties by name.
    folder = copy_sources(tmp_path / "in", DATA / "scio_full_conference.txt", DATA / "no_blank_lines.txt")
    ingest([folder], tmp_path / "ix", fake_encoder)
    store = Index.open(tmp_path / "ix").store
    answers = dict(store.db.execute(
        "SELECT speaker, count(*) FROM turns WHERE kind IN ('answer', 'statement') GROUP BY speaker").fetchall())
    assert answers == {"Li Ming": 2, "Wang Wentao": 2, "Zhao Lin": 2, "Chen Hong": 1, "Gu Jun": 1}
    assert store.speakers() == ["Li Ming", "Wang Wentao", "Zhao Lin", "Chen Hong", "Gu Jun"]


def test_example_questions_come_from_the_latest_conferences(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """The chat's examples: in an archive, ordered by conference id they came from any year (2009's in a 2026
    archive); the latest conference's questions come first."""
    from assistant.retrieval import Retriever

    ingest([repeated_qa(tmp_path / "qa")], tmp_path / "ix", fake_encoder)
    retriever = Retriever(Index.open(tmp_path / "ix"), fake_encoder)
    outlets = [q.split()[2] for q in retriever.example_questions(4)]
    assert sorted(outlets[:2]) == ["AFP", "Reuters"] and outlets[2:] == ["NHK", "CCTV"]  # 03-05 twice, 03-04, 03-03
    retriever.close()


def test_an_example_question_is_a_questions_opening(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    """A later question mark's sentence ("Does the foreign ministry have any comment on it?") leans on the words
    before it: shown alone it asks about nothing, so an example is a question's opening, up to its first "?"."""
    from assistant.retrieval import Retriever

    long = ("According to reports published this morning by several outlets, the government of a neighbouring "
            "country has decided to expel two diplomats over allegations that were not made public. Is that true? "
            "Does the foreign ministry have any comment on it?")
    short = "The summit opened in Astana today. What does China expect of the summit?"
    rows = [{"date": f"2025-03-0{day}", "spokesperson": "Lin Jian", "question": question, "link": f"https://x.org/{day}",
             "answer": "We have noted the reports and will release information in due course."}
            for day, question in ((3, long), (2, short))]
    ingest([write_jsonl(tmp_path / "qa.jsonl", rows)], tmp_path / "ix", fake_encoder)
    retriever = Retriever(Index.open(tmp_path / "ix"), fake_encoder)
    assert retriever.example_questions() == [short]
    retriever.close()
