"""Retrieval: a question in, ranked verbatim official answers (Hits) out."""

from __future__ import annotations

import contextlib
import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from embeddings.chinese import english_keywords, is_chinese
from embeddings.encoder import Encoder, load_encoder
from embeddings.errors import PressroomError
from embeddings.index import Index, exists
from embeddings.ingest import ingest
from embeddings.keywords import KeywordQuery
from embeddings.store import QUESTION_KEY, Answer, AnswerFilter, name_words

from .conversation import Query, understand
from .questions import strip_framing
from .settings import Settings, check_k

MAX_QUESTION_CHARS = 2000
CANDIDATES_PER_ANSWER = 8  # keys (paragraphs and questions) fetched per answer wanted, before grouping
# Fused score = (1 - w) × cosine + w × BM25 / (best key's BM25 for this question). w = 0.15 was best on the
# benchmark's tune split (0.05…0.5 tried; dividing BM25 by its query-independent ceiling instead did worse).
# A Chinese question's BM25 is that of its English dictionary glosses (embeddings.chinese), fused with the same
# weight: on Chinese translations of tune-split questions (tests/data/questions_zh_tune.tsv, multilingual-e5-small)
# R@5 was .317 with vectors alone, .585 at w = 0.1, 0.15 and 0.2, .561 at 0.3-0.6.
FUSION_WEIGHT = 0.15
# How the CLI and the chat head the answers marked below_threshold, shown after the others.
LESS_RELATED = "Less closely related:"


@dataclass(frozen=True)
class Hit:
    """One ranked official answer: the whole answer verbatim and the paragraph that matched best."""

    answer: Answer
    score: float
    matched: int  # index into answer.paragraphs
    # None of its keys reaches the abstention threshold (a question key: plus its margin), which some other answer's
    # did. It stays in the ranking (the benchmark's R@5 and R@10 count it) but is shown apart, as less related.
    below_threshold: bool = False

    @property
    def matched_text(self) -> str:
        return self.answer.paragraphs[self.matched].text

    @property
    def day(self) -> str:
        """The day to show: when the conference was held, else when its transcript was published, said so (a
        publication date shown bare reads as the conference's, days late)."""
        a = self.answer
        if a.held:
            return a.held.isoformat()
        return f"published {a.published.isoformat()}" if a.published else "date unknown"

    def to_json(self) -> dict[str, Any]:
        a = self.answer
        return {
            "text": a.text,
            "matched": self.matched_text,
            "matched_index": self.matched,
            "paragraphs": [p.text for p in a.paragraphs],
            "speaker": a.speaker,
            "title": a.title,
            "kind": a.kind.value,
            "conference": a.conference,
            "date": a.date.isoformat() if a.date else None,  # held, else published: the one day to show
            "held": a.held.isoformat() if a.held else None,  # null: the day it was held is not known
            "published": a.published.isoformat() if a.published else None,
            "source": a.source,
            "asked_by": a.asked_by,
            "asked": a.asked,
            "also": [day.isoformat() for day in a.also],  # the same words said on other days
            "score": round(self.score, 4),
            "below_threshold": self.below_threshold,
            "id": a.id,
        }


@dataclass(frozen=True)
class _Query:
    """A question ready to score keys: its unit vector and, when fusing, its BM25 and keyword candidates."""

    vector: np.ndarray
    bm25: KeywordQuery | None
    bm25_max: float = 1.0  # the best key's BM25 over the whole index (filters aside): fused BM25 is divided by it
    keyword_candidates: np.ndarray | None = None  # the keys with the best BM25 (within the filter)


@dataclass(frozen=True)
class Reply:
    """The answer to one chat turn: what was asked, what was searched, with which filter, and the hits."""

    question: str  # as typed, cleaned of control characters
    query: Query  # what was searched (a follow-up folds in the earlier topic)
    where: AnswerFilter
    hits: list[Hit]

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``pressroom ask --json`` and ``/api/ask``."""
        return {
            "question": self.question,
            "searched": self.query.text,
            "follow_up": self.query.follow_up,
            "filters": self.where.to_json(),
            "answers": [h.to_json() for h in self.hits],
        }

    @property
    def first_less_related(self) -> int | None:
        """Where the answers below the threshold start in ``hits`` (``Retriever.ask`` puts them last, never first),
        which the CLI and the chat head with ``LESS_RELATED``; None when there are none."""
        return next((i for i, hit in enumerate(self.hits) if hit.below_threshold), None)


def clean_question(question: object) -> str:
    """The question as searched: text with control characters removed, or a sentence saying what is wrong."""
    if not isinstance(question, str):
        raise PressroomError(f"The question must be text (got {type(question).__name__}).")
    # Lone surrogates and control characters cannot be encoded or displayed: drop them.
    text = question.encode("utf-8", "ignore").decode("utf-8")
    if not text.isprintable():  # printable text has no Cc or Cs character: skip the per-character pass (0.08 ms)
        text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise PressroomError(
            "The question is empty; type a few words, e.g. 'What is Shanghai's plan for sci-tech innovation?'"
        )
    if len(text) > MAX_QUESTION_CHARS:
        raise PressroomError(
            f"The question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}."
        )
    return text


def make_filter(speaker: str | None = None, conference: str | None = None, since: object = None,
                until: object = None) -> AnswerFilter:
    """An AnswerFilter from user input (blank means: no filter), or a sentence saying what is wrong.

    Dates are ``YYYY-MM-DD``; ``since`` after ``until`` is an error rather than an empty result.
    """
    def text(value: str | None, name: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise PressroomError(f"{name} must be text (got {type(value).__name__}).")
        value = clean_question(value) if value.strip() else ""
        return value or None

    def day(value: object, name: str) -> date | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, date):
            return value
        text = str(value).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text, re.ASCII):  # fromisoformat alone takes 20240328, 2024-W13-4
            with contextlib.suppress(ValueError):  # 2024-02-30
                return date.fromisoformat(text)
        raise PressroomError(f"{name} must be a date like 2024-03-28 (got {str(value)[:40]!r}).")

    where = AnswerFilter(text(speaker, "speaker"), text(conference, "conference"), day(since, "from"),
                         day(until, "to"))
    if where.since and where.until and where.since > where.until:
        raise PressroomError(f"from ({where.since}) is after to ({where.until}).")
    return where


class Retriever:
    """Searches one index with one encoder. Thread-safe for concurrent questions."""

    def __init__(self, index: Index, encoder: Encoder, *, fusion_weight: float = FUSION_WEIGHT,
                 abstain_below: float | None = None, strip: bool = True) -> None:
        self.index = index
        self.encoder = encoder
        self.fusion_weight = fusion_weight  # 0: vectors only
        # No official answer below this fused score: the model's own threshold unless given; -inf: always answer.
        self.abstain_below = encoder.abstain_below if abstain_below is None else abstain_below
        self.question_key_margin = encoder.question_key_margin
        self.strip = strip  # strip courtesies and framing before searching
        # A generation never changes, so the rows a filter admits are computed once per filter, not per question.
        self._positions = lru_cache(maxsize=256)(index.store.positions)
        # A question's BM25 runs here while its vector is computed (see _query); threads are made as needed.
        self._keywords = ThreadPoolExecutor(max_workers=32, thread_name_prefix="pressroom-bm25")

    @classmethod
    def open(cls, settings: Settings, *, log: Callable[[str], None] | None = None) -> Retriever:
        """Open the index in ``settings``; on first use build it from the data folder."""
        encoder = load_encoder(settings.model)
        if not exists(settings.index):
            say = log or (lambda msg: print(msg, file=sys.stderr))
            say(f"No index at {settings.index} yet: building it from {settings.data} (first run).")
            report = ingest([settings.data], settings.index, encoder, progress=True)
            for _, why in report.rejected:
                say(f"  skipped: {why}")
        return cls(Index.open(settings.index, model=encoder.name), encoder)

    def ask(self, question: str, k: int = 5, where: AnswerFilter | None = None,
            earlier: Sequence[str] = ()) -> Reply:
        """Answer one chat turn: understand it in the conversation, then search.

        Args:
            question: the question as typed.
            k: how many answers (1-50).
            where: filters chosen by the user; a speaker or a period named in the question ("what did Gu Jun
                say about …", "… in April 2025") narrows them further.
            earlier: the user's earlier questions in this conversation, oldest first.
        """
        k = check_k(k)
        text = clean_question(question)
        where = where or AnswerFilter()
        query = understand(text, [q for q in earlier if isinstance(q, str)], self.speakers)
        if query.speaker and not where.speaker:
            where = replace(where, speaker=query.speaker)
        # Both: a name in this question must be one the filter admits; one kept from an earlier question yields to
        # the filter (picked since then).
        elif query.speaker and not query.speaker_from_earlier:
            if name_words(where.speaker) in name_words(query.speaker):  # "Gu Jun" within --speaker Gu
                where = replace(where, speaker=query.speaker)
            elif name_words(query.speaker) not in name_words(where.speaker):
                # "What did Gu Jun say" under --speaker Wang: Wang's words are no answer to it
                return Reply(text, query, where, [])
        where = _within_period(where, query)
        if where.since and where.until and where.since > where.until:  # "in 2023" under --from 2024-01-01
            return Reply(text, query, where, [])
        return Reply(text, query, where, self.search(query.text, k, where, relevant_first=True))

    @cached_property
    def speakers(self) -> list[str]:
        """The officials in the index, most answers first."""
        return self.index.store.speakers()

    def example_questions(self, n: int = 4) -> list[str]:
        """Up to ``n`` short questions taken verbatim from journalists in the index: each a question's opening, up to
        its first question mark. A later one ("Does the foreign ministry have any comment on it?", "If so, what
        kind of actions …?") leans on the words before it and, on its own, asks about nothing."""
        examples: list[str] = []
        for question in self.index.store.questions():
            opening = re.split(r"(?<=[?])\s+", question.strip(), maxsplit=1)[0]
            if opening.endswith("?") and 30 <= len(opening) <= 150 and opening[0].isupper() and opening not in examples:
                examples.append(opening)
            if len(examples) == n:
                break
        return examples

    def search(self, question: str, k: int = 5, where: AnswerFilter | None = None, *,
               relevant_first: bool = False) -> list[Hit]:
        """The ``k`` best official answers to ``question`` that ``where`` admits, best first.

        An answer scores as its best key: one of its paragraphs or a journalist's question it replied to. None
        when nothing is on the subject (no paragraph scores ``abstain_below``, no question that plus
        the model's ``question_key_margin``); otherwise the answers none of whose keys does are still ranked,
        marked ``below_threshold``. With ``relevant_first`` (as shown), those above the threshold come first,
        then the others, each in ranked order, before the cut to ``k``: a higher-scoring answer below the
        threshold must not push the ones that fit out of the reply (the benchmark ranks by score alone).
        """
        k = check_k(k)
        text = clean_question(question)
        if self.index.manifest.count == 0:
            return []
        among = self._positions(where) if where else None
        if among is not None and len(among) == 0:
            return []
        n = k * CANDIDATES_PER_ANSWER
        query = self._query(text, n, among)
        scores, positions = self._candidates(query, n, among)
        if not len(scores) or scores[0] < self.abstain_below:
            return []
        keys = self.index.store.keys_at(positions.tolist())
        best: dict[str, float] = {}  # answer -> max score over its keys (paragraphs and questions)
        matched: dict[str, tuple[float, int]] = {}  # answer -> (best paragraph key's score, paragraph)
        relevant: set[str] = set()  # answers with a key at or above its threshold
        for score, pos in zip(scores.tolist(), positions.tolist(), strict=True):
            turn, paragraph = keys[pos]
            best[turn] = max(best.get(turn, score), score)
            if paragraph != QUESTION_KEY and (turn not in matched or score > matched[turn][0]):
                matched[turn] = (score, paragraph)
            if self._reaches_threshold(score, paragraph):
                relevant.add(turn)
        if not relevant:
            return []
        ranked = sorted(best.items(), key=lambda item: (relevant_first and item[0] not in relevant, -item[1]))[:k]
        # An answer found by its question alone: bold its best-scoring paragraph, never the question.
        unmatched = [turn for turn, _ in ranked if turn not in matched]
        found = self.index.store.paragraph_keys(unmatched)
        if found:  # one fused scoring for all of them: each call costs a lookup per question word
            # Keys of the same paragraph have the same words, so the same BM25: one lookup serves them all (never
            # two in an ingested index; ~236 copies of each in `bench speed`'s synthetic 1e6 one, 1.2 ms a question).
            keys = [(turn, pos, paragraph) for turn, rows in found.items() for pos, paragraph in rows]
            first: dict[tuple[str, int], int] = {}  # (answer, paragraph) -> the index of its first key
            words_of = [first.setdefault((turn, paragraph), i) for i, (turn, _, paragraph) in enumerate(keys)]
            positions = np.array([pos for _, pos, _ in keys], dtype=np.int64)
            fused = self._fused(query, positions, np.array(words_of))
            start = 0
            for turn, rows in found.items():
                own = fused[start : start + len(rows)]
                matched[turn] = (float(own.max()), rows[int(np.argmax(own))][1])
                start += len(rows)
        answers = self.index.store.answers([turn for turn, _ in ranked])
        return [Hit(answers[turn], score, matched.get(turn, (score, 0))[1], turn not in relevant)
                for turn, score in ranked]

    def _reaches_threshold(self, score: float, paragraph: int) -> bool:
        """Whether a key's score is on the subject: a journalist's question key needs the model's margin on top, as
        users' questions resemble journalists' more than they resemble answers."""
        return score >= self.abstain_below + (self.question_key_margin if paragraph == QUESTION_KEY else 0)

    def _query(self, text: str, n: int, among: np.ndarray | None) -> _Query:
        """The question as both scorers see it: its vector, and its BM25 with the ``n`` best keys by it; a Chinese
        question is scored by BM25 as its English dictionary glosses."""
        text = strip_framing(text) if self.strip else text
        if not self.fusion_weight:
            return _Query(self.encoder.encode([text], query=True)[0], None)
        # BM25 does not need the vector, so it runs on another thread meanwhile: onnxruntime releases the GIL, and
        # a question alone keeps both cores busy (quiet machine, 2026-11-29, long questions p50: 1e5 passages 8.11 ->
        # 6.08 ms, 1e6 11.11 -> 8.67 ms; see docs/speed.md); the same results.
        keywords = self._keywords.submit(self._bm25, text, n, among)
        vector = self.encoder.encode([text], query=True)[0]
        return _Query(vector, *keywords.result())

    def _bm25(self, text: str, n: int, among: np.ndarray | None) -> tuple[KeywordQuery, float, np.ndarray]:
        """The question's BM25, its best score over the whole index and its ``n`` best keys within ``among``."""
        keywords = self.index.keywords
        bm25 = keywords.weighted_query(english_keywords(text)) if is_chinese(text) else keywords.query(text)
        found, scores = bm25.top(n, among)
        if among is not None:  # the normaliser is over the whole index: a filter never changes scores
            scores = bm25.top(1)[1]
        # No word in common: all BM25 scores are 0, and the fused score is (1 - w) × cosine.
        return bm25, max(float(scores.max(initial=0)), 1e-9), found

    def _fused(self, query: _Query, positions: np.ndarray, words_of: np.ndarray | None = None) -> np.ndarray:
        """The fused score of ``query`` against the keys at ``positions``; ``words_of[i]``, when given, is an index
        into ``positions`` of a key with the same text as key ``i`` (whose BM25 serves both)."""
        cosine = self.index.vectors.reconstruct_batch(positions) @ query.vector
        if query.bm25 is None:
            return cosine
        if words_of is None:
            bm25 = query.bm25.at(positions)
        else:
            scored = np.unique(words_of)
            bm25 = np.zeros(len(positions), dtype=np.float32)
            bm25[scored] = query.bm25.at(positions[scored])
            bm25 = bm25[words_of]
        return (1 - self.fusion_weight) * cosine + self.fusion_weight * (bm25 / query.bm25_max)

    def _candidates(self, query: _Query, n: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best keys for ``query`` by fused score: (scores, key positions), best first.

        Candidates are the union of the vectors' top ``n`` and BM25's top ``n``, each scored by both;
        ``among`` (a filter) limits both. BM25 is normalised over the whole index, so a filter changes
        which answers may come back, never their scores.
        """
        dense, positions = self.index.search(query.vector[None, :], n, among)
        dense, positions = dense[0][positions[0] >= 0], positions[0][positions[0] >= 0]
        if query.keyword_candidates is None:
            return dense, positions
        positions = np.union1d(positions, query.keyword_candidates)
        fused = self._fused(query, positions)
        order = np.argsort(-fused, kind="stable")[:n]
        return fused[order], positions[order]

    def close(self) -> None:
        self._keywords.shutdown()
        self.index.close()


def _within_period(where: AnswerFilter, query: Query) -> AnswerFilter:
    """``where`` narrowed to the period the question names: the answers must satisfy both (an empty intersection
    shows as ``since`` after ``until``). A period kept from an earlier question yields to dates in the filter,
    set since then."""
    if query.period is None or (query.period_from_earlier and (where.since or where.until)):
        return where
    since, until = query.period
    return replace(where, since=max(filter(None, (where.since, since)), default=None),
                   until=min(filter(None, (where.until, until)), default=None))


_default: Retriever | None = None


def search(question: str, k: int = 5, settings: Settings | None = None) -> list[Hit]:
    """The ``k`` best official answers to ``question`` from the default index (opened once)."""
    global _default
    if _default is None or settings is not None:
        _default = Retriever.open(settings or Settings.load())
    return _default.search(question, k)
