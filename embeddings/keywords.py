"""Keyword search: a BM25 index (bm25s, English stopwords + Snowball stemming) over the index's keys.

Row ``i`` of the keyword index is key ``i`` of the FAISS index, so keyword and vector scores can be fused per key.
Saved as NumPy arrays and JSON by bm25s (never pickled), inside each index generation.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
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
    """BM25 scores of a question against the keys. Thread-safe for reading."""

    def __init__(self, bm25: object | None, count: int) -> None:
        self._bm25 = bm25  # None when there are no keys
        self.count = count
        self._stemmer = _stemmer()
        if bm25 is not None:
            matrix = bm25.scores  # CSC by word: postings of word w are indices/data[indptr[w]:indptr[w + 1]]
            self._indptr, self._indices, self._data = matrix["indptr"], matrix["indices"], matrix["data"]
            self._ceilings = word_ceilings(self._indptr, self._data)

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

    def _words(self, question: str) -> Counter[int]:
        """The question's words as the index knows them: word id -> times it occurs in the question."""
        import bm25s

        tokens = bm25s.tokenize([question], stopwords=STOPWORDS, stemmer=self._stemmer, return_ids=False,
                                show_progress=False)[0]
        return Counter(self._bm25.get_tokens_ids(tokens)) if self._bm25 is not None else Counter()

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of ``question`` against every key (float32, one per key; zeros when no word matches).

        Every posting of every word is summed, with one ``np.bincount``: the reference that :meth:`query`
        equals, and the bm25 baseline of `pressroom bench quality`.
        """
        words = self._words(question)
        if not words:
            return np.zeros(self.count, dtype=np.float32)
        spans = [slice(self._indptr[w], self._indptr[w + 1]) for w, times in words.items() for _ in range(times)]
        return np.bincount(np.concatenate([self._indices[s] for s in spans]),
                           np.concatenate([self._data[s] for s in spans]), minlength=self.count).astype(np.float32)

    def query(self, question: str) -> KeywordQuery:
        """``question`` ready to score: its best keys and the score of any key, without summing every posting."""
        words = self._words(question)
        postings = [Postings(self._indices[self._indptr[w]:self._indptr[w + 1]],
                             self._data[self._indptr[w]:self._indptr[w + 1]], times,
                             float(self._ceilings[w]) * times) for w, times in words.items()]
        return KeywordQuery(sorted(postings, key=lambda p: len(p.keys)))


def word_ceilings(indptr: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The highest score each word adds to any key (0 for a word in no key): MaxScore's bound, once per load."""
    ceilings = np.zeros(len(indptr) - 1, dtype=np.float32)
    used = np.flatnonzero(np.diff(indptr) > 0)
    if len(used):
        ceilings[used] = np.maximum.reduceat(data, indptr[used])
    return ceilings


@dataclass(frozen=True)
class Postings:
    """One word of a question: the keys holding it (ascending), the score it adds to each, and its ceiling."""

    keys: np.ndarray
    scores: np.ndarray  # float32, bm25s' precomputed per-(word, key) score
    times: int  # occurrences in the question: each adds the score again
    ceiling: float  # times × the highest of ``scores``


@dataclass(frozen=True)
class KeywordQuery:
    """BM25 of one question, computed only for the keys that can matter (MaxScore, exact).

    A question's common words ("China", "said") hold up to every key of a large index; summing all their
    postings cost ~22 ms a question at 1e6 keys. Fusion needs only the best keys and the scores of a few
    others, so the rare words' postings are summed in full and the common words are only looked up for those
    candidates, as long as their ceilings together cannot lift any other key to the candidates' threshold.
    Scores equal :meth:`KeywordIndex.scores` exactly: float64 sums of a few float32 scores are exact in any
    order, and the threshold is compared after rounding to float32, so even ties come out the same.
    """

    words: list[Postings]  # fewest keys first

    def top(self, n: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` keys with the highest positive scores (only those in ``among`` when given; ties: lowest
        position first): (positions ascending, int64; their float32 scores)."""
        for split in range(1, len(self.words) + 1):
            keys, partial = _summed(self.words[:split], among)
            rest = self.words[split:]
            if not rest:
                return best(keys.astype(np.int64), partial.astype(np.float32), n)
            # Any key outside ``keys`` scores at most the ceilings of the rest; below the n-th best partial
            # score of ``keys`` (a lower bound of their full scores), it can never be among the n best.
            if len(keys) >= n and np.float32(sum(w.ceiling for w in rest)) < _nth(partial.astype(np.float32), n):
                return best(keys.astype(np.int64), _add(partial, keys, rest).astype(np.float32), n)
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)

    def at(self, positions: np.ndarray) -> np.ndarray:
        """The float32 scores of the keys at ``positions``."""
        positions = np.asarray(positions, dtype=np.int64)
        return _add(np.zeros(len(positions)), positions, self.words).astype(np.float32)


def _summed(words: Sequence[Postings], among: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The keys holding any of ``words`` (ascending; only those ``among`` admits) and their summed scores
    (float64)."""
    keys = np.concatenate([w.keys for w in words])
    scores = np.concatenate([w.scores.astype(np.float64) * w.times for w in words])
    if among is not None:
        admitted = np.isin(keys, among)
        keys, scores = keys[admitted], scores[admitted]
    keys, slot = np.unique(keys, return_inverse=True)
    return keys, np.bincount(slot, scores, len(keys))


def _add(total: np.ndarray, positions: np.ndarray, words: Sequence[Postings]) -> np.ndarray:
    """``total`` (float64, one per position) plus each word's score at those positions, found by binary search
    in its sorted postings."""
    for w in words:
        targets = positions.astype(w.keys.dtype, copy=False)  # a mixed-type search would copy all the postings
        found = np.minimum(np.searchsorted(w.keys, targets), len(w.keys) - 1)
        hit = w.keys[found] == targets
        total[hit] += w.scores[found[hit]].astype(np.float64) * w.times
    return total


def _nth(scores: np.ndarray, n: int) -> np.float32:
    """The ``n``-th highest of ``scores`` (at least ``n`` of them)."""
    return np.partition(scores, len(scores) - n)[len(scores) - n]


def best(positions: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Of ``positions`` (ascending) and their ``scores``, the ``n`` highest scores; ties go to the lowest
    positions, so the choice does not depend on how the scores were computed. Positions stay ascending."""
    if len(positions) > n:
        nth = _nth(scores, n)
        keep = scores > nth
        keep[np.flatnonzero(scores == nth)[: n - int(keep.sum())]] = True
        positions, scores = positions[keep], scores[keep]
    return positions, scores
