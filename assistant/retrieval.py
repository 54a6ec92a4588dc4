"""Retrieval: a question in, ranked verbatim official answers (Hits) out."""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from embeddings.encoder import Encoder, load_encoder
from embeddings.errors import PressroomError
from embeddings.index import Index, exists
from embeddings.ingest import ingest
from embeddings.store import Answer, AnswerFilter

from .conversation import Query, understand
from .questions import strip_framing
from .settings import Settings, check_k

MAX_QUESTION_CHARS = 2000
CANDIDATES_PER_ANSWER = 8  # paragraph vectors fetched per answer wanted, before grouping by answer
# Fused score = (1 - w) × cosine + w × BM25 / (best key's BM25 for this question). w = 0.15 was best on the
# benchmark's tune split (0.05…0.5 tried; dividing BM25 by its query-independent ceiling instead did worse).
FUSION_WEIGHT = 0.15
# Below this fused score of the best key there is no official answer on the subject: calibrated on the tune
# split against tests/data/off_topic_questions.txt (`pressroom bench quality … --off-topic FILE`).
ABSTAIN_BELOW = 0.32


@dataclass(frozen=True)
class Hit:
    """One ranked official answer: the whole answer verbatim and the paragraph that matched best."""

    answer: Answer
    score: float
    matched: int  # index into answer.paragraphs

    @property
    def matched_text(self) -> str:
        return self.answer.paragraphs[self.matched].text

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
            "date": a.date.isoformat() if a.date else None,
            "published": a.published.isoformat() if a.published else None,
            "source": a.source,
            "asked_by": a.asked_by,
            "asked": a.asked,
            "also": [day.isoformat() for day in a.also],  # the same words said on other days
            "score": round(self.score, 4),
            "id": a.id,
        }


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


def clean_question(question: object) -> str:
    """The question as searched: text with control characters removed, or a sentence saying what is wrong."""
    if not isinstance(question, str):
        raise PressroomError(f"The question must be text (got {type(question).__name__}).")
    # Lone surrogates and control characters cannot be encoded or displayed: drop them.
    text = question.encode("utf-8", "ignore").decode("utf-8")
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
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise PressroomError(f"{name} must be a date like 2024-03-28 (got {str(value)[:40]!r}).") from None

    where = AnswerFilter(text(speaker, "speaker"), text(conference, "conference"), day(since, "from"),
                         day(until, "to"))
    if where.since and where.until and where.since > where.until:
        raise PressroomError(f"from ({where.since}) is after to ({where.until}).")
    return where


class Retriever:
    """Searches one index with one encoder. Thread-safe for concurrent questions."""

    def __init__(self, index: Index, encoder: Encoder, *, fusion_weight: float = FUSION_WEIGHT,
                 abstain_below: float = ABSTAIN_BELOW, strip: bool = True) -> None:
        self.index = index
        self.encoder = encoder
        self.fusion_weight = fusion_weight  # 0: vectors only
        self.abstain_below = abstain_below  # -inf: always answer
        self.strip = strip  # strip courtesies and framing before searching
        # A generation never changes, so the rows a filter admits are computed once per filter, not per question.
        self._positions = lru_cache(maxsize=256)(index.store.positions)

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
            where: filters chosen by the user; a speaker named in the question ("what did Gu Jun say
                about …") narrows them further.
            earlier: the user's earlier questions in this conversation, oldest first.
        """
        k = check_k(k)
        text = clean_question(question)
        where = where or AnswerFilter()
        query = understand(text, [q for q in earlier if isinstance(q, str)], self.speakers)
        if query.speaker and not where.speaker:
            where = replace(where, speaker=query.speaker)
        return Reply(text, query, where, self.search(query.text, k, where))

    @cached_property
    def speakers(self) -> list[str]:
        """The officials in the index, most answers first."""
        return self.index.store.speakers()

    def example_questions(self, n: int = 4) -> list[str]:
        """Up to ``n`` short questions taken verbatim from journalists in the index: one sentence each."""
        examples: list[str] = []
        for question in self.index.store.questions():
            sentences = [s.strip() for s in re.split(r"(?<=[?])\s+", question) if s.strip().endswith("?")]
            fitting = [s for s in sentences if 30 <= len(s) <= 150 and s[0].isupper()]
            if fitting and fitting[0] not in examples:
                examples.append(fitting[0])
            if len(examples) == n:
                break
        return examples

    def search(self, question: str, k: int = 5, where: AnswerFilter | None = None) -> list[Hit]:
        """The ``k`` best official answers to ``question`` that ``where`` admits, best first.

        None when nothing is on the subject (the best score is below the abstention threshold).
        """
        k = check_k(k)
        text = clean_question(question)
        if self.index.manifest.count == 0:
            return []
        among = self._positions(where) if where else None
        if among is not None and len(among) == 0:
            return []
        scores, positions = self._candidates(text, k * CANDIDATES_PER_ANSWER, among)
        if not len(scores) or scores[0] < self.abstain_below:
            return []
        keys = self.index.store.keys_at(positions.tolist())
        best: dict[str, tuple[float, int]] = {}  # answer -> (max paragraph score, paragraph)
        for score, pos in zip(scores, positions, strict=True):
            turn, paragraph = keys[int(pos)]
            if turn not in best or score > best[turn][0]:
                best[turn] = (float(score), paragraph)
        ranked = sorted(best.items(), key=lambda item: -item[1][0])[:k]
        answers = self.index.store.answers([turn for turn, _ in ranked])
        return [Hit(answers[turn], score, paragraph) for turn, (score, paragraph) in ranked]

    def _candidates(self, text: str, n: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best keys for ``text`` by fused score: (scores, key positions), best first.

        Candidates are the union of the vectors' top ``n`` and BM25's top ``n``, each scored by both;
        ``among`` (a filter) limits both. BM25 is normalised over the whole index, so a filter changes
        which answers may come back, never their scores.
        """
        query = strip_framing(text) if self.strip else text
        vector = self.encoder.encode([query], query=True)
        dense, positions = self.index.search(vector, n, among)
        dense, positions = dense[0][positions[0] >= 0], positions[0][positions[0] >= 0]
        if not self.fusion_weight:
            return dense, positions
        bm25 = self.index.keywords.scores(query)
        bm25 /= max(float(bm25.max()), 1e-9)  # no word in common: all zeros, the fused score is (1 - w) × cosine
        if among is None:
            by_words = np.argsort(-bm25, kind="stable")[:n]
        else:
            by_words = among[np.argsort(-bm25[among], kind="stable")[:n]]
        positions = np.union1d(positions, by_words)
        cosine = self.index.vectors.reconstruct_batch(positions) @ vector[0]
        fused = (1 - self.fusion_weight) * cosine + self.fusion_weight * bm25[positions]
        order = np.argsort(-fused, kind="stable")[:n]
        return fused[order], positions[order]

    def close(self) -> None:
        self.index.close()


_default: Retriever | None = None


def search(question: str, k: int = 5, settings: Settings | None = None) -> list[Hit]:
    """The ``k`` best official answers to ``question`` from the default index (opened once)."""
    global _default
    if _default is None or settings is not None:
        _default = Retriever.open(settings or Settings.load())
    return _default.search(question, k)
