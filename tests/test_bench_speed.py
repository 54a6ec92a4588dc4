"""The speed benchmark's mechanics (not its timings): synthetic sizes keep real structure and real answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.bench_speed import _repeated_keywords, _sized_index, noisy_copies
from embeddings.index import Index
from embeddings.ingest import ingest
from embeddings.keywords import KeywordIndex

from .conftest import FakeEncoder, run_cli


def test_noisy_copies_stay_near_their_originals() -> None:
    base = np.eye(8, 16, dtype=np.float32)
    copies, origin = noisy_copies(base, 500, seed=3)
    assert copies.shape == (500, 16) and np.allclose(np.linalg.norm(copies, axis=1), 1, atol=1e-5)
    near = (copies * base[origin]).sum(1)
    assert 0.6 < near.mean() < 0.95  # close to the original, but not a duplicate


def test_sized_index_points_copies_at_real_answers(corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    ingest([corpus], tmp_path / "real", fake_encoder)
    real = Index.open(tmp_path / "real")
    base = real.store.key_vectors(fake_encoder.dim)
    real_keys = real.store.keys_at(range(len(base)))
    size = len(base) * 3 + 1
    _sized_index(tmp_path / "real", tmp_path / "big", size, base)
    big = Index.open(tmp_path / "big", model=fake_encoder.name)
    assert big.manifest.count == big.vectors.ntotal == big.store.count("keys") == size
    keys = big.store.keys_at(range(size))
    assert all(keys[i] == real_keys[i] for i in range(len(base)))  # the real keys come first, unchanged
    assert set(keys.values()) <= set(real_keys.values())  # every copy answers with a real answer
    _, positions = big.search(base[:1], 1)
    assert positions[0][0] == 0


def test_bad_sizes_are_one_sentence() -> None:
    result = run_cli("bench", "speed", "--sizes", "1000,lots")
    assert result.returncode == 1 and "--sizes must be numbers" in result.stderr and "Traceback" not in result.stderr


def test_repeated_keywords_equal_building_from_the_copies_texts() -> None:
    texts = ["Trade talks continue with the EU.", "Arms sales to Taiwan are opposed.",
             "The typhoon hit, citizens safe.", "Trade reached a record high."]
    origin = np.array([0, 1, 2, 3, 0, 0, 3, 1, 2, 2])
    fast, reference = _repeated_keywords(texts, origin), KeywordIndex.build([texts[o] for o in origin])
    for question in ("trade talks", "typhoon citizens in Taiwan", "zebra"):
        np.testing.assert_allclose(fast.scores(question), reference.scores(question), rtol=1e-6)


def test_short_questions_are_chat_style_and_judged_against_the_targets() -> None:
    from assistant.bench_speed import TARGETS, _short_questions, verdicts

    short = _short_questions()
    assert len(short) >= 200 and all(4 <= len(q.split()) <= 15 for q in short)
    row = {"p50_ms": 9.0, "p99_ms": 20.0, "short_p50_ms": 4.5, "short_p99_ms": 16.0, "recall_at_10": 0.99,
           "cold_start_s": 2.0}
    baseline = {"onnx_ingest_per_s": 50.0, "ingest_speedup": 2.3}
    lines = verdicts({"baseline": baseline, "targets": TARGETS, "sizes": {"100000": row}})
    assert "p50 at 100,000, short questions: 4.5 ms (target <= 5 ms) MET" in lines
    assert "p99 at 100,000, short questions: 16.0 ms (target <= 15 ms) MISSED" in lines
