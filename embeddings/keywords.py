"""Keyword search: a BM25 index (bm25s, English stopwords + Snowball stemming) over the index's keys.

Row ``i`` of the keyword index is key ``i`` of the FAISS index, so keyword and vector scores can be fused per key.
Saved as NumPy arrays and JSON by bm25s (never pickled), inside each index generation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IndexProblem

K1, B = 1.5, 0.75  # BM25 (Lucene variant) parameters: bm25s' defaults, the usual choice for short passages
STOPWORDS = "en"
META = "keywords.json"


def _stemmer() -> Any:  # a Stemmer.Stemmer (PyStemmer has no type hints)
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased word tokens of each text, English stopwords removed, stemmed (as the index sees them)."""
    import bm25s

    return bm25s.tokenize(list(texts), stopwords=STOPWORDS, stemmer=_stemmer(), return_ids=False,
                          show_progress=False)


class KeywordIndex:
    """BM25 scores of a question against every key. Thread-safe for reading."""

    def __init__(self, bm25: object | None, count: int) -> None:
        self._bm25 = bm25  # None when there are no keys
        self.count = count
        self._stemmer = _stemmer()

    @classmethod
    def build(cls, texts: Sequence[str]) -> KeywordIndex:
        """Index ``texts`` (row ``i`` = key ``i``)."""
        import bm25s

        if not texts:
            return cls(None, 0)
        bm25 = bm25s.BM25(k1=K1, b=B)
        tokens = bm25s.tokenize(list(texts), stopwords=STOPWORDS, stemmer=_stemmer(), show_progress=False)
        bm25.index(tokens, show_progress=False)
        return cls(bm25, len(texts))

    def save(self, folder: Path) -> None:
        """Write the index into ``folder`` (created) and fsync it: the caller publishes the folder."""
        folder.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(folder), show_progress=False)
        (folder / META).write_text(json.dumps({"count": self.count, "k1": K1, "b": B, "stemmer": "english",
                                               "stopwords": STOPWORDS}) + "\n", "utf-8")
        for path in folder.iterdir():
            with open(path, "rb") as f:
                os.fsync(f.fileno())

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        """The index saved in ``folder``, or an IndexProblem saying what to run."""
        import bm25s

        try:
            count = json.loads((folder / META).read_text("utf-8"))["count"]
            bm25 = bm25s.BM25.load(str(folder), mmap=False, show_progress=False, verbosity=0) if count else None
        except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
            raise IndexProblem(
                f"The keyword index {folder} is missing or unreadable ({exc}); run `pressroom doctor` to rebuild "
                "the index from its sources."
            ) from exc
        return cls(bm25, int(count))

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of ``question`` against every key (float32, one per key; zeros when no word matches).

        Summed here from bm25s' precomputed per-(word, key) scores with one ``np.bincount`` over the question's
        postings: bm25s' own ``get_scores_from_ids`` adds them with ``np.add.at``, which is ~10x slower and cost
        several milliseconds a question at 1e5 keys, where common words have tens of thousands of postings.
        """
        import bm25s

        if self._bm25 is None:
            return np.zeros(self.count, dtype=np.float32)
        tokens = bm25s.tokenize([question], stopwords=STOPWORDS, stemmer=self._stemmer, return_ids=False,
                                show_progress=False)[0]
        return self._summed([(w, 1.0) for w in self._bm25.get_tokens_ids(tokens)])

    def weighted_scores(self, terms: Mapping[str, float]) -> np.ndarray:
        """BM25 of a query given as index terms (see :func:`tokenize`) with weights: each term's scores times its
        weight, summed per key. A translated question is such a query (embeddings.chinese)."""
        if self._bm25 is None:
            return np.zeros(self.count, dtype=np.float32)
        vocabulary = self._bm25.vocab_dict
        return self._summed([(vocabulary[t], w) for t, w in terms.items() if t in vocabulary])

    def _summed(self, words: Sequence[tuple[int, float]]) -> np.ndarray:
        """Sum of the postings of (word id, weight) per key."""
        if not words:
            return np.zeros(self.count, dtype=np.float32)
        matrix = self._bm25.scores  # CSC by word: postings of word w are indices/data[indptr[w]:indptr[w + 1]]
        indptr, indices, data = matrix["indptr"], matrix["indices"], matrix["data"]
        spans = [(slice(indptr[w], indptr[w + 1]), weight) for w, weight in words]  # weight 1: no scaled copy
        return np.bincount(np.concatenate([indices[s] for s, _ in spans]),
                           np.concatenate([data[s] * weight if weight != 1 else data[s] for s, weight in spans]),
                           minlength=self.count).astype(np.float32)
