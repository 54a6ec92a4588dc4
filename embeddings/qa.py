"""Question/answer JSONL (one pair a line, as in the Foreign Ministry benchmark) read into Conferences."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from .errors import TranscriptError
from .records import Conference, Kind, Page, Paragraph, Role, Turn
from .transcripts import MAX_TRANSCRIPT_BYTES, decode_transcript

MAX_QA_BYTES = MAX_TRANSCRIPT_BYTES * 5  # a Q&A file holds many conferences
STDIN = "-"  # a path of "-" names standard input

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


# What a source writes where it does not know the value ("spokesperson": "missing" in the MFA file).
_PLACEHOLDERS = {"missing", "unknown", "n/a", "na", "none", "null", "-", "--", "?"}


def _field(row: dict, name: str) -> str | None:
    for key in FIELDS[name]:
        value = row.get(key)
        if isinstance(value, str) and value.strip() and value.strip().casefold() not in _PLACEHOLDERS:
            return value
    return None


def read_pairs(path: Path) -> tuple[list[QAPair], list[str]]:
    """The valid pairs of a JSONL file (``-``: standard input, read once), and one sentence per line that could
    not be used."""
    if str(path) == STDIN:  # `pressroom bench quality -`, `pressroom tune -`: the house's `-` for stdin
        where, data = "stdin", sys.stdin.buffer.read(MAX_QA_BYTES + 1)
        size = len(data)
    else:
        where, data = str(path), None
        size = path.stat().st_size
    if size > MAX_QA_BYTES:
        raise TranscriptError(f"{where} is {size / 1e6:.0f} MB; Q&A files over {MAX_QA_BYTES / 1e6:.0f} MB are "
                              "refused (split it).")
    return parse_pairs(decode_transcript(path.read_bytes() if data is None else data, where), where)


def parse_pairs(text: str, where: str) -> tuple[list[QAPair], list[str]]:
    """The valid pairs of JSONL text named ``where`` (a file, or standard input), and one sentence per line that
    could not be used."""
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
            keys = ", ".join(row) or "none"  # {"q": …, "a": …}: the sentence shows what the line calls them
            problems.append(f"{where} line {number} has no {' or '.join(missing)} (its keys: {keys}); each line "
                            'needs a "question" and an "answer" with text.')
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


# Another voice inside an answer field (the source runs a press conference's exchanges together): the journalist
# who asked, again ("Follow-up: …", "Journalist: Yes."); an outlet ("RT: …"); someone unnamed ("Q: …", a question
# "raised after the press conference"); the spokesperson again ("A: …"); or a "***" break before something said
# apart from the question.
_VOICE = re.compile(
    r"(?:^|(?<=[.?!。？！”\"’)*])|(?<=[.?!。？！”\"’)*]\s))\s*"
    r"(?:(?P<official>A)|"
    r"(?P<again>Follow-up(?: question)?|Journalist|Reporter|The journalist (?:clarified|said|asked))|"
    r"(?P<outlet>RT|AFP|CCTV|CNN|BBC|NHK|TASS|EFE)|(?P<unnamed>Q|The following questions? (?:was|were) raised "
    r"after the press conference))\s?[:：]\s*|\s*\*{3,}\s*"
)
_SENTENCE = re.compile(r"[^.?!。？！]*[.?!。？！]+[”\"’)]*\s*|[^.?!。？！]+$")


@dataclass(frozen=True)
class _Voice:
    """A stretch of an answer field said by one side: the official, or a journalist (with the outlet, if known)."""

    start: int
    end: int
    journalist: bool = False
    outlet: str | None = None
    apart: bool = False  # the official after a "***" break: not a reply to the question before it


def _voices(text: str, asked_by: str | None) -> list[_Voice]:
    """The answer field cut where another voice speaks; a journalist's stretch with no "A:" after it ends with its
    run of question sentences, and the question sentences just before an "A:" are a journalist's."""
    cuts = [_Voice(0, 0)]  # each a voice's start: (label start, words start) as (start, end)
    # Every label ends in a colon, every break is "***": 66 of 2,117 benchmark answers hold either, and the scan
    # for labels cost the rest 40 µs each (a tenth of what ingest does besides encoding).
    labelled = ":" in text or "：" in text or "***" in text
    for m in _VOICE.finditer(text) if labelled else ():
        if not text[m.start():m.end()].strip():
            continue
        journalist = not (m.group("official") or m.group(0).strip().startswith("*"))
        outlet = asked_by if m.group("again") else m.group("outlet")
        cuts.append(_Voice(m.start(), m.end(), journalist, outlet, apart=m.group(0).strip().startswith("*")))
    if len(cuts) > 1 and cuts[1].start == 0:
        cuts.pop(0)  # the field opens with a label ("A:The Chinese Government …")
    voices: list[_Voice] = []
    apart = False
    for cut, following in zip(cuts, [*cuts[1:], None], strict=True):
        start, end = cut.end, following.start if following else len(text)
        apart = (apart or cut.apart) and not cut.journalist
        answered = following is not None and not following.journalist and not following.apart  # an "A:" follows
        if cut.journalist and not answered:
            split = _after_questions(text, start, end)
            voices += [replace(cut, start=start, end=split), _Voice(split, end, apart=apart)]
        elif not cut.journalist and answered:
            split = _before_questions(text, start, end)
            voices += [_Voice(start, split, apart=apart), _Voice(split, end, journalist=True)]
        else:
            voices.append(replace(cut, start=start, end=end, apart=apart))
    return [v for v in voices if text[v.start:v.end].strip(" \n*")]


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(start + m.start(), start + m.end()) for m in _SENTENCE.finditer(text[start:end]) if m.group().strip()]


def _after_questions(text: str, start: int, end: int) -> int:
    """Where the first run of question sentences in ``text[start:end]`` ends (``end`` if none)."""
    seen = False
    for s, e in _sentences(text, start, end):
        asks = text[s:e].rstrip(" ”\"’)").endswith(("?", "？"))
        if seen and not asks:
            return s
        seen = seen or asks
    return end


def _before_questions(text: str, start: int, end: int) -> int:
    """Where the closing run of question sentences of ``text[start:end]`` starts (``end`` if none)."""
    split = end
    for s, e in reversed(_sentences(text, start, end)):
        if not text[s:e].rstrip(" ”\"’)").endswith(("?", "？")):
            break
        split = s
    return split if split > start else end


def _paragraphs(text: str, start: int = 0, end: int | None = None) -> tuple[Paragraph, ...]:
    """Paragraphs of ``text[start:end]`` (an answer field): its non-empty lines, offsets into the field's text."""
    out = []
    for m in re.finditer(r"[^\n]+", text[start:end]):
        stripped = m.group().strip(" \t\r*")
        if stripped:
            at = start + m.start() + m.group().index(stripped)
            out.append(Paragraph(stripped, at, at + len(stripped)))
    return tuple(out)


def conferences_from_pairs(pairs: list[QAPair], path: Path, *, voices: bool = False) -> list[Conference]:
    """One Conference per source page (link): each pair a journalist's question and an official's answer.

    Offsets of answer paragraphs refer to the ``answer`` field of the pair's line, so every returned
    paragraph is verbatim from the file. With ``voices`` (as ingest reads a file), the journalist's words that
    the source runs into an answer ("RT: …", "Follow-up: … A: …") are questions of their own, never the
    official's answer; without it (`bench quality`, whose gold is the whole field) an answer is its whole field.
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
            if not voices:
                turns.append(Turn(speaker=pair.speaker, role=Role.OFFICIAL, kind=Kind.ANSWER,
                                  paragraphs=_paragraphs(pair.answer), replies_to=len(turns) - 1))
                continue
            question: int | None = len(turns) - 1
            for voice in _voices(pair.answer, pair.asked_by):
                paragraphs = _paragraphs(pair.answer, voice.start, voice.end)
                if voice.journalist:
                    if re.search(r"[?？]", pair.answer[voice.start:voice.end]):  # not "Journalist: Yes."
                        question = len(turns)
                    turns.append(Turn(speaker=voice.outlet or "Journalist", role=Role.JOURNALIST,
                                      kind=Kind.QUESTION, paragraphs=paragraphs, outlet=voice.outlet))
                elif voice.apart:
                    turns.append(Turn(speaker=pair.speaker, role=Role.OFFICIAL, kind=Kind.STATEMENT,
                                      paragraphs=paragraphs))
                else:
                    turns.append(Turn(speaker=pair.speaker, role=Role.OFFICIAL, kind=Kind.ANSWER,
                                      paragraphs=paragraphs, replies_to=question))
        day = group[0].day
        # The date is not put in the title: it is the conference's own field, and ask, the chat, list and show
        # print it beside every title (a dated title showed it twice).
        title = group[0].title or ("Regular press conference" if day else "Press conference")
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
    return conferences_from_pairs(pairs, path, voices=True), problems
