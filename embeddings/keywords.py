"""Keyword search: a BM25 index (bm25s, English stopwords + Snowball stemming) over the index's keys.

Row ``i`` of the keyword index is key ``i`` of the FAISS index, so keyword and vector scores can be fused per key.
Saved as NumPy arrays and JSON by bm25s (never pickled), inside each index generation.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
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


_split = re.compile(r"(?u)\b\w\w+\b").findall  # bm25s.tokenize's default word pattern


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


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
        if self._bm25 is None:
            return Counter()
        return Counter(self._bm25.get_tokens_ids(self._tokens(question)))

    def _tokens(self, question: str) -> list[str]:
        """:func:`tokenize` of one question, the same steps as bm25s.tokenize (lower-case, its word pattern,
        stopwords dropped before stemming) without its per-call set-up: 0.33 ms a question, now 0.02."""
        return self._stemmer.stemWords([t for t in _split(question.lower()) if t not in _stopwords()])

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of ``question`` against every key (float32, one per key; zeros when no word matches): the
        plain computation that :meth:`query` equals, and the bm25 baseline of `pressroom bench quality`."""
        return self.query(question).scores()

    def query(self, question: str) -> KeywordQuery:
        """``question`` ready to score: its best keys and the score of any key, without summing every posting."""
        return self._query([(w, times, 1.0) for w, times in self._words(question).items()])

    def weighted_scores(self, terms: Mapping[str, float]) -> np.ndarray:
        """BM25 of a query given as index terms (see :func:`tokenize`) with weights: each term's scores times its
        weight, summed per key. A translated question is such a query (embeddings.chinese)."""
        return self.weighted_query(terms).scores()

    def weighted_query(self, terms: Mapping[str, float]) -> KeywordQuery:
        """:meth:`query` for index terms with weights (see :meth:`weighted_scores`)."""
        vocabulary = self._bm25.vocab_dict if self._bm25 is not None else {}
        return self._query([(vocabulary[t], 1, w) for t, w in terms.items() if t in vocabulary])

    def _query(self, words: Sequence[tuple[int, int, float]]) -> KeywordQuery:
        """The query of (word id, times, weight): each posting scores bm25s' score × weight (in float32, weight 1:
        no scaled copy), added ``times`` times."""
        postings = []
        for w, times, weight in words:
            span = slice(self._indptr[w], self._indptr[w + 1])
            keys, scores, ceiling = self._indices[span], self._data[span], self._ceilings[w]
            if weight != 1:
                scores, ceiling = scores * weight, ceiling * weight  # float32 products: the ceiling stays their max
            postings.append(Postings(keys, scores, times, float(ceiling) * times))
        return KeywordQuery(sorted(postings, key=lambda p: len(p.keys)), self.count)


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


# When the pruned top n is worth it, measured with `pressroom bench speed`'s indexes and questions (CPU ms, p50,
# pruned / every posting summed): 1e6 keys 7.6 / 16.4 (49-token questions), 2.4 / 5.9 (short ones); 1e5 keys 3.5 /
# 1.5 and 0.4 / 0.6; 3e5 keys 2.1 / 4.4 and 0.6 / 1.6. Below PRUNE_FROM keys the plain sum fits the caches and wins.
PRUNE_FROM = 200_000
# It gives up, and sums every posting, once the rare words it has summed hold this share of the question's
# postings: beyond it, merging them costs more than one np.bincount over all of them.
PRUNE_SHARE = 0.2


@dataclass
class KeywordQuery:
    """BM25 of one question, computed only for the keys that can matter (MaxScore, exact).

    A question's common words ("China", "said") hold up to every key of a large index; summing all their
    postings cost ~22 ms a question at 1e6 keys. Fusion needs only the best keys and the scores of a few
    others. So the rare words' postings are summed first; once the common words' ceilings together fall below
    the n-th best partial score, no key holding only common words can make the n best, and the common words
    are only looked up (binary search in their sorted postings) for the candidates that still can.
    Scores equal the plain sum exactly: float64 sums of a few float32 scores are exact in any order, and bounds
    are compared after rounding to float32, so even ties come out the same. One per question: not shared
    between threads.
    """

    words: list[Postings]  # fewest keys first
    count: int  # keys in the index
    every: np.ndarray | None = None  # every key's score, once :meth:`top` had to sum every posting

    def scores(self) -> np.ndarray:
        """The float32 score of every key: every posting summed with one ``np.bincount`` (np.add.at, as bm25s
        sums them, is ~10x slower). Concatenated straight into the types bincount works in: handing it int32
        and float32 arrays made it 3.5x slower (2.7 vs 0.77 ms on 250,000 postings)."""
        if not self.words:
            return np.zeros(self.count, dtype=np.float32)
        spans = [w for w in self.words for _ in range(w.times)]
        return np.bincount(np.concatenate([w.keys for w in spans], dtype=np.intp),
                           np.concatenate([w.scores for w in spans], dtype=np.float64),
                           minlength=self.count).astype(np.float32)

    def top(self, n: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` keys with the highest positive scores (only those in ``among`` when given; ties: lowest
        position first): (positions ascending, int64; their float32 scores)."""
        floor = np.nextafter(np.float32(0), np.float32(1))  # a lower bound of the n-th best score, above 0
        if self.every is None:  # else summed already: a filtered search asks again, for the best key of all
            if self.count >= PRUNE_FROM:
                found = self._pruned(n, among)
                if isinstance(found, tuple):
                    return found
                floor = found
            elif among is None:  # a word's scores are partial scores: the n-th best of the rarest is a lower bound
                word = next((w for w in self.words if len(w.keys) >= n), None)
                if word is not None:
                    floor = max(floor, _nth((word.scores.astype(np.float64) * word.times).astype(np.float32), n))
            self.every = self.scores()
        # Every posting summed; the n best score at least ``floor``, which spares sorting every positive score
        # (most keys of a large index share a common word with a long question).
        scores = self.every
        rows = np.flatnonzero(scores >= floor) if among is None else among[scores[among] >= floor]
        return best(rows, scores[rows], n)

    def _pruned(self, n: int, among: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | np.float32:
        """:meth:`top` from the rare words' postings and lookups of the common ones, or, when that would cost
        more than summing every posting, a lower bound of the n-th best score found on the way."""
        floor = np.nextafter(np.float32(0), np.float32(1))
        budget, summed = PRUNE_SHARE * sum(len(w.keys) for w in self.words), 0
        totals = np.zeros(self.count)  # of the words summed so far (pages are mapped only where touched)
        seen = np.zeros(self.count, dtype=bool)  # the keys holding any word summed so far
        for split, word in enumerate(self.words, 1):
            summed += len(word.keys)
            if split > 1 and summed > budget:  # the first word's postings are its scores: nothing to merge
                return floor
            added, scores = word.keys, word.scores
            if among is not None:
                admitted = np.isin(added, among)
                added, scores = added[admitted], scores[admitted]
            added = added.astype(np.intp)  # indexing with int32 converts on every use
            totals[added] += scores.astype(np.float64) * word.times  # a word holds each key once
            seen[added] = True
            rest = self.words[split:]
            if not rest:
                keys = np.flatnonzero(seen)
                return best(keys, totals[keys].astype(np.float32), n)
            ceiling = sum(w.ceiling for w in rest)  # the most that the rest can add to any key
            if ceiling >= sum(w.ceiling for w in self.words[:split]):
                continue  # no partial score can exceed the rest's ceiling yet: not worth a look
            keys = np.flatnonzero(seen)  # ascending: for best(), and binary searches in order are faster
            partial = totals[keys]
            if len(keys) < n:
                continue
            floor = nth = _nth(partial.astype(np.float32), n)
            if np.float32(ceiling) >= nth:
                continue
            # A key outside ``keys`` scores at most ``ceiling``, below the n-th best partial score (a lower bound
            # of the n-th best score): never among the n best. Nor is a key whose partial score plus the ceiling of
            # the words not yet counted stays below it. The rest are only looked up, for the keys still in the race.
            for i, word in enumerate(rest):
                alive = (partial + ceiling).astype(np.float32) >= nth
                keys, partial = keys[alive], _add(partial[alive], keys[alive], [word])
                ceiling = sum(w.ceiling for w in rest[i + 1 :])
                nth = _nth(partial.astype(np.float32), n)  # partial scores only grow: a higher bound
            return best(keys, partial.astype(np.float32), n)
        return floor

    def at(self, positions: np.ndarray) -> np.ndarray:
        """The float32 scores of the keys at ``positions``."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.every is not None:
            return self.every[positions]
        return _add(np.zeros(len(positions)), positions, self.words).astype(np.float32)


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
