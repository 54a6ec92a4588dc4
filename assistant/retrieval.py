"""Retrieval: a question in, ranked verbatim official answers (Hits) out."""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from embeddings.encoder import Encoder, load_encoder
from embeddings.errors import PressroomError
from embeddings.index import Index, exists
from embeddings.ingest import ingest
from embeddings.store import Answer

from .settings import Settings, check_k

MAX_QUESTION_CHARS = 2000
CANDIDATES_PER_ANSWER = 8  # paragraph vectors fetched per answer wanted, before grouping by answer


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


class Retriever:
    """Searches one index with one encoder. Thread-safe for concurrent questions."""

    def __init__(self, index: Index, encoder: Encoder) -> None:
        self.index = index
        self.encoder = encoder

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

    def search(self, question: str, k: int = 5) -> list[Hit]:
        """The ``k`` best official answers to ``question``, best first."""
        k = check_k(k)
        text = clean_question(question)
        if self.index.manifest.count == 0:
            return []
        query = self.encoder.encode([text])
        scores, positions = self.index.search(query, k * CANDIDATES_PER_ANSWER)
        keys = self.index.store.keys_at([p for p in positions[0] if p >= 0])
        best: dict[str, tuple[float, int]] = {}  # answer -> (max paragraph score, paragraph)
        for score, pos in zip(scores[0], positions[0], strict=True):
            if pos < 0:
                continue
            turn, paragraph = keys[int(pos)]
            if turn not in best or score > best[turn][0]:
                best[turn] = (float(score), paragraph)
        ranked = sorted(best.items(), key=lambda item: -item[1][0])[:k]
        answers = self.index.store.answers([turn for turn, _ in ranked])
        return [Hit(answers[turn], score, paragraph) for turn, (score, paragraph) in ranked]

    def close(self) -> None:
        self.index.close()


_default: Retriever | None = None


def search(question: str, k: int = 5, settings: Settings | None = None) -> list[Hit]:
    """The ``k`` best official answers to ``question`` from the default index (opened once)."""
    global _default
    if _default is None or settings is not None:
        _default = Retriever.open(settings or Settings.load())
    return _default.search(question, k)
