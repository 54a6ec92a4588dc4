"""Read press-conference transcripts (plain text) into Conference records, verbatim, with offsets."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from .errors import TranscriptError
from .records import Conference, Kind, Page, Paragraph, Role, Turn

MAX_TRANSCRIPT_BYTES = 20_000_000  # 20 MB, as the messages say: a page that large is not one transcript
TRANSCRIPT_SUFFIXES = (".txt", ".md")

# --- line shapes -------------------------------------------------------------------------------

_STRIP = " \t\r\n\f\v\u00a0\u3000\u200b\ufeff"
_SPEAKER_LINE = re.compile(r"^(?P<name>[^:：]{1,160}?)\s*[:：]$")
# Lower-case words allowed inside a speaker's or outlet's name ("Voice of America", "The Paper").
_NAME_PARTICLES = {"of", "the", "and", "for", "on", "in", "de", "la", "du", "da", "van", "von", "&", "-"}
_NAV_LINE = re.compile(r"^[<>‹›«»\s\d…．.|]*$")
# Captions, and notes by the interpreter or editor in brackets: not what anyone said.
_CAPTION = re.compile(
    r"^(\[[^\]]*\]|\((photo|image|video|file photo|interpreter|translator|translation|editor)[^)]*\)|"
    r"(photo|image|video)s?)$",
    re.I,
)
_TRAILER = re.compile(
    r"^(more from\b|related (news|stories|articles|reading)\b|editors?\s*[:：]|responsible editor|"
    r"copyright\b|©|share( to| this)?\s*[:：]?$|print$|close$|back to top$)",
    re.I,
)
_BREADCRUMB = re.compile(r"^(ㄑ|<|‹|home\b).*|.*\bpress room\b.*", re.I)
# Keys of the metadata block of an index page ("Speakers:", "Chairperson:", "Date:").
_META_KEYS = {
    "speaker": "speakers",
    "speakers": "speakers",
    "chairperson": "chair",
    "chairpersons": "chair",
    "chair": "chair",
    "moderator": "chair",
    "host": "chair",
    "date": "date",
    "venue": "venue",
    "time": "time",
    "location": "venue",
}
_HONORIFIC = r"(?:Mr|Ms|Mrs|Miss|Madam|Dr|Prof|Professor)\.?"
# Words of an official's title: "Gu Jun, vice mayor of Shanghai:" is a speaker line, "First, as planned:" is not.
_TITLE_WORDS = re.compile(
    r"\b(minister|ministry|mayor|governor|director|head|spokes(?:person|man|woman)|chair(?:person|man|woman)?|"
    r"president|commissioner|secretary|deputy|vice|chief|ambassador|administrator|official|officer|moderator|"
    r"host|general|member|leader|dean|professor|researcher|expert|party|bureau|department|office|administration|"
    r"commission|council|committee|government|municipal|provincial)\b",
    re.I,
)
# A role written before a name in a speaker label ("Chairperson Xi Yanchun:", "Vice Mayor Gu Jun:").
_ROLE_PREFIX = re.compile(
    r"^(?P<role>(?:(?:executive |first )?(?:vice|deputy) )?(?:chair(?:person|man|woman)?|moderator|host|"
    r"spokes(?:person|man|woman)|mayor|minister|governor|director(?:[- ]general)?|commissioner|president|"
    r"ambassador))\s+(?=[A-Z])",
    re.I,
)
_CHAIR_ROLE = re.compile(r"chair|moderator|host", re.I)
# Labels that name no one: the journalist who asked last asks again; an interpreter speaks for no official.
_FOLLOW_UP = re.compile(r"(?:a )?follow[- ]?up(?: question)?|(?:another|one more|a further|further) question", re.I)
# "Q:" / "A:" transcripts: the hand-off names who answers ("Q:" followed by "Jiefang Daily: …" is that outlet).
_ASKER = re.compile(r"q|question|questioner|reporter|journalist", re.I)
_ANSWERER = re.compile(r"a|answer", re.I)
_INTERPRETER = re.compile(r"(?:the )?(?:interpreter|translator)(?:'s note)?|(?:interpreter|translator) note", re.I)
_SPEAKER_ENTRY = re.compile(rf"^(?:{_HONORIFIC}\s+)?(?P<name>[^,，;；]{{2,60}}?)\s*[,，]\s*(?P<title>.+?)[;；.]?$")

# --- what a turn says ----------------------------------------------------------------------------

# Sentence ends, but not after "Mr." or an initial ("This question goes to Mr. Gu.").
_SENTENCE_END = re.compile(
    r"(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bMrs\.)(?<!\bSt\.)(?<!\bNo\.)(?<!\b[A-Z]\.)(?<=[.!?。！？])\s+"
)
_THANKS = re.compile(
    r"^(ok(ay)?|good|yes|all right|right|sure|well|"
    r"(thank you|thanks)( (very much|so much|all|again))?"
    r"(,? (mr|ms|mrs|dr)\.? [\w\- ]{1,30})?"
    r"( for (your|the|that|this|these|those|both|all) ([\w\-]+ )?(questions?|interest|attention|patience|answers?))?"
    r"(,? (mr|ms|mrs|dr)\.? [\w\- ]{1,30})?"
    r"( very much)?)[.!]?$",
    re.I,
)
# Thanks to someone named: "Thank you, Southern Metropolis Daily." (case-sensitive: only names follow).
_THANKS_NAMED = re.compile(r"(?:[Tt]hank you|[Tt]hanks)(?: very much)?,? (?:to )?(?:the )?"
                           r"(?:[A-Z][\w'’.\-]*|of|the|and|for)(?: (?:[A-Z][\w'’.\-]*|of|the|and|for)){0,6}[.!]?")
_HANDOFF = re.compile(
    r"\bquestions? (goes|go|is|are|will go|is directed|are directed) (to|for)\b|"
    r"\b(i|we)('d| would| will|'ll)? (like to |now )?(invite|ask|give the floor to|pass|hand|turn)\b"
    r".*\b(to answer|to respond|to take|to reply|over to|the floor|question|mr|ms|mrs|dr|my colleague)\b|"
    r"\b(invite|ask) (mr|ms|mrs|dr|madam|professor|director|my colleague)\b|"
    r"\b(give|giving|pass|passing) the floor (back )?to\b|\b(hand|turn)(ing)? (it |this )?over to\b|"
    r"\bmy colleague\b.*\b(answer|take|respond|address|reply|brief|introduce)\b|"
    r"\bwill (answer|take|respond to|address|reply to) (this|that|your|the|these)\b|"
    r"\b(please go ahead|over to you|the floor is yours|please answer)\b|"
    r"\b(let|have) (mr|ms|mrs|dr|my colleague|him|her)\b.*\b(answer|respond|take|reply)\b|"
    r"^(mr|ms|mrs|dr)\.? [\w\- ]{1,30}, (please|go ahead)\b|"
    # "Over to Mr. Gu.", "I will leave this one to Vice Mayor Gu.", "Please, Mr. Gu.", "Thank you. Mr. Gu Jun.",
    # "Mr. Gu, would you like to answer?", "Let us hear from Mr. Gu.": an official's hand-off was returned as an answer.
    r"^over to\b|\b(leave|give|pass|refer|direct) (this|that|it|the|these|those)( one| question| questions)? to\b|"
    r"\b(this|that) one (is|goes) (for|to)\b|\b(let us|let's) (now )?hear from\b|"
    r"\b(would|could|will|can) you (like to |please )?(answer|take|respond|reply|address)\b|"
    r"\b(better|best) placed to (answer|respond|address|take)\b|\bwill brief you\b|"
    r"^please,? (mr|ms|mrs|dr|madam|professor|director|minister|vice)\b|"
    r"^(mr|ms|mrs|dr|madam)\.? [\w\-]+( [\w\-]+)?[.!]?$",
    re.I,
)
_CHAIR = re.compile(
    r"\bfloor is (now )?open\b|\bconclude[sd]? (today's|this|the|our) (press|news) (conference|briefing)\b|"
    r"\bthat concludes\b|\bwelcome to (today's|this|the)\b|\bladies and gentlemen\b|"
    r"\b(please|kindly) (identify|state|introduce) (yourself|your (news )?(outlet|organization|media))\b|"
    r"\b(next|last|final) question\b|\btime for (one|two|the last)\b|\bgood (morning|afternoon|evening)\b|"
    r"\bsee you (next time|again)\b|\bgoodbye\b",
    re.I,
)
_MEDIA = re.compile(
    r"\b(daily|news|times|post|press|agency|tv|television|radio|broadcast\w*|herald|journal|magazine|"
    r"review|network|media|service|weekly|tribune|gazette|observer|reporter|correspondent|channel|"
    r"newspaper|newsweek|online|net|cctv|cgtn|cnr|cri|afp|nhk|kbs|bbc|cnn|rthk|tass|dpa|efe|ansa|"
    r"xinhua|reuters|bloomberg|phoenix|bauhinia|caixin|yicai|the paper|ifeng|sputnik|yonhap|kyodo|"
    r"al jazeera|ria novosti|associated press|global times|china\.org\.cn|people's daily)\b",
    re.I,
)
# A journalist's label that names the outlet: "Reporter from China Daily", "CCTV reporter", "Journalist (Reuters)".
_JOURNALIST_LABEL = re.compile(
    r"(?:(?i:a|the) )?(?i:reporter|journalist|correspondent)s? (?i:from|with|of|at) (?P<after>[A-Z].*)|"
    r"(?!(?i:our|your|their|the|a|this|that) )(?P<before>[A-Z].*?) (?i:reporter|journalist|correspondent)|"
    r"(?i:reporter|journalist|correspondent) ?[(（](?P<inside>[A-Z][^()（）]*)[)）]|"
    # "China Daily reporter Li Hua", "Reporter Li Hua": the outlet (if any) and the journalist's own name
    r"(?:(?!(?i:our|your|their|the|a|this|that) )(?P<named>[A-Z].*?) )?(?i:reporter|journalist|correspondent) "
    r"[A-Z][\w'\-]*(?: [A-Z][\w'\-]*){0,2}"
)
_ADDRESSED = re.compile(
    rf"\b(?:{_HONORIFIC}|Minister|Governor|Mayor|Director|Commissioner|Chairman|Chairwoman|Spokesperson)\s+"
    r"(?P<name>[A-Z][\w'\-]+(?: [A-Z][\w'\-]+)?)"
)

# --- dates -----------------------------------------------------------------------------------------

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        "january february march april may june july august september october november december".split()
    )
}
_MONTH = r"(?P<month>January|February|March|April|May|June|July|August|September|October|November|December|" \
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?"
_LONG_DATE = re.compile(rf"\b{_MONTH}\s+(?P<day>\d{{1,2}}),?\s+(?P<year>\d{{4}})\b", re.I)
_ISO_DATE = re.compile(r"\b(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})\b")
_TRAILING_DATE = re.compile(rf"(?:{_LONG_DATE.pattern}|\d{{4}}-\d{{1,2}}-\d{{1,2}})\s*$", re.I)
_HELD = re.compile(
    rf"\b(?:held|holds|hosted|convened)\b[^.]{{0,80}}?\b(?:press|news) (?:conference|briefing)\b[^.]{{0,40}}?"
    rf"\bon\s+(?:\w+day,?\s+)?{_MONTH}\s+(?P<day>\d{{1,2}})(?:,?\s+(?P<year>\d{{4}}))?",
    re.I,
)


@dataclass(frozen=True)
class Meta:
    """What a transcript's text may lack, from a sidecar ``<file>.meta.json`` or front matter."""

    source: str | None = None
    title: str | None = None
    held: date | None = None
    published: date | None = None
    category: str | None = None
    page: int | None = None
    speakers: dict[str, str] = field(default_factory=dict)  # official name -> title
    chair: tuple[str, ...] = ()
    journalists: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, data: object, where: str) -> Meta:
        if not isinstance(data, dict):
            raise TranscriptError(f"{where} must be a JSON object of metadata, e.g. "
                                  f'{{"source": "https://…"}} (got {type(data).__name__}).')
        known = {"source", "url", "title", "date", "held", "published", "category", "page", "speakers",
                 "chairperson", "chair", "journalists"}
        # Checked here, not when the store writes them: there a list would fail the whole ingest, not this file.
        for key in ("source", "url", "title", "category"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise TranscriptError(f"{where}: {key} must be text (got {type(data[key]).__name__}).")
        unknown = sorted(set(data) - known)
        if unknown:
            raise TranscriptError(
                f"{where}: unknown metadata key {unknown[0]!r} (known keys: {', '.join(sorted(known))})."
            )
        # Names come as a list, or one name as text (never split into its letters); speakers also as name -> title.
        speakers = data.get("speakers") or {}
        if isinstance(speakers, str):
            speakers = [speakers]
        if isinstance(speakers, list):
            speakers = {str(name): "" for name in speakers}
        chair = data.get("chairperson") or data.get("chair") or ()
        if isinstance(chair, str):
            chair = (chair,)
        journalists = data.get("journalists") or ()
        if isinstance(journalists, str):
            journalists = (journalists,)
        try:
            return cls(
                source=data.get("source") or data.get("url"),
                title=data.get("title"),
                held=_parse_iso(data.get("held") or data.get("date"), where),
                published=_parse_iso(data.get("published"), where),
                category=data.get("category"),
                page=int(data["page"]) if data.get("page") is not None else None,
                speakers={str(k): str(v or "") for k, v in dict(speakers).items()},
                chair=tuple(str(c) for c in chair),
                journalists=tuple(str(j) for j in journalists),
            )
        except (TypeError, ValueError) as exc:
            raise TranscriptError(f"{where}: metadata is malformed ({exc}).") from exc


def _parse_iso(value: object, where: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise TranscriptError(f"{where}: date {value!r} is not YYYY-MM-DD.") from exc


# --- reading files -------------------------------------------------------------------------------


def decode_transcript(data: bytes, where: str) -> str:
    """Decode transcript bytes, refusing what is not text with a message that says what to do."""
    if not data.strip():
        raise TranscriptError(f"{where} is empty.")
    if data[:2] == b"\x1f\x8b":
        raise TranscriptError(f"{where} is gzip-compressed; decompress it first (gunzip).")
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise TranscriptError(f"{where} has a UTF-16 byte-order mark but is not valid UTF-16.") from exc
    if b"\x00" in data[:8192]:
        raise TranscriptError(f"{where} is a binary file, not a text transcript.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TranscriptError(
            f"{where} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            f"convert it first, e.g. iconv -f WINDOWS-1252 -t UTF-8."
        ) from exc


def read_transcript(path: Path) -> Conference:
    """Read a text transcript file (with its optional sidecar or front matter) into a Conference."""
    where = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_TRANSCRIPT_BYTES:
            raise TranscriptError(
                f"{where} is {size / 1e6:.0f} MB; transcripts over {MAX_TRANSCRIPT_BYTES / 1e6:.0f} MB "
                "are refused (split it into pages)."
            )
        text = decode_transcript(path.read_bytes(), where)
    except OSError as exc:
        raise TranscriptError(f"{where} cannot be read ({exc.strerror}).") from exc
    meta = Meta()
    sidecar = sidecar_path(path)
    if sidecar.exists():
        try:
            meta = Meta.from_mapping(json.loads(sidecar.read_text("utf-8")), str(sidecar))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            raise TranscriptError(f"{sidecar} is not a JSON object of metadata ({exc}).") from exc
    return parse_text(text, path=str(path), meta=meta)


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def page_number(source: str) -> int:
    """Page number from a SCIO-style address: ``content_117111081_7.htm`` is page 7."""
    m = re.search(r"content_\d+_(\d+)\.s?html?$", source)
    return int(m.group(1)) if m else 1


def _front_matter(text: str, where: str) -> tuple[Meta, int]:
    """``---`` / ``key: value`` / ``---`` at the top of a file; returns Meta and where the body starts."""
    m = re.match(r"---[ \t]*\r?\n(?P<body>.*?)\r?\n---[ \t]*(\r?\n|$)", text, re.S)
    if not m:
        return Meta(), 0
    data: dict[str, object] = {}
    for line in m.group("body").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise TranscriptError(f"{where}: front-matter line {line!r} is not 'key: value'.")
        key, value = key.strip().lower(), value.strip()
        if key in ("speakers", "journalists", "chairperson", "chair"):
            items = [v.strip() for v in value.split(";") if v.strip()]
            if key == "speakers":
                data[key] = dict(_split_entry(v) for v in items)
            else:
                data[key] = items
        else:
            data[key] = value
    return Meta.from_mapping(data, where), m.end()


def _split_entry(entry: str) -> tuple[str, str]:
    m = _SPEAKER_ENTRY.match(entry)
    if m:
        return m.group("name").strip(), m.group("title").strip()
    return re.sub(rf"^{_HONORIFIC}\s+", "", entry).strip(), ""


# --- parsing ---------------------------------------------------------------------------------------


@dataclass
class _RawTurn:
    speaker: str | None  # None: text that continues the previous page's last turn
    paragraphs: list[Paragraph]


@dataclass
class _Header:
    title: str | None = None
    category: str | None = None
    summary: str | None = None
    held: date | None = None
    published: date | None = None
    speakers: dict[str, str] = field(default_factory=dict)
    chair: list[str] = field(default_factory=list)


def _lines(text: str, start: int = 0) -> Iterator[tuple[int, int, str]]:
    """(start, end, stripped line) with ``text[start:end] == stripped`` and blank lines skipped."""
    for m in re.finditer(r"[^\n]*", text[start:]):
        raw = m.group()
        stripped = raw.strip(_STRIP)
        if stripped:
            lead = len(raw) - len(raw.lstrip(_STRIP))
            s = start + m.start() + lead
            yield s, s + len(stripped), stripped


def speaker_name(line: str) -> str | None:
    """The name on a speaker line (``Gu Jun:``), or None when the line is prose or something else."""
    m = _SPEAKER_LINE.match(line)
    if not m:
        return None
    name = " ".join(m.group("name").split())
    if _FOLLOW_UP.fullmatch(name) or _INTERPRETER.fullmatch(name):
        return name
    m = _JOURNALIST_LABEL.fullmatch(name)
    if m:
        outlet = m.group("after") or m.group("before") or m.group("inside") or m.group("named")
        return name if outlet is None or speaker_name(outlet + ":") == outlet else None
    head, comma, title = re.split(r"\s*([,，])\s*", name, maxsplit=1) if re.search("[,，]", name) else (name, "", "")
    if comma:  # "Gu Jun, vice mayor of Shanghai:" or "Li Hua, China Daily:": a person's name, then a title or outlet
        bare = re.sub(rf"^{_HONORIFIC}\s+", "", head)
        if not re.fullmatch(r"[A-Z][\w'\-]*(?: [A-Z][\w'\-]*){1,3}", bare):
            return None
        if _TITLE_WORDS.search(title) and not re.search(r"[.?!;\"“”。？！]", title):
            return name
        return name if _MEDIA.search(title) and speaker_name(title + ":") == title else None
    if len(name) > 80:
        return None
    if re.search(r"[.?!;,\"“”。？！，]", re.sub(rf"^{_HONORIFIC}\s+|\b[A-Z]\.", "", name)):
        return None
    if re.fullmatch(r"[\u3400-\u9fff·]{1,12}", name):
        return name
    words = name.split()
    if not 1 <= len(words) <= 8 or not (words[0][0].isupper() or words[0][0].isdigit()):
        return None
    for word in words[1:]:
        if not (word[0].isupper() or word[0].isdigit() or word[0] in "(&-" or word.lower() in _NAME_PARTICLES):
            return None
    return name


def _meta_key(name: str) -> str | None:
    return _META_KEYS.get(name.lower())


def _parse_date(text: str) -> date | None:
    m = _LONG_DATE.search(text) or _ISO_DATE.search(text)
    if not m:
        return None
    month = m.group("month")
    month_no = int(month) if month.isdigit() else _MONTHS.get(_month_full(month), 0)
    try:
        return date(int(m.group("year")), month_no, int(m.group("day")))
    except ValueError:
        return None


def _month_full(month: str) -> str:
    month = month.lower().rstrip(".")
    return next((full for full in _MONTHS if full.startswith(month[:3])), month)


def _held_date(text: str, published: date | None) -> date | None:
    m = _HELD.search(text)
    if not m:
        return None
    month, day = _MONTHS[_month_full(m.group("month"))], int(m.group("day"))
    year = int(m.group("year")) if m.group("year") else published.year if published else None
    if year is None:
        return None
    try:
        held = date(year, month, day)
    except ValueError:
        return None
    if not m.group("year") and published and held > published:
        held = held.replace(year=year - 1)  # held in December, published in January
    return held


def _is_meta_line(line: str) -> bool:
    key, sep, _ = line.replace("：", ":").partition(":")
    return bool(sep) and len(key) < 20 and _meta_key(key.strip()) is not None


def _parse_header(lines: Sequence[tuple[int, int, str]]) -> _Header:
    header = _Header()
    plain: list[str] = []
    key: str | None = None
    for _, _, line in lines:
        name_part, sep, rest = line.partition(":")
        if not sep:
            name_part, sep, rest = line.partition("：")
        block = _meta_key(name_part.strip()) if sep and len(name_part) < 20 else None
        if block:
            key = block
            if rest.strip():
                _header_entry(header, key, rest.strip())
            continue
        if key is not None and (key != "speakers" or _SPEAKER_ENTRY.match(line)) and key != "venue":
            _header_entry(header, key, line)
            if key in ("date", "time"):
                key = None
            continue
        key = None
        if _BREADCRUMB.fullmatch(line) and len(line) <= 80:
            continue
        plain.append(line)
    for i, line in enumerate(plain):
        if header.title is None:
            header.title = line
        elif header.category is None and i == 1 and len(line.split()) <= 4 and not line.endswith("."):
            header.category = line
        elif header.summary is None and len(line.split()) >= 8:
            published = _trailing_date(line)
            header.summary = _LONG_DATE.sub("", line).strip() if published else line
            header.published = header.published or published
    if header.published is None:
        header.published = next((d for d in map(_trailing_date, plain) if d), None)
    header.held = header.held or next((d for d in (_held_date(line, header.published) for line in plain) if d),
                                      None)
    return header


def _trailing_date(line: str) -> date | None:
    """The publication date that SCIO pages put at the end of the summary line."""
    m = _TRAILING_DATE.search(line)
    return _parse_date(m.group()) if m else None


def _header_entry(header: _Header, key: str, value: str) -> None:
    if key == "speakers":
        for entry in re.split(r"[;；]\s*", value):
            if entry.strip():
                name, title = _split_entry(entry.strip())
                header.speakers[name] = title
    elif key == "chair":
        header.chair.append(_split_entry(value)[0])
    elif key in ("date", "time"):
        header.held = header.held or _parse_date(value)


_INLINE = re.compile(r"^(?P<label>[^:：]{1,80}?)\s*[:：][ \t\u00a0\u3000]+(?P<said>\S.*)$")


def _split_inline(lines: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Lines with the speaker's name in front ("Mao Ning: Thank you…") as a speaker line and the words after it.

    A name in front is taken only when it cannot be prose: it opens two or more lines, names an outlet, stands
    alone as a speaker line elsewhere, or is named in a hand-off. Without this the line joined the turn before:
    a journalist's question read as the previous official's answer.
    """
    found: dict[int, tuple[str, re.Match[str]]] = {}
    for i, (_, _, line) in enumerate(lines):
        m = _INLINE.match(line)
        name = speaker_name(m.group("label") + ":") if m else None
        if m and name and not _meta_key(name) and not _TRAILER.match(line):
            found[i] = (name, m)
    if not found:
        return lines
    # People named alone on a speaker line ("Chairperson Xi Yanchun:") or in a "Speakers:" entry ("Ms. Xi Yanchun,
    # spokesperson of the SCIO").
    alone = {_name_key(_label_name(name)[0]) for _, _, line in lines if (name := speaker_name(line))}
    alone |= {_name_key(name) for _, _, line in lines if _SPEAKER_ENTRY.match(line)
              and re.fullmatch(r"[A-Z][\w'\-]*(?: [A-Z][\w'\-]*){1,3}", name := _split_entry(line)[0])}
    addressed = {m.group("name") for _, _, line in lines if is_handoff(line) for m in _ADDRESSED.finditer(line)}
    opens = Counter(name.casefold() for name, _ in found.values())

    def is_speaker(name: str) -> bool:
        return (opens[name.casefold()] > 1 or _name_key(_label_name(name)[0]) in alone
                or bool(_MEDIA.search(name))
                or _is_outlet(name) or bool(re.fullmatch(r"[A-Z]{2,6}(-\d)?", name))
                or any(_same_person(_label_name(name)[0], a) for a in addressed))

    out: list[tuple[int, int, str]] = []
    for i, (start, end, line) in enumerate(lines):
        name, m = found.get(i, ("", None))
        if m is None or not is_speaker(name):
            out.append((start, end, line))
            continue
        out.append((start + m.start("label"), start + m.end("label"), m.group("label") + ":"))
        out.append((start + m.start("said"), end, m.group("said")))
    return out


def _split_page(text: str, page: int, skip: int, body: int | None = None) -> tuple[_Header, list[_RawTurn]]:
    """Split one page into its header and raw turns (speaker + verbatim paragraphs).

    ``body`` (known for HTML pages) is where the article starts: text there before the first speaker line
    continues the previous page's last turn, unless it is a "Speakers:"/"Date:" block of the header.
    """
    lines = _split_inline(list(_lines(text, skip)))
    body_at = len(lines)
    for i, (_, _, line) in enumerate(lines):
        name = speaker_name(line)
        if name and not _meta_key(name):
            body_at = i
            break
        if _TRAILER.match(line):
            body_at = i
            break
    if body is not None:
        first = next((i for i, (start, _, _) in enumerate(lines) if start >= body), len(lines))
        if first < body_at and not any(_is_meta_line(line) for _, _, line in lines[first:body_at]):
            body_at = first
    header = _parse_header(lines[:body_at])
    turns: list[_RawTurn] = []
    current: _RawTurn | None = None
    for start, end, line in lines[body_at:]:
        if _TRAILER.match(line):
            break
        name = speaker_name(line)
        if name and _META_KEYS.get(name.lower()) not in (None, "chair"):
            break  # "Date:" or "Venue:" after the body: a footer, not a turn
        if name:
            if current is not None and current.speaker and current.speaker.casefold() == name.casefold():
                continue  # the same speaker again continues one turn
            current = _RawTurn(name, [])
            turns.append(current)
            continue
        if _NAV_LINE.fullmatch(line) or _CAPTION.fullmatch(line):
            continue
        if current is None:  # text before the first speaker on a continuation page
            current = _RawTurn(None, [])
            turns.append(current)
        current.paragraphs.append(Paragraph(text=line, start=start, end=end, page=page))
    return header, turns


def parse_text(text: str, *, path: str | None = None, url: str | None = None, meta: Meta | None = None) -> Conference:
    """Parse one page of transcript text (front matter, if any, first). See :func:`parse_pages`.

    ``meta`` (from a sidecar or the caller) wins over front matter, which wins over the page's header.
    """
    front, body_start = _front_matter(text, path or url or "input")
    meta = _merge(front, meta or Meta())
    source = url or meta.source
    page = Page(number=meta.page or page_number(source or path or ""), url=source, path=path)
    return parse_pages([(text, page)], meta, skip=body_start)


def _merge(base: Meta, override: Meta) -> Meta:
    return replace(base, **{f: v for f in base.__dataclass_fields__ if (v := getattr(override, f))})


def parse_pages(pages: Iterable[tuple[str, Page]], meta: Meta | None = None, *, skip: int = 0,
                bodies: Sequence[int | None] | None = None) -> Conference:
    """Parse the pages of one conference, in page order, into a Conference.

    Turns run on across pages, so a question at the end of one page links to its answer on the next. With
    ``bodies`` (where each page's article starts), text at the top of an article before any speaker line
    continues the previous page's last turn.
    """
    meta = meta or Meta()
    pages = list(pages)
    headers: list[_Header] = []
    raw: list[_RawTurn] = []
    for n, (text, page) in enumerate(pages):
        body = bodies[n] if bodies is not None else None
        header, turns = _split_page(text, page.number, skip if n == 0 else 0, body)
        headers.append(header)
        for turn in turns:
            if turn.speaker is None and raw:
                raw[-1].paragraphs.extend(turn.paragraphs)
            elif turn.speaker is not None and raw and raw[-1].speaker and \
                    raw[-1].speaker.casefold() == turn.speaker.casefold():
                raw[-1].paragraphs.extend(turn.paragraphs)
            elif turn.speaker is not None:
                raw.append(turn)
    raw = [t for t in raw if t.paragraphs]
    where = pages[0][1].source if pages else "input"
    declared = {**{k: v for h in headers for k, v in h.speakers.items()}, **meta.speakers}
    declared_chair = [*meta.chair, *(c for h in headers for c in h.chair)]
    raw, hinted, hinted_chair = _one_name_per_person(raw, [*declared, *declared_chair])
    if not raw:
        raise TranscriptError(
            f"{where} has no speaker lines (a name alone on a line ending in ':', such as 'Gu Jun:'); "
            "it does not look like a press-conference transcript."
        )
    first = next((h for h in headers if h.title), _Header())
    speakers = declared
    chair = [*declared_chair, *hinted_chair]
    published = meta.published or next((h.published for h in headers if h.published), None)
    held = meta.held or next((h.held for h in headers if h.held), None)
    if held is None and published is not None:
        held = next((d for d in (_held_date(h.summary or "", published) for h in headers) if d), None)
    turns = _assemble(raw, {**hinted, **speakers}, chair, meta.journalists)
    return Conference(
        title=meta.title or first.title or Path(where).stem,
        pages=tuple(page for _, page in pages),
        turns=tuple(turns),
        held=held,
        published=published,
        category=meta.category or first.category,
        summary=first.summary,
        speakers=speakers,
    )


# --- who is speaking -----------------------------------------------------------------------------


def _label_name(label: str) -> tuple[str, str | None]:
    """The person's name in a speaker label, and the role or title written around it (or None).

    ``Mr. Gu Jun``, ``Vice Mayor Gu Jun``, ``Gu Jun (Vice Mayor)`` and ``Gu Jun, vice mayor of Shanghai`` all
    name Gu Jun. A bare role (``Chairperson``) or an acronym in brackets (``China Media Group (CMG)``) stays.
    """
    name, title = " ".join(label.split()), None
    if _is_outlet(name):
        return name, None  # a journalist: the whole label names the outlet (see _outlet)
    head, comma, rest = re.split(r"\s*([,，])\s*", name, maxsplit=1) if re.search("[,，]", name) else (name, "", "")
    if comma:
        name, title = head, rest
    m = re.fullmatch(r"(?P<name>.+?)\s*[(（](?P<inner>[^()（）]+)[)）]", name)
    if m and not re.fullmatch(r"[A-Z0-9&\-]{2,8}", m.group("inner")):
        name, title = m.group("name"), title or m.group("inner")
    name = re.sub(rf"^{_HONORIFIC}\s+", "", name)
    m = _ROLE_PREFIX.match(name)
    if m:
        name, title = name[m.end():], title or m.group("role")
    return name, title


def _name_key(name: str) -> tuple[str, ...]:
    """Names compare by their words, in any order and case: "GU JUN", "Jun Gu" and "Gu Jun" are one person."""
    return tuple(sorted(name.replace("-", " ").casefold().split()))


def _one_name_per_person(raw: Sequence[_RawTurn], declared: Sequence[str]
                         ) -> tuple[list[_RawTurn], dict[str, str], list[str]]:
    """Give each person one name across the turns, and merge the turns that then follow on from the same person.

    A label's name is spelled as declared ("Speakers:", "Chairperson:", metadata), else as the first bare label
    with the same words. Returns the turns, titles written in labels (name -> title) and names labelled as chairs.
    """
    spelling: dict[tuple[str, ...], str] = {}
    for name in declared:
        spelling.setdefault(_name_key(re.sub(rf"^{_HONORIFIC}\s+", "", name)), name)
    labels = list(dict.fromkeys(t.speaker for t in raw if t.speaker))
    parts = {label: _label_name(label) for label in labels}
    for label in sorted(labels, key=lambda label: parts[label][0] != label):  # bare labels spell first
        spelling.setdefault(_name_key(parts[label][0]), parts[label][0])
    # "Mr. Gu:" is Gu Jun when he is the only person of that family name here.
    full = {n for n in spelling.values() if len(n.split()) > 1}
    for label in labels:
        name = parts[label][0]
        if name != label and len(name.split()) == 1:
            same = [n for n in full if name.casefold() in (n.split()[0].casefold(), n.split()[-1].casefold())]
            if len(same) == 1:
                spelling[_name_key(name)] = same[0]
    titles: dict[str, str] = {}
    chair: list[str] = []
    turns: list[_RawTurn] = []
    for turn in raw:
        assert turn.speaker is not None
        name, title = parts[turn.speaker]
        name = spelling[_name_key(name)]
        if title and _CHAIR_ROLE.search(title) and len(title.split()) <= 2:
            chair.append(name)
        elif title and _TITLE_WORDS.search(title):  # not "(follow-up)"
            titles.setdefault(name, title)
        if turns and turns[-1].speaker == name:
            turns[-1].paragraphs.extend(turn.paragraphs)
        else:
            turns.append(_RawTurn(name, list(turn.paragraphs)))
    return turns, titles, chair


# --- roles and kinds -----------------------------------------------------------------------------


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def is_handoff(text: str) -> bool:
    """A turn that only passes the floor: thanks and hand-off sentences, nothing of substance."""
    if len(text) > 400:
        return False
    sentences = _sentences(text)
    kinds = ["thanks" if _THANKS.match(s) or _THANKS_NAMED.fullmatch(s) else "handoff" if _HANDOFF.search(s)
             else "other" for s in sentences]
    return "handoff" in kinds and "other" not in kinds


def _is_remarks(text: str) -> bool:
    """Only thanks, chairing phrases ("Now the floor is open", "That concludes …") and calls on someone ("Ms. Li
    from China Daily, please.")."""
    sentences = _sentences(text)
    return all(_THANKS.match(s) or _THANKS_NAMED.fullmatch(s) or (_CHAIR.search(s) and len(s) < 300)
               or _HANDOFF.search(s) for s in sentences)


def _same_person(name: str, addressed: str) -> bool:
    tokens = {t.casefold() for t in name.replace("-", " ").split()}
    return all(t.casefold() in tokens for t in addressed.replace("-", " ").split())


def _find(names: Iterable[str], wanted: str) -> str | None:
    wanted_f = " ".join(re.sub(rf"^{_HONORIFIC}\s+", "", wanted).split()).casefold()
    return next((n for n in names if n.casefold() == wanted_f), None)


def _roles(raw: Sequence[_RawTurn], speakers: dict[str, str], chair: Sequence[str],
           journalists: Sequence[str]) -> dict[str, Role]:
    names = list(dict.fromkeys(t.speaker for t in raw if t.speaker))
    texts = {n: [t for t in raw if t.speaker == n] for n in names}
    roles: dict[str, Role] = {}
    addressed = {m.group("name") for t in raw if is_handoff(_text(t)) for m in _ADDRESSED.finditer(_text(t))}
    asking = {name for name in names if _asks(name, journalists)}  # journalists by their label alone
    # Who speaks only right after a journalist replies: an official's rhetorical "?" does not make a question.
    replying = {name for name in names
                if all(i > 0 and raw[i - 1].speaker in asking for i, t in enumerate(raw) if t.speaker == name)}
    for name in names:
        joined = [_text(t) for t in texts[name]]
        if _INTERPRETER.fullmatch(name):
            roles[name] = Role.INTERPRETER
        elif _FOLLOW_UP.fullmatch(name) or _ASKER.fullmatch(name):
            roles[name] = Role.JOURNALIST
        elif _find(chair, name) or name.casefold() in {"chairperson", "chair", "moderator", "host"}:
            roles[name] = Role.MODERATOR
        elif _find(speakers, name):
            roles[name] = Role.OFFICIAL
        elif name in asking and not re.fullmatch(r"[A-Z]{2,6}(-\d)?", name):
            roles[name] = Role.JOURNALIST  # before a hand-off's name: "Ms. Li from China Daily, please." asks Li Hua
        elif any(_same_person(name, a) for a in addressed):
            roles[name] = Role.OFFICIAL
        elif name in asking:
            roles[name] = Role.JOURNALIST
        elif any(_CHAIR.search(t) for t in joined) and all(_is_remarks(t) or is_handoff(t) for t in joined):
            roles[name] = Role.MODERATOR
        elif all("?" in t or "？" in t for t in joined) and not any(is_handoff(t) for t in joined) \
                and name not in replying:
            roles[name] = Role.JOURNALIST
        else:
            roles[name] = Role.OFFICIAL
    return roles


def _asks(name: str, journalists: Sequence[str]) -> bool:
    """A label that says a journalist is speaking: a declared journalist, an outlet, "Reporter Li Hua", "Q:"."""
    return bool(_FOLLOW_UP.fullmatch(name) or _ASKER.fullmatch(name) or _find(journalists, name)
                or _MEDIA.search(name) or _JOURNALIST_LABEL.fullmatch(name) or re.fullmatch(r"[A-Z]{2,6}(-\d)?", name))


def _text(turn: _RawTurn) -> str:
    return "\n\n".join(p.text for p in turn.paragraphs)


def _assemble(raw: Sequence[_RawTurn], speakers: dict[str, str], chair: Sequence[str],
              journalists: Sequence[str]) -> list[Turn]:
    roles = _roles(raw, speakers, chair, journalists)
    turns: list[Turn] = []
    question: int | None = None
    for turn in raw:
        assert turn.speaker is not None
        role, text = roles[turn.speaker], _text(turn)
        base = Turn(speaker=turn.speaker, role=role, kind=Kind.REMARKS, paragraphs=tuple(turn.paragraphs))
        if role is Role.JOURNALIST and _FOLLOW_UP.fullmatch(turn.speaker) and question is not None:
            asker = turns[question]  # "Follow-up:" is the last journalist asking again, not someone new
            question = len(turns)
            turns.append(replace(base, speaker=asker.speaker, kind=Kind.QUESTION, outlet=asker.outlet))
        elif role is Role.JOURNALIST:
            question = len(turns)
            outlet = None if _ASKER.fullmatch(turn.speaker) else _outlet(turn.speaker)  # "Q:" names no outlet
            turns.append(replace(base, kind=Kind.QUESTION, outlet=outlet))
        elif role is Role.INTERPRETER:
            turns.append(base)
        elif is_handoff(text):
            turns.append(replace(base, kind=Kind.HANDOFF, replies_to=question))
        elif role is Role.MODERATOR or _is_remarks(text):
            turns.append(base)
        else:
            speaker = turn.speaker
            if _ANSWERER.fullmatch(speaker) and question is not None:
                speaker = _handed_to(turns, question, speakers) or speaker
            title = next((t for n, t in speakers.items() if n.casefold() == speaker.casefold()), None)
            kind = Kind.ANSWER if question is not None or turn.paragraphs[0].page > 1 else Kind.STATEMENT
            turns.append(replace(base, speaker=speaker, kind=kind, replies_to=question, title=title or None))
    return turns


def _handed_to(turns: Sequence[Turn], question: int, speakers: dict[str, str]) -> str | None:
    """The one official the hand-offs of ``question`` name ("This question goes to Mr. Wu Xiaohua."), if one."""
    named = {m.group("name") for t in turns[question:] if t.kind is Kind.HANDOFF and t.replies_to == question
             for m in _ADDRESSED.finditer(t.text)}
    if len(named) != 1:
        return None  # none, or a question split between officials: which "A:" is whose is not said
    name = named.pop()
    declared = next((n for n in speakers if _same_person(n, name)), None)
    return declared or (name if len(name.split()) > 1 else None)


def _is_outlet(label: str) -> bool:
    """A journalist's label that names an outlet after a name or a word ("Li Hua, China Daily", "Journalist
    (Reuters)"), not an official's title ("Gu Jun, vice mayor") or a follow-up ("Phoenix TV (follow-up)")."""
    if _JOURNALIST_LABEL.fullmatch(label):
        return True
    m = re.fullmatch(r"[^,，(（]+(?:[,，]\s*(?P<tail>.+)|\s*[(（](?P<inner>[^()（）]+)[)）])", label)
    rest = m and (m.group("tail") or m.group("inner"))
    return bool(rest) and bool(_MEDIA.search(rest)) and not _TITLE_WORDS.search(rest)


def _outlet(speaker: str) -> str | None:
    """The outlet a journalist's label names: "China Daily", "Reporter from China Daily", "Li Hua, China Daily";
    None for "Reporter Li Hua"."""
    m = _JOURNALIST_LABEL.fullmatch(speaker)
    if m:
        return m.group("after") or m.group("before") or m.group("inside") or m.group("named")
    if _is_outlet(speaker):
        return re.split(r"\s*[,，(（]\s*", speaker, maxsplit=1)[1].rstrip(")）")
    return speaker
