"""The index kind follows the size: exact search for small indexes, IVF above FLAT_MAX, checked against exact."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from embeddings import index as index_module
from embeddings.index import FLAT_MAX, Index, build_vectors, vectors_kind
from embeddings.ingest import ingest

from .conftest import FakeEncoder


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors around 200 fixed centres: structured like text embeddings, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((200, dim)).astype(np.float32)
    x = centres[rng.integers(0, 200, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_kind_by_size() -> None:
    assert vectors_kind(0) == vectors_kind(FLAT_MAX) == "flat"
    assert vectors_kind(FLAT_MAX + 1).startswith("ivf")
    # lists and nprobe by the size, as measured on the benchmark (index.IVF_MAX_LISTS, index.IVF_NPROBE)
    assert vectors_kind(100_000) == "ivf2048,nprobe48" and vectors_kind(1_000_000) == "ivf2048,nprobe16"
    assert vectors_kind(30_000) == "ivf256,nprobe32"  # denser lists lost recall there (index.IVF_MAX_LISTS)
    assert isinstance(build_vectors(np.zeros((0, 8), np.float32), 8), faiss.IndexFlatIP)


def test_ivf_lists_grow_with_the_size_and_hold_39_vectors_each() -> None:
    sizes = range(FLAT_MAX + 1, 2_000_000, 997)
    lists = [index_module.ivf_lists(n) for n in sizes]
    assert lists == sorted(lists) and max(lists) == index_module.IVF_MAX_LISTS
    assert all(n >= 39 * m and m & (m - 1) == 0 for n, m in zip(sizes, lists, strict=True))  # powers of two


@pytest.mark.parametrize("size", [FLAT_MAX + 5_000, 39 * index_module.IVF_MAX_LISTS])
def test_ivf_recall_at_10_against_exact_search(size: int) -> None:
    data = clustered(size, 64, seed=1)
    queries = clustered(200, 64, seed=2)
    approx = build_vectors(data, 64)
    assert isinstance(approx, faiss.IndexIVFFlat) and approx.nprobe < approx.nlist  # not a full scan
    exact = faiss.IndexFlatIP(64)
    exact.add(data)
    _, truth = exact.search(queries, 10)
    _, found = approx.search(queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.98


def test_a_large_index_is_ivf_recorded_and_mapped(
    corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "FLAT_MAX", 5)  # the shipped corpus is small: make it "large"
    ingest([corpus], tmp_path / "ix", fake_encoder)
    index = Index.open(tmp_path / "ix", model=fake_encoder.name)
    assert index.manifest.vectors.startswith("ivf") and isinstance(index.vectors, faiss.IndexIVFFlat)
    assert index.vectors.nprobe == index_module.ivf_nprobe(index.vectors.ntotal) == index_module.IVF_NPROBE
    stored = index.store.key_vectors(fake_encoder.dim)
    scores, positions = index.search(stored[7:8], 1)
    assert positions[0][0] == 7 and scores[0][0] == pytest.approx(1, abs=1e-5)
    # read back by position from the mapped lists (fusion and filters need it)
    np.testing.assert_allclose(index.vectors.reconstruct_batch(np.array([3, 0, 7])), stored[[3, 0, 7]], atol=1e-6)
    scores, positions = index.search(stored[:3], 2)  # a batch takes the multi-threaded path
    assert list(positions[:, 0]) == [0, 1, 2]
    assert faiss.omp_get_max_threads() >= 1


def test_small_index_stays_exact(corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    ingest([corpus], tmp_path / "ix", fake_encoder)
    index = Index.open(tmp_path / "ix")
    assert index.manifest.vectors == "flat" and isinstance(index.vectors, faiss.IndexFlatIP)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
@pytest.mark.parametrize("exact_among", [50_000, 0], ids=["scored directly", "FAISS selector"])
def test_a_filter_returns_only_admitted_rows_and_their_best(
    corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch, kind: str,
    exact_among: int,
) -> None:
    if kind == "ivf":
        monkeypatch.setattr(index_module, "FLAT_MAX", 5)
    monkeypatch.setattr(index_module, "EXACT_AMONG", exact_among)
    ingest([corpus], tmp_path / "ix", fake_encoder)
    index = Index.open(tmp_path / "ix", model=fake_encoder.name)
    stored = index.store.key_vectors(fake_encoder.dim)
    among = np.array([2, 5, 7, 11], dtype=np.int64)
    scores, positions = index.search(stored[7:8], 3, among)
    assert positions[0][0] == 7 and set(positions[0]) <= set(among)
    exact = np.sort(stored[among] @ stored[7])[::-1][:3]
    assert scores[0] == pytest.approx(exact, abs=1e-5)
