"""The metadata store: conferences, turns, verbatim paragraphs, search keys and cached vectors, in SQLite."""

from __future__ import annotations

import contextlib
import sqlite3
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import PressroomError
from .records import Conference, Kind, Page, Paragraph, Role, Turn, text_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    source TEXT NOT NULL,             -- a resolved path or a URL, as given to ingest
    sha256 TEXT NOT NULL,             -- of the bytes read, to skip unchanged sources
    conference_id TEXT NOT NULL,      -- a Q&A file holds many conferences; a conference may span pages
    PRIMARY KEY (source, conference_id)
);
CREATE TABLE IF NOT EXISTS conferences (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, held TEXT, published TEXT, category TEXT, summary TEXT,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    conference_id TEXT NOT NULL, number INTEGER NOT NULL, url TEXT, path TEXT,
    PRIMARY KEY (conference_id, number)
);
CREATE TABLE IF NOT EXISTS turns (
    id TEXT PRIMARY KEY, conference_id TEXT NOT NULL, seq INTEGER NOT NULL, speaker TEXT NOT NULL,
    role TEXT NOT NULL, kind TEXT NOT NULL, outlet TEXT, title TEXT, replies_to TEXT
);
CREATE INDEX IF NOT EXISTS turns_by_conference ON turns (conference_id, seq);
CREATE TABLE IF NOT EXISTS paragraphs (
    turn_id TEXT NOT NULL, seq INTEGER NOT NULL, text TEXT NOT NULL, start INTEGER NOT NULL,
    "end" INTEGER NOT NULL, page INTEGER NOT NULL, PRIMARY KEY (turn_id, seq)
);
-- One row per vector in the FAISS index: row ``pos`` of the index is this key. A key routes to the answer
-- ``turn_id``: a paragraph of it (``paragraph`` >= 0), or the journalist's question ``asked`` it replied to
-- (``paragraph`` = -1, a question key); the question's text is never returned, only the answer it routes to.
CREATE TABLE IF NOT EXISTS keys (
    pos INTEGER PRIMARY KEY, turn_id TEXT NOT NULL, paragraph INTEGER NOT NULL, hash TEXT NOT NULL, asked TEXT
);
-- An answer's keys (search reads an answer's paragraph keys when its question key matched): without it each
-- question scanned every key, 8 ms a question at 1e5 keys.
CREATE INDEX IF NOT EXISTS keys_by_turn ON keys (turn_id);
-- Embedding cache by text hash: a rebuild re-encodes only texts it has not seen.
CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
-- Answers and statements by the hash of speaker and whole text: an answer an official repeats word for word
-- in other conferences is one passage (the latest), shown with the other dates ("also said on").
CREATE TABLE IF NOT EXISTS answer_texts (turn_id TEXT PRIMARY KEY, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS answer_texts_by_hash ON answer_texts (hash);
"""

MIN_KEY_WORDS = 3  # "Thank you." alone is not worth a vector
QUESTION_KEY = -1  # the ``paragraph`` of a question key


class Key(NamedTuple):
    """One search key: a text whose vector (and BM25 document) routes to the answer ``turn_id``.

    A paragraph key is paragraph ``paragraph`` of the answer; a question key (``paragraph == QUESTION_KEY``)
    is the journalist's question ``asked`` (a turn id) that the answer replied to. Users' short questions
    resemble journalists' questions more than official answers, so an answer is found by either.
    """

    turn_id: str
    paragraph: int
    text: str
    asked: str | None = None

    @property
    def is_question(self) -> bool:
        """A journalist's question routing to its answer (not a paragraph of the answer)."""
        return self.asked is not None


@dataclass(frozen=True)
class Answer:
    """An official answer (or statement) as stored, joined with its conference and question."""

    id: str
    speaker: str
    title: str | None
    kind: Kind
    paragraphs: tuple[Paragraph, ...]
    conference_id: str
    conference: str
    held: date | None
    published: date | None
    source: str  # URL (or path) of the page where the answer starts
    path: str | None  # local file the offsets refer to, when ingested from a file
    asked_by: str | None
    asked: str | None
    also: tuple[date, ...] = ()  # other days the same words were said (identical answers are one passage)

    @property
    def text(self) -> str:
        """The whole answer, verbatim: its paragraphs separated by blank lines."""
        return "\n\n".join(p.text for p in self.paragraphs)

    @property
    def date(self) -> date | None:
        """The day it was said: the conference's, else the day its transcript was published."""
        return self.held or self.published


@dataclass(frozen=True)
class ConferenceInfo:
    """A line of ``pressroom list``."""

    id: str
    title: str
    date: date | None
    sources: int
    answers: int
    passages: int
    # Who answered or briefed, in order of first answer: an archive's Q&A days all share one title, and who took
    # the questions is how a journalist tells them apart.
    speakers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, str | int | list[str] | None]:
        """The line as `pressroom list --json` prints it."""
        return {"id": self.id, "title": self.title, "date": _iso(self.date), "answers": self.answers,
                "passages": self.passages, "speakers": list(self.speakers)}


def name_words(name: str) -> str:
    """``name`` as the speaker filter compares names: lower case, single spaces, one space either side, so that
    ``name_words(part) in name_words(full)`` holds when ``part`` is whole words of ``full`` ("Gu" of "Gu Jun", not
    "Li" of "Liu Liehong"): the rule :meth:`Store.positions` applies in SQL."""
    return f" {' '.join(name.lower().split())} "


@dataclass(frozen=True)
class AnswerFilter:
    """Which answers a search may return: by speaker, conference and date range (all optional).

    ``speaker`` matches whole words of the speaker's name and ``conference`` anywhere in the conference's title
    (or its exact id), both case-insensitively; ``since``/``until`` bound the conference date, inclusive.
    """

    speaker: str | None = None
    conference: str | None = None
    since: date | None = None
    until: date | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.speaker, self.conference, self.since, self.until))

    def to_json(self) -> dict[str, str | None]:
        """The ``filters`` object of the JSON replies (dates as YYYY-MM-DD)."""
        return {"speaker": self.speaker, "conference": self.conference,
                "from": _iso(self.since), "to": _iso(self.until)}


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@dataclass(frozen=True)
class KeyTable:
    """The keys table as arrays: the answer and paragraph each FAISS row routes to, and each answer's paragraph
    rows. A question read them from SQLite in two queries that cost 0.3 and 0.3-1.3 ms at 1e5-1e6 keys (rows spread
    over the table: a page read each); here they are array lookups. Loaded at the first question: 0.2 s at 1e5
    keys, 1.9 s at 1e6 (busy machine)."""

    turns: list[str]  # turn ids, by number
    number: dict[str, int]  # turn id -> its number
    turn: np.ndarray  # int32, per row: the number of the turn it routes to
    paragraph: np.ndarray  # int32, per row: the paragraph seq, QUESTION_KEY for a question key
    by_turn: np.ndarray  # the paragraph keys' rows by turn number, ascending within a turn
    first: np.ndarray  # turn t's paragraph-key rows are by_turn[first[t]:first[t + 1]]

    @classmethod
    def load(cls, db: sqlite3.Connection) -> KeyTable:
        """Read the keys table of ``db`` in one pass."""
        number: dict[str, int] = {}
        paragraphs = array("i")

        def turns() -> Iterator[int]:  # one pass over the rows, never all of them in memory as tuples
            for tid, para in db.execute("SELECT turn_id, paragraph FROM keys ORDER BY pos"):
                paragraphs.append(para)
                yield number.setdefault(tid, len(number))

        turn = np.fromiter(turns(), dtype=np.int32)
        paragraph = np.frombuffer(paragraphs, dtype=np.int32).copy()
        owner = np.where(paragraph == QUESTION_KEY, len(number), turn)  # question keys last, then left out
        by_turn = np.argsort(owner, kind="stable")
        first = np.searchsorted(owner[by_turn], np.arange(len(number) + 1))
        return cls(list(number), number, turn, paragraph, by_turn[: first[-1]], first)


SHOWN_MATCHES = 10  # conferences a "matches several" error lists (a word like "press" may match thousands)


class Store:
    """A SQLite database of one index generation. Read-only unless opened with ``writable=True``."""

    def __init__(self, path: Path, *, writable: bool = False) -> None:
        self.path = path
        self._key_table: KeyTable | None = None
        if writable:
            self.db = sqlite3.connect(path, isolation_level=None)
            # Only a writer's private staging copy is ever opened writable, and the writer fsyncs the file
            # before publishing it; a crash discards the stage. So SQLite need not make each statement durable:
            # with its own journal file and fsyncs, ingest spent ~60 % of its wall time waiting for the disk.
            self.db.execute("PRAGMA journal_mode=MEMORY")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.executescript(SCHEMA)
        else:
            # immutable: the generation never changes after it is published, so skip locking.
            self.db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)

    def close(self) -> None:
        """Close the database (an open Index holds it until then)."""
        self.db.close()

    # --- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction around many writes (a writable store otherwise commits each statement on its own)."""
        self.db.execute("BEGIN")
        yield
        self.db.execute("COMMIT")

    def source_hash(self, source: str) -> str | None:
        """The sha256 recorded when ``source`` was last read, or None if it never was."""
        row = self.db.execute("SELECT sha256 FROM sources WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    def conference_ids(self) -> set[str]:
        """Ids of every conference in the store."""
        return {r[0] for r in self.db.execute("SELECT id FROM conferences")}

    def title(self, conference_id: str) -> str | None:
        """The title of a conference, or None if there is none with that id."""
        row = self.db.execute("SELECT title FROM conferences WHERE id = ?", (conference_id,)).fetchone()
        return row[0] if row else None

    def conference(self, conference_id: str) -> Conference | None:
        """A conference as stored, read back into the parser's records (None if there is none with that id).

        What the product reads, not what a fresh parse would give: ``pressroom show`` prints it so a user can
        check who asked and who answered, and ingest compares it before and after a put to tell an update from a
        re-read of the same text. ``speakers`` is empty: the declared officials are kept only on their turns.
        """
        head = self.db.execute("SELECT title, held, published, category, summary FROM conferences WHERE id = ?",
                               (conference_id,)).fetchone()
        if head is None:
            return None
        title, held, published, category, summary = head
        pages = tuple(Page(number, url, path) for number, url, path in self.db.execute(
            "SELECT number, url, path FROM pages WHERE conference_id = ? ORDER BY number", (conference_id,)))
        paragraphs: dict[str, list[Paragraph]] = {}
        for tid, text, start, end, page in self.db.execute(
            'SELECT p.turn_id, p.text, p.start, p."end", p.page FROM paragraphs p JOIN turns t ON t.id = p.turn_id '
            "WHERE t.conference_id = ? ORDER BY p.turn_id, p.seq", (conference_id,)):
            paragraphs.setdefault(tid, []).append(Paragraph(text, start, end, page))
        rows = self.db.execute(
            "SELECT id, seq, speaker, role, kind, outlet, title, replies_to FROM turns WHERE conference_id = ? "
            "ORDER BY seq", (conference_id,)).fetchall()
        position = {tid: i for i, (tid, *_) in enumerate(rows)}  # replies_to is a turn id here, a position there
        turns = tuple(
            Turn(speaker=speaker, role=Role(role), kind=Kind(kind), paragraphs=tuple(paragraphs.get(tid, ())),
                 outlet=outlet, title=turn_title, replies_to=position.get(replies) if replies else None)
            for tid, _, speaker, role, kind, outlet, turn_title, replies in rows)
        return Conference(title=title, pages=pages, turns=turns, held=_day(held), published=_day(published),
                          category=category, summary=summary)

    def find(self, wanted: str) -> Conference:
        """The one conference ``wanted`` names (see :meth:`lookup`), read back as :meth:`conference` does.

        Raises:
            PressroomError: none matches, or several do (the sentence lists them, id and title).
        """
        conference = self.conference(self.lookup(wanted)[0])
        assert conference is not None  # listed a moment ago, and a published generation never changes
        return conference

    def lookup(self, wanted: str, *, titles: bool = True) -> tuple[str, str]:
        """The id and title of the one conference ``wanted`` names: its id or an unambiguous prefix of it (ids are
        long, `pressroom list` shows them whole), or, with ``titles``, part of its title as ``--conference`` matches
        (see AnswerFilter), case-insensitively. An exact id or a title equal to ``wanted`` wins over ids that start
        with it and titles that contain it, so a whole id or title always names its conference.

        Raises:
            PressroomError: none matches, or several do (the sentence lists them, id and title).
        """
        wanted = wanted.strip()
        found: list[tuple[str, str, str | None]] = self.db.execute(  # a blank ``wanted`` matches nothing, not every id
            "SELECT id, title, coalesce(held, published) FROM conferences WHERE :wanted != '' AND "
            "(substr(id, 1, length(:wanted)) = "
            "lower(:wanted) OR (:titles AND instr(lower(title), lower(:wanted)) > 0)) "
            "ORDER BY coalesce(held, published), title",
            {"wanted": wanted, "titles": titles}).fetchall()
        exact = [row for row in found if row[0] == wanted.lower() or (titles and row[1].lower() == wanted.lower())]
        found = exact if len(exact) == 1 else found
        if not found and titles:
            raise PressroomError(f"No conference has the id or a title containing {wanted!r}; `pressroom list` shows "
                                 "the indexed conferences.")
        if not found:
            raise PressroomError(f"No conference has an id starting with {wanted!r}; `pressroom list` shows the ids.")
        if len(found) > 1:
            # With its day: an archive's Q&A conferences all share one title ("Regular press conference").
            listed = "; ".join(f"{cid} ({title}{', ' + day if day else ''})"
                               for cid, title, day in found[:SHOWN_MATCHES])
            more = f" and {len(found) - SHOWN_MATCHES} more" if len(found) > SHOWN_MATCHES else ""
            raise PressroomError(f"{wanted!r} matches {len(found)} conferences: {listed}{more}; give one of these "
                                 + ("ids or more of the title." if titles else "ids, whole or a longer start."))
        cid, title, _ = found[0]
        return cid, title

    def conferences_from(self, source: str) -> list[str]:
        """Ids of the conferences read from ``source``."""
        return [r[0] for r in self.db.execute("SELECT conference_id FROM sources WHERE source = ?", (source,))]

    def put(self, conference: Conference, sources: Iterable[tuple[str, str]]) -> None:
        """Replace ``conference`` (same id) and record the sources (name, sha256) it was read from.

        Other sources of the same conference (the page saved as text and as HTML) keep their hashes: dropping
        them made each ingest re-read both and report the conference updated, never unchanged.
        """
        cid = conference.id
        names = {name for name, _ in sources}
        others = [row for row in self.db.execute("SELECT source, sha256, conference_id FROM sources "
                                                 "WHERE conference_id = ?", (cid,)) if row[0] not in names]
        self.delete(cid)
        db = self.db
        db.execute(
            "INSERT INTO conferences VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cid, conference.title, _iso(conference.held), _iso(conference.published), conference.category,
             conference.summary, conference.source),
        )
        db.executemany("INSERT INTO pages VALUES (?, ?, ?, ?)",
                       [(cid, p.number, p.url, p.path) for p in conference.pages])
        for seq, turn in enumerate(conference.turns):
            tid = turn_id(cid, seq)
            replies = turn_id(cid, turn.replies_to) if turn.replies_to is not None else None
            db.execute(
                "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (tid, cid, seq, turn.speaker, turn.role.value, turn.kind.value, turn.outlet, turn.title, replies),
            )
            db.executemany(
                "INSERT INTO paragraphs VALUES (?, ?, ?, ?, ?, ?)",
                [(tid, i, p.text, p.start, p.end, p.page) for i, p in enumerate(turn.paragraphs)],
            )
            if turn.kind.searchable:
                db.execute("INSERT INTO answer_texts VALUES (?, ?)", (tid, answer_hash(turn.speaker, turn.text)))
        db.executemany("INSERT OR REPLACE INTO sources VALUES (?, ?, ?)",
                       [(name, sha, cid) for name, sha in sources] + others)

    def forget_source_hashes(self, conference_id: str) -> None:
        """Forget the hashes of the sources ``conference_id`` was read from, so the next ingest reads them again.

        For ``pressroom remove``: a Q&A file holds many conferences, and its bytes do not change when one of
        them is taken out, so its hash alone would keep that conference out for good.
        """
        self.db.execute("UPDATE sources SET sha256 = '' WHERE source IN "
                        "(SELECT source FROM sources WHERE conference_id = ?)", (conference_id,))

    def delete(self, conference_id: str) -> bool:
        """Remove a conference and everything read from it; False if there was none with that id.

        Its keys stay until the writer's commit rebuilds the key table from what is left.
        """
        db = self.db
        existed = db.execute("DELETE FROM conferences WHERE id = ?", (conference_id,)).rowcount > 0
        for table in ("paragraphs", "answer_texts"):
            db.execute(f"DELETE FROM {table} WHERE turn_id IN (SELECT id FROM turns WHERE conference_id = ?)",
                       (conference_id,))
        for table, column in (("turns", "conference_id"), ("pages", "conference_id"),
                              ("sources", "conference_id")):
            db.execute(f"DELETE FROM {table} WHERE {column} = ?", (conference_id,))
        return existed

    def key_texts(self, *, questions: bool = True) -> list[Key]:
        """Every search key, in a stable order: each paragraph (of at least MIN_KEY_WORDS words) of every answer
        and statement, then, with ``questions``, each journalist's question that an answer replied to.

        Of answers repeated word for word, only the latest one's paragraphs are keys, and the questions that
        each repeat replied to all route to it.
        """
        kinds = tuple(k.value for k in Kind if k.searchable)
        rows = self.db.execute(
            f"""SELECT p.turn_id, p.seq, p.text FROM paragraphs p JOIN turns t ON t.id = p.turn_id
                LEFT JOIN answer_texts a ON a.turn_id = t.id
                WHERE t.kind IN ({",".join("?" * len(kinds))})
                  AND (a.hash IS NULL OR t.id = ({_LATEST_WITH_HASH}))
                ORDER BY t.conference_id, t.seq, p.seq""",
            kinds,
        )
        keys = [Key(tid, seq, text) for tid, seq, text in rows if len(text.split()) >= MIN_KEY_WORDS]
        if not questions:
            return keys
        rows = self.db.execute(
            f"""SELECT DISTINCT coalesce(({_LATEST_WITH_HASH}), t.id) AS answer, t.replies_to, q.conference_id, q.seq
                FROM turns t JOIN turns q ON q.id = t.replies_to AND q.kind = 'question'
                LEFT JOIN answer_texts a ON a.turn_id = t.id
                WHERE t.kind = 'answer'
                ORDER BY q.conference_id, q.seq, answer"""
        )
        for answer, asked, _, _ in rows.fetchall():
            text = self._turn_text(asked)
            if len(text.split()) >= MIN_KEY_WORDS:
                keys.append(Key(answer, QUESTION_KEY, text, asked))
        return keys

    def passage_hashes(self) -> dict[tuple[str, int], str]:
        """The live passages (paragraph keys): (turn id, paragraph) -> text hash."""
        return {(tid, seq): h for tid, seq, h in self.db.execute(
            "SELECT turn_id, paragraph, hash FROM keys WHERE asked IS NULL")}

    def sources(self) -> list[str]:
        """Every source recorded (paths and URLs), sorted."""
        return sorted({r[0] for r in self.db.execute("SELECT source FROM sources")})

    def set_keys(self, keys: Sequence[tuple[str, int, str, str | None]]) -> None:
        """Replace the key table with (turn id, paragraph, text hash, asked): row ``i`` is vector ``i``."""
        self.db.execute("DELETE FROM keys")
        self.db.executemany("INSERT INTO keys VALUES (?, ?, ?, ?, ?)", [(i, *k) for i, k in enumerate(keys)])
        self._key_table = None

    def key_list(self) -> list[Key]:
        """The live keys in FAISS order, with their texts (a question key's text is its question's)."""
        rows = self.db.execute(
            """SELECT k.turn_id, k.paragraph, p.text, k.asked FROM keys k
               LEFT JOIN paragraphs p ON p.turn_id = k.turn_id AND p.seq = k.paragraph ORDER BY k.pos""")
        return [Key(tid, seq, text if asked is None else self._turn_text(asked), asked)
                for tid, seq, text, asked in rows.fetchall()]

    def cached_hashes(self, hashes: Iterable[str]) -> set[str]:
        """Which of ``hashes`` already have a vector in the cache (those texts need no encoding)."""
        found: set[str] = set()
        hashes = list(hashes)
        for i in range(0, len(hashes), 500):
            chunk = hashes[i : i + 500]
            found.update(r[0] for r in self.db.execute(
                f"SELECT hash FROM vectors WHERE hash IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def put_vectors(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Cache ``vectors`` (row i is the vector of the text with hash ``hashes[i]``)."""
        self.db.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
            [(h, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for h, v in zip(hashes, vectors, strict=True)],
        )

    def key_vectors(self, dim: int) -> np.ndarray:
        """The vectors of all keys, in key order, from the cache."""
        rows = self.db.execute("SELECT v.vector FROM keys k JOIN vectors v ON v.hash = k.hash ORDER BY k.pos")
        out = np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32)
        return out.reshape(-1, dim)

    def prune_vectors(self) -> None:
        """Drop cached vectors no key uses any more, so the cache does not grow with every edit."""
        self.db.execute("DELETE FROM vectors WHERE hash NOT IN (SELECT hash FROM keys)")

    # --- reading -------------------------------------------------------------------------------

    def count(self, table: str) -> int:
        """Rows in ``table`` (one of the store's own tables)."""
        assert table in ("conferences", "turns", "paragraphs", "keys", "vectors", "sources")
        return self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def keys_at(self, positions: Sequence[int]) -> dict[int, tuple[str, int]]:
        """FAISS rows -> (turn id, paragraph seq); the paragraph of a question key is QUESTION_KEY."""
        table = self.key_table()
        return {pos: (table.turns[table.turn[pos]], int(table.paragraph[pos])) for pos in map(int, positions)}

    def paragraph_keys(self, turn_ids: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
        """For each answer, the FAISS rows and paragraph seqs of its paragraph keys (rows ascending)."""
        table, out = self.key_table(), {}
        for tid in turn_ids:
            number = table.number.get(tid)
            if number is not None and table.first[number] < table.first[number + 1]:
                rows = table.by_turn[table.first[number] : table.first[number + 1]]
                out[tid] = list(zip(rows.tolist(), table.paragraph[rows].tolist(), strict=True))
        return out

    def key_table(self) -> KeyTable:
        """The keys table in memory (loaded at first use; set_keys drops it)."""
        if self._key_table is None:
            self._key_table = KeyTable.load(self.db)
        return self._key_table

    def answers(self, turn_ids: Sequence[str]) -> dict[str, Answer]:
        """The answers with these turn ids, with conference, page source and the question they reply to."""
        if not turn_ids:
            return {}
        marks = ",".join("?" * len(turn_ids))
        paragraphs: dict[str, list[Paragraph]] = {}
        for tid, text, start, end, page in self.db.execute(
            f'SELECT turn_id, text, start, "end", page FROM paragraphs WHERE turn_id IN ({marks}) '
            "ORDER BY turn_id, seq",
            list(turn_ids),
        ):
            paragraphs.setdefault(tid, []).append(Paragraph(text, start, end, page))
        out: dict[str, Answer] = {}
        rows = self.db.execute(
            f"""SELECT t.id, t.speaker, t.title, t.kind, t.conference_id, c.title, c.held, c.published,
                       c.source, q.outlet, q.id
                FROM turns t JOIN conferences c ON c.id = t.conference_id
                LEFT JOIN turns q ON q.id = t.replies_to
                WHERE t.id IN ({marks})""",
            list(turn_ids),
        )
        also = self._also(turn_ids)
        for tid, speaker, title, kind, cid, ctitle, held, published, csource, outlet, qid in rows:
            paras = tuple(paragraphs.get(tid, ()))
            page = self._page(cid, paras[0].page if paras else 1)
            out[tid] = Answer(
                id=tid, speaker=speaker, title=title, kind=Kind(kind), paragraphs=paras, conference_id=cid,
                conference=ctitle, held=_day(held), published=_day(published),
                source=(page[0] or page[1] or csource) if page else csource,
                path=page[1] if page else None,
                asked_by=outlet, asked=self._turn_text(qid) if qid else None, also=also.get(tid, ()),
            )
        return out

    def _also(self, turn_ids: Sequence[str]) -> dict[str, tuple[date, ...]]:
        """For each answer, the other days (oldest first) on which the same words were said."""
        rows = self.db.execute(
            f"""SELECT a.turn_id, coalesce(c.held, c.published) FROM answer_texts a
                JOIN answer_texts o ON o.hash = a.hash AND o.turn_id != a.turn_id
                JOIN turns t ON t.id = o.turn_id JOIN conferences c ON c.id = t.conference_id
                WHERE a.turn_id IN ({",".join("?" * len(turn_ids))})""",
            list(turn_ids),
        )
        days: dict[str, set[date]] = {}
        for tid, day in rows:
            if day:
                days.setdefault(tid, set()).add(date.fromisoformat(day))
        return {tid: tuple(sorted(d)) for tid, d in days.items()}

    def _page(self, conference_id: str, number: int) -> tuple[str | None, str | None] | None:
        return self.db.execute("SELECT url, path FROM pages WHERE conference_id = ? AND number = ?",
                               (conference_id, number)).fetchone()

    def _turn_text(self, tid: str) -> str:
        rows = self.db.execute("SELECT text FROM paragraphs WHERE turn_id = ? ORDER BY seq", (tid,))
        return "\n\n".join(r[0] for r in rows)

    def positions(self, where: AnswerFilter) -> np.ndarray:
        """FAISS rows (int64, ascending) of the keys of answers that ``where`` admits."""
        clauses, args = [], []
        if where.speaker:
            # Whole words of the name: "Li" finds Li Ming, not Liu Liehong or Chen Lili.
            clauses.append("instr(' ' || lower(t.speaker) || ' ', ' ' || lower(?) || ' ') > 0")
            args.append(" ".join(where.speaker.split()))
        if where.conference:
            clauses.append("(instr(lower(c.title), lower(?)) > 0 OR c.id = ?)")
            args += [where.conference.strip(), where.conference.strip()]
        if where.since:
            clauses.append("coalesce(c.held, c.published) >= ?")
            args.append(where.since.isoformat())
        if where.until:
            clauses.append("coalesce(c.held, c.published) <= ?")
            args.append(where.until.isoformat())
        sql = ("SELECT k.pos FROM keys k JOIN turns t ON t.id = k.turn_id JOIN conferences c ON c.id = t.conference_id"
               + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY k.pos")
        return np.fromiter((r[0] for r in self.db.execute(sql, args)), dtype=np.int64)

    def questions(self, limit: int = 200) -> list[str]:
        """Journalists' questions that got an answer, the latest conference's first (for example questions: by id,
        an archive's were from any year, 2009's before 2026's), each conference's in the order asked."""
        rows = self.db.execute(
            """SELECT q.id FROM turns q JOIN conferences c ON c.id = q.conference_id WHERE q.kind = 'question'
                 AND EXISTS (SELECT 1 FROM turns a WHERE a.replies_to = q.id AND a.kind = 'answer')
               ORDER BY coalesce(c.held, c.published) IS NULL, coalesce(c.held, c.published) DESC, q.conference_id,
                        q.seq LIMIT ?""", (limit,))
        return [self._turn_text(r[0]) for r in rows.fetchall()]

    def speakers(self) -> list[str]:
        """Names of the officials who answered or briefed, most answers first."""
        rows = self.db.execute(
            "SELECT speaker FROM turns WHERE kind IN ('answer', 'statement') GROUP BY speaker "
            "ORDER BY count(*) DESC, speaker"
        )
        return [r[0] for r in rows]

    def conferences(self) -> list[ConferenceInfo]:
        """Every conference with its counts, by date (undated first), then title, as `pressroom list` shows them."""
        rows = self.db.execute(
            """SELECT c.id, c.title, coalesce(c.held, c.published),
                      (SELECT count(*) FROM sources s WHERE s.conference_id = c.id),
                      (SELECT count(*) FROM turns t WHERE t.conference_id = c.id AND t.kind IN ('answer','statement')),
                      (SELECT count(*) FROM keys k JOIN turns t ON t.id = k.turn_id
                       WHERE t.conference_id = c.id AND k.asked IS NULL)
               FROM conferences c ORDER BY coalesce(c.held, c.published), c.title"""
        )
        speakers: dict[str, list[str]] = {}
        for cid, speaker in self.db.execute(
            "SELECT conference_id, speaker FROM turns WHERE kind IN ('answer', 'statement') "
            "GROUP BY conference_id, speaker ORDER BY conference_id, min(seq)"
        ):
            speakers.setdefault(cid, []).append(speaker)
        return [ConferenceInfo(cid, title, _day(day), n_src, n_ans, n_keys, tuple(speakers.get(cid, ())))
                for cid, title, day, n_src, n_ans, n_keys in rows]


# The answer that stands for all answers with the same text: the latest (undated last), then by id.
_LATEST_WITH_HASH = """SELECT o.turn_id FROM answer_texts o JOIN turns ot ON ot.id = o.turn_id
    JOIN conferences oc ON oc.id = ot.conference_id WHERE o.hash = a.hash
    ORDER BY coalesce(oc.held, oc.published) IS NULL, coalesce(oc.held, oc.published) DESC, o.turn_id LIMIT 1"""


def answer_hash(speaker: str, text: str) -> str:
    """Identity of an answer: who said it and its words, with runs of white space folded.

    The speaker is part of it so that "also said on" never lends one official's dates to another.
    """
    return text_hash(f"{speaker.casefold()}\x1f{' '.join(text.split())}")


def turn_id(conference_id: str, seq: int) -> str:
    """The id of turn ``seq`` of a conference: stable, since conference ids are."""
    return f"{conference_id}:{seq}"


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


__all__ = ["MIN_KEY_WORDS", "QUESTION_KEY", "Answer", "AnswerFilter", "ConferenceInfo", "Key", "Store", "turn_id"]
