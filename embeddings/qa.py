"""Question/answer JSONL (one pair a line, as in the Foreign Ministry benchmark) read into Conferences."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .errors import TranscriptError
from .records import Conference, Kind, Page, Paragraph, Role, Turn
from .transcripts import MAX_TRANSCRIPT_BYTES, decode_transcript

FIELDS = {
    "question": ("question",),
    "answer": ("answer",),
    "speaker": ("spokesperson", "speaker"),
    "date": ("date",),
    "source": ("link", "source", "url"),
    "asked_by": ("asked_by", "outlet"),
    "title": ("title", "conference"),
}


@dataclass(frozen=True)
class QAPair:
    """One line of a Q&A file, validated."""

    line: int
    question: str
    answer: str
    speaker: str
    day: date | None
    source: str
    asked_by: str | None
    title: str | None
    id: str | None = None  # the line's own "id", when it has one (benchmarks refer to pairs by it)


def _field(row: dict, name: str) -> str | None:
    for key in FIELDS[name]:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def read_pairs(path: Path) -> tuple[list[QAPair], list[str]]:
    """The valid pairs of a JSONL file, and one sentence per line that could not be used."""
    where = str(path)
    size = path.stat().st_size
    if size > MAX_TRANSCRIPT_BYTES * 5:
        raise TranscriptError(f"{where} is {size / 1e6:.0f} MB; Q&A files over "
                              f"{MAX_TRANSCRIPT_BYTES * 5 / 1e6:.0f} MB are refused (split it).")
    text = decode_transcript(path.read_bytes(), where)
    pairs: list[QAPair] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where} line {number} is not JSON ({exc.msg}).")
            continue
        if not isinstance(row, dict):
            problems.append(f"{where} line {number} is not a JSON object.")
            continue
        answer, question = _field(row, "answer"), _field(row, "question")
        missing = [n for n, v in (("answer", answer), ("question", question)) if v is None]
        if missing:
            problems.append(f"{where} line {number} has no {' or '.join(missing)}.")
            continue
        raw_day = _field(row, "date")
        try:
            day = date.fromisoformat(raw_day) if raw_day else None
        except ValueError:
            day = None  # the source has placeholder dates such as "2004----": keep the pair, undated
        pairs.append(QAPair(
            line=number, question=question, answer=answer, speaker=_field(row, "speaker") or "Spokesperson",
            day=day, source=_field(row, "source") or f"{where}#{number}", asked_by=_field(row, "asked_by"),
            title=_field(row, "title"), id=row["id"] if isinstance(row.get("id"), str) else None,
        ))
    if not pairs and not problems:
        raise TranscriptError(f"{where} has no question/answer lines.")
    return pairs, problems


def _paragraphs(text: str) -> tuple[Paragraph, ...]:
    """Paragraphs of an answer field: its non-empty lines, offsets into the field's text."""
    out = []
    for m in re.finditer(r"[^\n]+", text):
        stripped = m.group().strip()
        if stripped:
            start = m.start() + m.group().index(stripped)
            out.append(Paragraph(stripped, start, start + len(stripped)))
    return tuple(out)


def conferences_from_pairs(pairs: list[QAPair], path: Path) -> list[Conference]:
    """One Conference per source page (link): each pair a journalist's question and an official's answer.

    Offsets of answer paragraphs refer to the ``answer`` field of the pair's line, so every returned
    paragraph is verbatim from the file.
    """
    grouped: dict[str, list[QAPair]] = {}
    for pair in pairs:
        grouped.setdefault(pair.source, []).append(pair)
    conferences = []
    for source, group in grouped.items():
        turns: list[Turn] = []
        for pair in group:
            turns.append(Turn(speaker=pair.asked_by or "Journalist", role=Role.JOURNALIST, kind=Kind.QUESTION,
                              paragraphs=_paragraphs(pair.question), outlet=pair.asked_by))
            turns.append(Turn(speaker=pair.speaker, role=Role.OFFICIAL, kind=Kind.ANSWER,
                              paragraphs=_paragraphs(pair.answer), replies_to=len(turns) - 1))
        day = group[0].day
        title = group[0].title or (f"Regular press conference, {day.isoformat()}" if day else "Press conference")
        # A conference's id comes from its source: a pair without a link is sourced at its line (file#line),
        # not at the bare file, or every such pair of the file would get one id and replace the one before.
        url = source if "://" in source else None
        conferences.append(Conference(
            title=title, pages=(Page(number=1, url=url, path=str(path) if url else source),),
            turns=tuple(turns), held=day,
        ))
    return conferences


def read_qa(path: Path) -> tuple[list[Conference], list[str]]:
    """Conferences from a Q&A JSONL file, and the lines that were skipped (one sentence each)."""
    pairs, problems = read_pairs(path)
    return conferences_from_pairs(pairs, path), problems
