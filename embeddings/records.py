"""The named records that flow from the parser to the screen: Conference, Turn, Paragraph."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """Who is speaking."""

    JOURNALIST = "journalist"
    OFFICIAL = "official"
    MODERATOR = "moderator"
    INTERPRETER = "interpreter"  # an interpreter's note: never an official's words


class Kind(StrEnum):
    """What a turn does in the conference. Only ANSWER and STATEMENT are ever returned."""

    QUESTION = "question"
    ANSWER = "answer"
    STATEMENT = "statement"  # an official's briefing, not a reply to a question
    HANDOFF = "handoff"  # only passes the floor ("This question goes to Mr. Gu.")
    REMARKS = "remarks"  # the chair's opening and closing words

    @property
    def searchable(self) -> bool:
        return self in (Kind.ANSWER, Kind.STATEMENT)


@dataclass(frozen=True)
class Paragraph:
    """A verbatim paragraph: ``text == source_text[start:end]`` of page ``page``."""

    text: str
    start: int
    end: int
    page: int = 1


@dataclass(frozen=True)
class Turn:
    """One speaker's uninterrupted contribution.

    ``replies_to`` is the position (in ``Conference.turns``) of the journalist's question that an
    answer or hand-off replies to; ``None`` for questions, statements and remarks.
    """

    speaker: str
    role: Role
    kind: Kind
    paragraphs: tuple[Paragraph, ...]
    outlet: str | None = None  # journalists: the outlet that asked
    title: str | None = None  # officials: title from a "Speakers:" block or metadata
    replies_to: int | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.paragraphs)


@dataclass(frozen=True)
class Page:
    """One published page of a conference: where it came from (URL and/or local path)."""

    number: int
    url: str | None = None
    path: str | None = None

    @property
    def source(self) -> str:
        return self.url or self.path or ""


@dataclass(frozen=True)
class Conference:
    """A press conference: header facts and its turns in order."""

    title: str
    pages: tuple[Page, ...]
    turns: tuple[Turn, ...]
    held: date | None = None  # the day the conference took place (shown to users)
    published: date | None = None  # the day the transcript was published
    category: str | None = None
    summary: str | None = None
    speakers: dict[str, str] = field(default_factory=dict)  # declared officials: name -> title

    @property
    def source(self) -> str:
        """The address users are sent to: the first page's URL, else its path."""
        return self.pages[0].source if self.pages else ""

    @property
    def id(self) -> str:
        """Stable id: derived from where the conference comes from, not from insertion order."""
        return stable_id(self.source or self.title)

    @property
    def date(self) -> date | None:
        return self.held or self.published

    def page(self, number: int) -> Page:
        for page in self.pages:
            if page.number == number:
                return page
        raise KeyError(f"conference has no page {number}")

    def to_json(self) -> dict[str, Any]:
        """The conference as `pressroom show --json` prints it: turns numbered from 1, as the text output numbers
        them, with whole paragraphs (verbatim: scripts get the text itself, never a shortened one)."""
        return {
            "id": self.id, "title": self.title, "date": _iso(self.date), "held": _iso(self.held),
            "published": _iso(self.published),
            "sources": [{"page": p.number, "url": p.url, "path": p.path} for p in self.pages],
            "turns": [{
                "number": n, "speaker": t.speaker, "title": t.title, "outlet": t.outlet, "role": t.role.value,
                "kind": t.kind.value, "in_reply_to": None if t.replies_to is None else t.replies_to + 1,
                "returnable": t.kind.searchable, "page": t.paragraphs[0].page if t.paragraphs else None,
                "paragraphs": [p.text for p in t.paragraphs],
            } for n, t in enumerate(self.turns, 1)],
        }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def stable_id(*parts: str) -> str:
    """A short hex id from content, the same on every machine and rebuild."""
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def text_hash(text: str) -> str:
    """Key of the embedding cache: one vector per distinct text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
