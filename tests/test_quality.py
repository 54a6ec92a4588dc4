"""Retrieval quality: BM25 against a reference, question clean-up, fusion against its baselines, abstention."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from assistant.questions import strip_framing
from embeddings.errors import IndexProblem, PressroomError
from embeddings.index import KEYWORDS, Index
from embeddings.ingest import ingest
from embeddings.keywords import K1, B, KeywordIndex, tokenize
from embeddings.qa import QAPair

from .conftest import BENCH, OFF_TOPIC, PARAPHRASE, REWORDINGS, SEED_QUESTION, FakeEncoder, run_cli

TINY = [
    "The spokesperson said the talks on trade were constructive and both sides agreed to continue the talks.",
    "China firmly opposes the arms sales and urges the US to stop arming Taiwan.",
    "The foreign minister will visit Africa next week, continuing a tradition of more than thirty years.",
    "We have noted the reports on the typhoon; the embassy is in touch with Chinese citizens there.",
    "Trade between China and the EU reached a record high, and trade talks will continue.",
]


def reference_bm25(corpus: list[list[str]], query: list[str]) -> np.ndarray:
    """BM25 as the textbook writes it (Lucene idf, Robertson tf), one loop per document."""
    n = len(corpus)
    avgdl = sum(len(d) for d in corpus) / n
    out = np.zeros(n)
    for i, doc in enumerate(corpus):
        for term in query:
            df = sum(term in d for d in corpus)
            if not df:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = doc.count(term)
            out[i] += idf * tf / (tf + K1 * (1 - B + B * len(doc) / avgdl))
    return out


@pytest.mark.parametrize("query", ["trade talks continue", "arms sales to Taiwan", "typhoon embassy citizens",
                                   "record high trade with the EU", "Africa", "nothing matches zebra",
                                   "trade talks on trade"])
def test_bm25_matches_the_reference(query: str, tmp_path: Path) -> None:
    index = KeywordIndex.build(TINY)
    expected = reference_bm25(tokenize(TINY), tokenize([query])[0])
    np.testing.assert_allclose(index.scores(query), expected, rtol=1e-5, atol=1e-6)
    index.save(tmp_path / "kw")  # saved as .npy and .json by bm25s, read back without pickle
    np.testing.assert_allclose(KeywordIndex.load(tmp_path / "kw").scores(query), expected, rtol=1e-5, atol=1e-6)


def test_bm25_stems_and_drops_stopwords() -> None:
    assert tokenize(["The talks of the trading are in a way to be"]) == [["talk", "trade", "way"]]


def test_keyword_index_lives_in_each_generation(corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    ingest([corpus], tmp_path / "ix", fake_encoder)
    index = Index.open(tmp_path / "ix")
    assert (index.directory / KEYWORDS).is_dir()
    assert index.keywords.count == index.manifest.count > 0
    # key i of the keyword index is vector i: the best keyword match for a key's own text is that key
    texts = [key.text for key in index.store.key_list()]
    assert int(np.argmax(index.keywords.scores(texts[3]))) == 3
    directory = index.directory
    index.close()
    files = sorted((directory / KEYWORDS).iterdir())
    for damaged in files:  # each file garbled in turn, then all gone: one sentence naming the fix
        saved = damaged.read_bytes()
        damaged.write_bytes(b"\x00garbage" * 10)
        with pytest.raises(IndexProblem, match="pressroom doctor"):
            Index.open(tmp_path / "ix")
        damaged.write_bytes(saved)
    for path in files:
        path.unlink()
    with pytest.raises(IndexProblem, match="pressroom doctor"):
        Index.open(tmp_path / "ix")


@pytest.mark.parametrize(("question", "expected"), [
    ("Thank you. My question is about the Belt and Road Initiative. What is your comment?",
     "the Belt and Road Initiative. What is your comment?"),
    ("Follow-up: does China plan to send envoys? (Similar question from Reuters)", "does China plan to send envoys?"),
    ("I have a follow-up question on that one. Will the talks resume in May?", "Will the talks resume in May?"),
    ("Hi, Mao Ning. I have two questions. First, what about Japan's plan? Thank you.",
     "First, what about Japan's plan?"),
    (SEED_QUESTION, SEED_QUESTION.removesuffix(" Thank you.")),
    ("It is reported that the US will impose new tariffs. What's China's comment?",  # reported facts stay
     "It is reported that the US will impose new tariffs. What's China's comment?"),
    ("Thank you for your question.", "Thank you for your question."),  # never emptied
    ("Thanks", "Thanks"),
])
def test_strip_framing(question: str, expected: str) -> None:
    assert strip_framing(question) == expected


def test_split_is_by_date_latest_30_percent() -> None:
    from assistant.bench_quality import split_pairs

    def pair(day: date | None) -> QAPair:
        return QAPair(1, "q", "a", "S", day, "s", None, None)

    pairs = [pair(date(2024, 1, d)) for d in range(1, 11)] + [pair(None)]
    test, tune = split_pairs(pairs, "test"), split_pairs(pairs, "tune")
    assert [p.day.day for p in test.pairs] == [8, 9, 10]
    assert len(tune.pairs) == 8 and tune.pairs[-1].day is None  # undated pairs are never test questions
    assert len(split_pairs(pairs, "all").pairs) == 11



def test_training_pairs_never_include_the_first_files_test_split(tmp_path: Path) -> None:
    from assistant.bench_quality import split_pairs, training_pairs

    def write(name: str, days: list[str]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps({"question": f"q {name} {d}", "answer": f"a {name} {d}", "date": d}) + "\n"
                                for d in days), "utf-8")
        return path

    bench = write("bench.jsonl", [f"2024-01-{d:02d}" for d in range(1, 11)])
    older = write("older.jsonl", ["2003-05-01", "2004----", "2024-01-09"])  # the last is in bench's test dates
    tune = training_pairs([bench, older], "tune")
    test_questions = {p.question for p in split_pairs(training_pairs([bench], "all"), "test").pairs}
    assert {p.question for p in tune}.isdisjoint(test_questions)
    assert len(tune) == 7 + 2  # bench's older 7 dates, and the older file's two pairs before 2024-01-08
    assert len(training_pairs([bench, older], "all")) == 13

def test_training_batches_never_hold_one_answer_twice() -> None:
    from embeddings.tune import batches

    # Answer "a" replied to three questions: in one batch it would be a negative of its own question.
    pairs = [("q1", "a"), ("q2", "b"), ("q3", "a"), ("q4", "c"), ("q5", "a "), ("q6", "d"), ("q7", "e")]
    out = batches(pairs, 3)
    assert sorted(p for b in out for p in b) == sorted(pairs)  # every pair once
    assert all(len(b) <= 3 and len({" ".join(a.split()) for _, a in b}) == len(b) for b in out)
    assert out[0] == [("q1", "a"), ("q2", "b"), ("q4", "c")]  # the order kept otherwise
    assert batches(pairs[:4], 2) == [[("q1", "a"), ("q2", "b")], [("q3", "a"), ("q4", "c")]]


def test_an_older_manifest_reads_with_its_training_data_unrecorded(tmp_path: Path) -> None:
    from assistant.bench_quality import QualityReport
    from embeddings.tune import read_manifest

    (tmp_path / "pressroom-model.json").write_text(json.dumps({
        "name": "m-tuned-1", "base": "all-MiniLM-L6-v2", "pairs": 490, "epochs": 4, "batch_size": 32,
        "seconds": 680.0, "created": "2026-11-29T09:00:00+00:00", "abstain_below": 0.4}), "utf-8")
    manifest = read_manifest(tmp_path)
    assert manifest.files == () and manifest.split == "all" and manifest.learning_rate is None and manifest.seed is None
    assert manifest.soup == () and manifest.scale == 20.0
    report = QualityReport(n=1, split="test", dates=("", ""), answers=1, methods={}, tuned_from=manifest)
    assert report.tuned_data() == ("pressroom-tuned: m-tuned-1, trained on 490 pairs of unrecorded files (every "
                                   "pair: if this file was among them, its test split is no fair test), 4 epochs, "
                                   "batch 32.")
    scaled = QualityReport(n=1, split="test", dates=("", ""), answers=1, methods={},
                           tuned_from=dataclasses.replace(manifest, scale=30.0))
    assert (scaled.tuned_data() or "").endswith(", 4 epochs, batch 32, loss scale 30.")
    (tmp_path / "pressroom-model.json").write_text("{not json", "utf-8")
    with pytest.raises(PressroomError, match="unreadable"):
        read_manifest(tmp_path)


# --- with the real model ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_off_topic_questions_get_no_answer(retriever) -> None:
    refused = sum(not retriever.search(q, 3) for q in OFF_TOPIC)
    assert len(OFF_TOPIC) >= 200
    assert refused / len(OFF_TOPIC) >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("question", [SEED_QUESTION, PARAPHRASE, "Yangtze River Delta integration",
                                      "total imports and exports reached a record high",
                                      "How will China attract foreign investment?", "sci-tech innovation"])
def test_questions_on_the_corpus_are_still_answered(retriever, question: str) -> None:
    assert retriever.search(question, 3)


@pytest.mark.slow
def test_pressroom_beats_both_baselines_on_the_test_split(bench_report) -> None:
    m = bench_report.methods
    assert bench_report.n >= 300 and bench_report.split == "test"
    for metric in ("R@1", "R@5", "MRR@10"):
        assert m["pressroom"][metric] > max(m["bm25"][metric], m["dense"][metric]), metric
    assert m["pressroom"]["R@1"] >= max(m["bm25"]["R@1"], m["dense"]["R@1"]) + 0.03


def test_rewordings_are_short_and_reword_distinct_test_split_questions() -> None:
    if not BENCH.exists():
        pytest.skip(f"benchmark data not found at {BENCH}")
    from assistant.bench_quality import read_benchmark, read_pair_lines, split_pairs

    assert REWORDINGS.read_text("utf-8").startswith("# ")  # the header says what the file is and how it was made
    pairs = read_benchmark(BENCH)
    reworded = read_pair_lines(REWORDINGS, pairs)
    ids = [p.id for p, _ in reworded]
    assert len(ids) == len(set(ids)) >= 200
    assert set(ids) <= {p.id for p in split_pairs(pairs, "test").pairs}
    for pair, text in reworded:
        assert 4 <= len(text.split()) <= 15, text
        assert _longest_shared_run(text, pair.question) <= 5, text  # reworded, not a piece of the question


def _longest_shared_run(text: str, other: str) -> int:
    """The most consecutive words of ``text`` found together in ``other`` (a name such as "Global Development
    Initiative" is kept by design; longer runs are copying)."""
    words, within = re.findall(r"\w+", text.lower()), " " + " ".join(re.findall(r"\w+", other.lower())) + " "
    return max((end - start for start in range(len(words)) for end in range(start + 1, len(words) + 1)
                if " " + " ".join(words[start:end]) + " " in within), default=0)


@pytest.mark.slow
def test_question_keys_find_short_rewordings(bench_report) -> None:
    r = bench_report.rewordings
    assert r is not None and r.n == r.pairs >= 200
    m = r.methods
    assert set(m) == {"bm25", "dense", "pressroom", "pressroom, answers only"}
    assert m["pressroom"]["R@1"] >= m["pressroom, answers only"]["R@1"] + 0.3
    assert m["pressroom"]["R@1"] >= 0.9  # the target
    assert m["pressroom"]["MRR@10"] >= max(m["bm25"]["MRR@10"], m["dense"]["MRR@10"])
    assert r.refused is not None and r.refused >= 0.95  # question keys do not answer off-topic questions


@pytest.mark.slow
def test_abstention_on_the_benchmark(bench_report) -> None:
    a = bench_report.abstention
    assert a is not None and a.off_topic >= 200
    assert a.refused >= 0.95 and a.lost_r1 < 0.02


@pytest.mark.slow
def test_bench_quality_command_json(tmp_path: Path) -> None:
    rows = [{"question": f"What about {topic}?", "answer": answer, "date": f"2024-01-0{i % 5 + 1}",
             "spokesperson": "Mao Ning", "link": f"https://example.org/{i}", "id": f"pair{i}"}
            for i, (topic, answer) in enumerate(zip(
                ["trade talks", "arms sales to Taiwan", "the minister's Africa visit", "the typhoon", "EU trade"],
                TINY, strict=True))]
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    rewordings = tmp_path / "rewordings.tsv"
    rewordings.write_text("# id, tab, rewording\npair1\tTaiwan arms sales\npair3\tthe typhoon and the embassy\n",
                          "utf-8")
    result = run_cli("bench", "quality", str(qa), "--split", "all", "--json", "--rewordings", str(rewordings))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["rewordings"]["n"] == 2
    assert set(data["rewordings"]["methods"]) == {"bm25", "dense", "pressroom", "pressroom, answers only"}
    assert data["rewordings"]["methods"]["pressroom"]["R@1"] == 1.0
    assert data["n"] == 5 and data["split"] == "all"
    assert set(data["methods"]) == {"bm25", "dense", "pressroom"}
    for figures in data["methods"].values():
        assert {"R@1", "R@5", "R@10", "MRR@10", "p50_ms", "p99_ms"} <= set(figures)
        assert figures["R@10"] == 1.0  # five answers: every one is in the top 10


@pytest.mark.slow
def test_bench_quality_help_and_bad_file(tmp_path: Path) -> None:
    for command in (("bench", "quality"), ("tune",)):
        result = run_cli(*command, "--help")
        assert result.returncode == 0 and "Example:" in result.stdout
        assert "pressroom " + " ".join(command) in result.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q only"}\n', "utf-8")
    result = run_cli("bench", "quality", str(bad))
    assert result.returncode == 1 and "line 1 has no answer" in result.stderr and "Traceback" not in result.stderr
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "a1", "question": "Any comment on trade?", "answer": "Trade grew.", "date": "2024-01-01"}\n'
                    '{"id": "b2", "question": "And on tariffs?", "answer": "We oppose them.", "date": "2024-01-02"}\n',
                    "utf-8")
    for text, message in (("zz9\tsome words here\n", "no pair has the id 'zz9'"), ("a1 no tab\n", "line 1 is not")):
        (tmp_path / "r.tsv").write_text(text, "utf-8")
        result = run_cli("bench", "quality", str(good), "--rewordings", str(tmp_path / "r.tsv"))
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_tune_command_trains_with_the_options_given(tmp_path: Path) -> None:
    pairs = tmp_path / "qa.jsonl"
    pairs.write_text("".join(json.dumps({"question": f"What about {topic}?", "answer": answer}) + "\n"
                             for topic, answer in zip(["trade", "arms", "Africa", "typhoons"], TINY, strict=False)),
                     "utf-8")
    result = run_cli("tune", str(pairs), "--out", str(tmp_path / "m"), "--epochs", "1", "--batch-size", "4",
                     "--scale", "30", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "Tuned all-MiniLM-L6-v2 on 4 pairs (1 epoch, " in result.stdout
    manifest = json.loads((tmp_path / "m" / "pressroom-model.json").read_text("utf-8"))
    assert (manifest["scale"], manifest["seed"], manifest["epochs"], manifest["batch_size"]) == (30.0, 3, 1, 4)


@pytest.mark.slow
def test_bench_quality_and_tune_read_qa_from_stdin(tmp_path: Path) -> None:
    """`-` for the Q&A file, as the house's commands take it: the same figures as from the file."""
    text = "".join(json.dumps({"question": f"What about {topic}?", "answer": answer,
                               "date": f"2024-01-0{i % 5 + 1}", "link": f"https://example.org/{i}"}) + "\n"
                   for i, (topic, answer) in enumerate(zip(["trade", "arms", "Africa", "typhoons", "EU"], TINY,
                                                           strict=True)))
    (tmp_path / "qa.jsonl").write_text(text, "utf-8")
    piped = run_cli("bench", "quality", "-", "--split", "all", "--json", stdin=text)
    assert piped.returncode == 0, piped.stderr
    from_file = json.loads(run_cli("bench", "quality", str(tmp_path / "qa.jsonl"), "--split", "all", "--json").stdout)
    got = json.loads(piped.stdout)
    assert got["n"] == from_file["n"] == 5
    assert {m: got["methods"][m]["MRR@10"] for m in got["methods"]} == \
        {m: from_file["methods"][m]["MRR@10"] for m in from_file["methods"]}
    tuned = run_cli("tune", "-", "--out", str(tmp_path / "m"), "--epochs", "1", "--batch-size", "4", stdin=text)
    assert tuned.returncode == 0, tuned.stderr
    assert "Tuned all-MiniLM-L6-v2 on 5 pairs (1 epoch, " in tuned.stdout
    assert json.loads((tmp_path / "m" / "pressroom-model.json").read_text("utf-8"))["files"] == ["stdin"]
    for command in (("bench", "quality"), ("tune",)):
        assert "'-' reads" in run_cli(*command, "--help").stdout


@pytest.mark.slow
def test_tune_writes_a_model_that_ingest_and_search_use(tmp_path: Path, corpus: Path) -> None:
    from assistant.retrieval import Retriever
    from embeddings.encoder import DEFAULT_MODEL, SentenceTransformerEncoder, load_encoder
    from embeddings.tune import TUNED_ABSTAIN_BELOW, fine_tune, read_manifest

    pairs = [(f"What did the spokesperson say about {t}?", a) for t, a in zip(
        ["trade talks", "arms sales", "the Africa visit", "the typhoon", "EU trade"], TINY, strict=True)]
    tuned = fine_tune(pairs, tmp_path / "model", epochs=1, batch_size=4, progress=False, files=["a.jsonl"],
                      split="tune")
    assert tuned.name.startswith(DEFAULT_MODEL + "-tuned-") and tuned.pairs == 5
    assert read_manifest(tmp_path / "model") == tuned  # what it was trained on, for bench quality to report
    encoder = load_encoder(str(tmp_path / "model"))
    assert encoder.name == tuned.name and encoder.dim == load_encoder().dim
    # The tuned model's own threshold, from its manifest; the default model keeps its own.
    assert encoder.abstain_below == tuned.abstain_below == TUNED_ABSTAIN_BELOW != load_encoder().abstain_below
    assert encoder.backend == "onnx-int8"  # like the default model, exported and checked against its torch weights
    import logging  # the export silences its libraries' logs without leaving a handler on a closed stream

    assert not [h for h in logging.root.handlers if getattr(getattr(h, "stream", None), "closed", False)]
    torch = SentenceTransformerEncoder(tuned.name, str(tmp_path / "model"))
    assert float((encoder.encode(TINY) * torch.encode(TINY)).sum(1).mean()) >= 0.99
    again = fine_tune(pairs, tmp_path / "again", base=str(tmp_path / "model"), epochs=1, batch_size=4, progress=False,
                      scale=30.0)
    assert again.base == str(tmp_path / "model")  # a tuned model tunes further from its torch weights
    assert read_manifest(tmp_path / "again").scale == 30.0
    ingest([corpus], tmp_path / "ix", encoder)
    with pytest.raises(IndexProblem, match="was built with the model"):  # another model's vectors never mix
        Index.open(tmp_path / "ix", model=DEFAULT_MODEL)
    hits = Retriever(Index.open(tmp_path / "ix", model=encoder.name), encoder).search(PARAPHRASE, 1)
    assert hits and hits[0].answer.speaker == "Gu Jun"
    from assistant.bench_quality import run_quality  # pressroom-tuned, and its abstention at its own threshold

    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": q, "answer": a, "date": f"2024-01-0{i + 1}"}) + "\n"
                          for i, (q, a) in enumerate(pairs)), "utf-8")
    report = run_quality(qa, load_encoder(), split="all", off_topic=OFF_TOPIC[:20], tuned=encoder, tuned_from=tuned)
    assert list(report.to_json()["tuned"]["files"]) == ["a.jsonl"] and report.to_json()["tuned"]["split"] == "tune"
    assert "trained on 5 pairs of a.jsonl (pairs older than the first file's test split)" in report.tuned_data()
    assert report.methods["pressroom-tuned"]["R@10"] == 1.0  # five answers, none refused: every one in the top 10
    a = report.tuned_abstention
    assert a is not None and a.threshold == TUNED_ABSTAIN_BELOW and a.off_topic == 20 and a.lost_r1 == 0
    assert report.to_json()["abstention-tuned"]["threshold"] == TUNED_ABSTAIN_BELOW
    with pytest.raises(PressroomError, match="not empty"):
        fine_tune(pairs, tmp_path / "model", progress=False)


@pytest.mark.slow
def test_tune_soup_saves_the_mean_of_the_runs_weights(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from embeddings.tune import fine_tune, read_manifest

    pairs = [(f"What did the spokesperson say about {t}?", a) for t, a in zip(
        ["trade talks", "arms sales", "the Africa visit", "the typhoon", "EU trade"], TINY, strict=True)]
    first = fine_tune(pairs, tmp_path / "s0", epochs=1, batch_size=4, seed=0, progress=False)
    fine_tune(pairs, tmp_path / "s1", epochs=1, batch_size=4, seed=1, progress=False)
    soup = fine_tune(pairs, tmp_path / "soup", epochs=1, batch_size=4, seed=1, soup=[tmp_path / "s0"],
                     progress=False)
    assert read_manifest(tmp_path / "soup") == soup and soup.soup == (first.name,) and soup.seed == 1
    s0, s1, mean = (load_file(str(tmp_path / m / "model.safetensors")) for m in ("s0", "s1", "soup"))
    changed = [k for k in s0 if s0[k].is_floating_point() and not torch.equal(s0[k], s1[k])]
    assert changed  # the seeds made two different runs, and the soup is their mean (seed 1's run is repeatable)
    assert all(torch.allclose(mean[k], (s0[k] + s1[k]) / 2, atol=1e-6) for k in s0 if s0[k].is_floating_point())
    # A third seed souped with that soup: each of the three runs weighs a third, not the soup a half.
    fine_tune(pairs, tmp_path / "s2", epochs=1, batch_size=4, seed=2, progress=False)
    three = fine_tune(pairs, tmp_path / "three", epochs=1, batch_size=4, seed=2, soup=[tmp_path / "soup"],
                      progress=False)
    assert three.soup == (soup.name, first.name)  # one name per other run, so that it weighs right in turn
    s2, mean3 = (load_file(str(tmp_path / m / "model.safetensors")) for m in ("s2", "three"))
    assert all(torch.allclose(mean3[k], (s0[k] + s1[k] + s2[k]) / 3, atol=1e-6) for k in s0
               if s0[k].is_floating_point())
    with pytest.raises(PressroomError, match="only models tuned from the same base"):
        fine_tune(pairs, tmp_path / "other", base=str(tmp_path / "s0"), soup=[tmp_path / "s1"], progress=False)
