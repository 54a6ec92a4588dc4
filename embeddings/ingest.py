"""Ingest: find transcripts, parse what changed, and commit them into the index in one atomic step."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .encoder import Encoder, load_encoder
from .errors import PressroomError, TranscriptError, counted
from .fetch import FetchedPage, Fetcher, fetch_conference, is_url
from .html import HTML_SUFFIXES, conference_from_pages, decode_html, extract, group_pages, read_html
from .index import CURRENT, Index, IndexWriter, exists, writing
from .qa import MAX_QA_BYTES, STDIN, conferences_from_pairs, parse_pairs, read_qa
from .records import Conference, text_hash
from .store import MIN_KEY_WORDS, Store
from .transcripts import (
    MAX_TRANSCRIPT_BYTES,
    TRANSCRIPT_SUFFIXES,
    decode_transcript,
    parse_text,
    read_transcript,
    sidecar_path,
)

# A reader turns one file into conferences, plus one sentence for each part of it that was skipped.
Reader = Callable[[Path], tuple[list[Conference], list[str]]]


def _read_text(path: Path) -> tuple[list[Conference], list[str]]:
    return [read_transcript(path)], []


def _read_html(path: Path) -> tuple[list[Conference], list[str]]:
    return [read_html([path])], []


READERS: dict[str, Reader] = {
    **{suffix: _read_text for suffix in TRANSCRIPT_SUFFIXES},
    **{suffix: _read_html for suffix in HTML_SUFFIXES},
    ".jsonl": read_qa,
}


def read_piped(data: bytes, where: str) -> tuple[list[Conference], list[str]]:
    """One transcript given as bytes (``pressroom ingest -``), told apart by content as a file is by its suffix:
    Q&A JSONL starts with ``{``, a saved page with ``<``, anything else is text (front matter allowed)."""
    text = decode_transcript(data, where)
    start = text.lstrip()[:1]
    limit = MAX_QA_BYTES if start == "{" else MAX_TRANSCRIPT_BYTES  # the limits of the files' readers
    if len(data) > limit:
        raise TranscriptError(f"{where} is over {limit / 1e6:.0f} MB; split it into files and ingest those.")
    if start == "{":
        pairs, problems = parse_pairs(text, where)
        return conferences_from_pairs(pairs, Path(where), voices=True), problems
    if start == "<":
        page = extract(decode_html(data, where), name=where)
        return [conference_from_pages([(page, where)], where=where)], []
    return [parse_text(text, path=where)], []


@dataclass
class IngestReport:
    """The summary printed at the end of an ingest.

    A source is what is read and replaced as one: a file (a Q&A file may hold many conferences), the saved pages of
    one conference, or an address with the pages it brings along. Each source given is read, unchanged or rejected.
    """

    files: int = 0  # files and fetched pages the sources read or checked hold
    read: int = 0  # sources read: new or changed
    unchanged: int = 0  # sources skipped: same bytes as last time
    sources_rejected: int = 0  # sources of which nothing could be read (a missing path, a binary file, …)
    added: list[str] = field(default_factory=list)  # conference titles
    updated: list[str] = field(default_factory=list)  # conferences whose content changed
    removed: list[str] = field(default_factory=list)  # conferences gone from a changed source
    conferences: int = 0  # in the index after the ingest
    # (source, why): whole sources, parts of them, and conferences stored with no passage (answers too short)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    passages_before: int = 0
    passages: int = 0
    passages_added: int = 0
    passages_updated: int = 0  # same place in the same conference, new text
    passages_removed: int = 0
    questions: int = 0  # question keys in the index: journalists' questions routing to their answers
    encoded: int = 0  # texts the model encoded (the rest came from the cache)
    committed: bool = False

    @property
    def ok(self) -> bool:
        """Whether every source was read, with something to search (the exit status of `pressroom ingest`)."""
        return not self.rejected

    @property
    def passages_kept(self) -> int:
        """Passages left as they were (unchanged sources, or unchanged parts of changed ones)."""
        return self.passages_before - self.passages_updated - self.passages_removed

    def summary(self) -> str:
        """The one-paragraph summary `pressroom ingest` prints: each line's parts add up to its first number
        (sources given, conferences and passages in the index), and each says what it counts."""
        files = counted(self.files, "file or page", "files or pages")
        problems = f"; {counted(len(self.rejected), 'problem')} listed below" if self.rejected else ""
        sources = self.read + self.unchanged + self.sources_rejected
        conferences_kept = self.conferences - len(self.added) - len(self.updated)
        return (
            f"Sources: {sources} ({files}): {self.read} read, {self.unchanged} unchanged, "
            f"{self.sources_rejected} rejected{problems}. "
            f"Conferences in the index: {self.conferences} ({len(self.added)} added, {len(self.updated)} updated, "
            f"{conferences_kept} unchanged); {len(self.removed)} removed. "
            f"Passages in the index: {self.passages} ({self.passages_added} added, {self.passages_updated} updated, "
            f"{self.passages_kept} unchanged); {self.passages_removed} removed; "
            f"{counted(self.encoded, 'text')} newly encoded. Journalists' questions as keys: {self.questions}."
        )


# Documents a transcript is often kept in, which ingest cannot read: named, with what to do, wherever they are.
DOCUMENT_SUFFIXES = (".doc", ".docx", ".mht", ".mhtml", ".odt", ".pdf", ".rtf")


def discover(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Transcript files under ``paths`` (files or folders), and the paths that could not be used."""
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    suffixes = ", ".join(sorted(READERS))
    for path in paths:
        if not path.exists():
            problems.append((str(path), f"{path} does not exist; check the path (ingest takes files, folders, "
                                        "http(s) addresses and '-' for stdin: `pressroom ingest --help`)."))
        elif path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and not _ignored(p, path))
            found = [p for p in inside if p.suffix.lower() in READERS]
            documents = [p for p in inside if p.suffix.lower() in DOCUMENT_SUFFIXES]
            if not found and not documents:
                problems.append((str(path), f"No transcripts found under {path} (looked for {suffixes})."))
            problems += [(str(d), _not_readable(d, suffixes)) for d in documents]
            files.extend(found)
        elif path.suffix.lower() not in READERS:
            problems.append((str(path), _not_readable(path, suffixes)))
        else:
            files.append(path)
    return list(dict.fromkeys(files)), problems


def _not_readable(path: Path, suffixes: str) -> str:
    if path.name.lower().endswith(".meta.json"):
        return f"{path} is a sidecar; ingest the transcript beside it ({path.name[:-len('.meta.json')]})."
    if path.suffix.lower() == ".json":
        return f"{path} is not read: Q&A pairs go in a .jsonl file, one JSON object a line."
    if path.suffix.lower() in (".mht", ".mhtml"):  # Chrome's "Webpage, Single File"
        return f"{path} is a web archive, which ingest cannot read; save the page as \"Webpage, HTML only\" (.htm)."
    if path.suffix.lower() in DOCUMENT_SUFFIXES:
        return (f"{path} is a {path.suffix.lower()} document, which ingest cannot read; save it as plain text "
                f"(.txt) and ingest that.")
    return f"{path} is not a transcript file (expected {suffixes})."


def _ignored(path: Path, top: Path) -> bool:
    """Hidden folders, index folders and the `<page>_files/` folder a browser saves beside a page (its frames and
    widgets, .html files with no transcript) inside a data folder are not sources."""
    for parent in path.relative_to(top).parents:
        if parent.name.startswith(".") or (top / parent / CURRENT).exists() or _saved_with_a_page(top / parent):
            return True
    return path.name.startswith(".")


def _saved_with_a_page(folder: Path) -> bool:
    page = folder.name.removesuffix("_files")
    return page != folder.name and any(folder.with_name(page + suffix).is_file() for suffix in HTML_SUFFIXES)


def fingerprint(path: Path) -> str:
    """sha256 of a transcript and its sidecar: a change to either re-ingests the file."""
    digest = hashlib.sha256(path.read_bytes())
    sidecar = sidecar_path(path)
    if sidecar.exists():
        digest.update(b"\0sidecar\0" + sidecar.read_bytes())
    return digest.hexdigest()


class _Files:
    """Local files read and replaced together: one transcript, or the saved pages of one conference."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.name = str(paths[0])
        self.problems: list[str] = []  # parts that could not be read, even when the rest is unchanged

    def load(self) -> list[tuple[str, str]]:
        try:
            return [(str(path), fingerprint(path)) for path in self.paths]  # resolved by _units
        except OSError as exc:
            raise TranscriptError(f"{exc.filename or self.name} cannot be read ({exc.strerror}).") from exc

    def read(self) -> tuple[list[Conference], list[str]]:
        if len(self.paths) > 1:
            return [read_html(self.paths)], []
        path = self.paths[0]
        return READERS[path.suffix.lower()](path)


class _Address:
    """A press-room URL: the page and the other numbered pages of its conference, fetched once."""

    def __init__(self, url: str, fetcher: Fetcher) -> None:
        self.name = url
        self.fetcher = fetcher
        self.pages: list[FetchedPage] = []
        self.problems: list[str] = []

    def load(self) -> list[tuple[str, str]]:
        self.pages, self.problems = fetch_conference(self.name, self.fetcher)
        return [(p.fetched.url, p.fetched.sha256) for p in self.pages]

    def read(self) -> tuple[list[Conference], list[str]]:
        conference = conference_from_pages([(p.page, None) for p in self.pages], where=self.name)
        return [conference], self.problems


class _Stdin:
    """One transcript piped in (``pressroom ingest -``), read once."""

    def __init__(self) -> None:
        self.data = sys.stdin.buffer.read(MAX_QA_BYTES + 1)
        self.sha = hashlib.sha256(self.data).hexdigest()
        # Named by its content, which gives a conference with no source address its id: the same text piped
        # again is unchanged, from any folder; `show` names it "stdin:…".
        self.name = f"stdin:{self.sha[:16]}"
        self.problems: list[str] = []

    def load(self) -> list[tuple[str, str]]:
        return [(self.name, self.sha)]

    def read(self) -> tuple[list[Conference], list[str]]:
        return read_piped(self.data, self.name)


def _units(inputs: Sequence[Path | str],
           fetcher: Fetcher | None) -> tuple[list[_Files | _Address | _Stdin], list[tuple[str, str]]]:
    """What to read, in order: standard input (``-``), files, saved pages grouped by conference, then URLs
    (fetched with ``fetcher``, given whenever there are any); and what cannot be used."""
    piped: list[_Files | _Address | _Stdin] = [_Stdin()] if STDIN in map(str, inputs) else []
    paths = [Path(p) for p in inputs if not is_url(p) and str(p) != STDIN]
    found, problems = discover(paths)
    # Absolute: a file's source (and so its conference's id, when no address is given) must not depend on the
    # folder ingest runs in or on how the path is spelled, or an edit read as `/abs/x.txt` re-adds `x.txt`'s.
    files = list(dict.fromkeys(f.resolve() for f in found))
    pages = [f for f in files if f.suffix.lower() in HTML_SUFFIXES]
    units = piped + [_Files([f]) for f in files if f.suffix.lower() not in HTML_SUFFIXES]
    units += [_Files(group) for group in group_pages(pages)]
    urls = dict.fromkeys(str(p) for p in inputs if is_url(p))
    if urls:
        assert fetcher is not None, "ingest() makes a fetcher whenever it is given URLs"
        units += [_Address(url, fetcher) for url in urls]
    return units, problems


def ingest(
    paths: Sequence[Path | str],
    root: Path,
    encoder: Encoder,
    *,
    rebuild: bool = False,
    progress: bool = False,
    fetcher: Fetcher | None = None,
) -> IngestReport:
    """Add or update the transcripts under ``paths`` (files, folders or http(s) addresses) in the index at ``root``.

    Unchanged sources are skipped; a changed one replaces its conference; a source that cannot be read is
    reported in ``rejected`` while the others still land. Nothing is written unless something changed. The
    saved pages of one conference (``content_<id>.htm``, ``content_<id>_2.htm``, …) are read as one; a URL
    brings the other numbered pages of its conference along.
    """
    report = IngestReport()
    # A fetcher made here (only when there are URLs to fetch) is closed here; one given is the caller's.
    own_fetcher = Fetcher() if fetcher is None and any(is_url(p) for p in paths) else None
    units, report.rejected = _units(paths, fetcher or own_fetcher)
    report.sources_rejected = len(report.rejected)  # paths that name no transcript
    if not units and not rebuild and not exists(root):
        # Nothing to read (a mistyped path): make no index folder. (Taking away a folder and `.lock` made by a
        # writer that then stored nothing was tried, but another ingest may be waiting on that lock file.)
        return report
    # A rebuild starts from an empty store, yet reports against the live index it replaces: what was there and
    # still is was not "added", and the counts add up (before + added - removed = after).
    live = _open_live(root) if rebuild else None
    replaced = live.titles if live else {}
    done: set[str] = set()  # sources already read in this run (a URL whose conference came in with another)
    read: set[str] = set()  # conferences already read in this run: one read from two sources is reported once
    try:
        with IndexWriter(root, encoder, rebuild=rebuild) as writer, writing(root):
            store = writer.store
            before = live.index.store if live else store
            old_keys = live.passages if live else store.passage_hashes()
            report.passages_before = len(old_keys)  # one paragraph key a passage
            changed = False
            for unit in units:
                if unit.name in done:
                    continue
                try:
                    sources = unit.load()
                    report.files += len(sources)
                    done.update(name for name, _ in sources)
                    if all(store.source_hash(name) == sha for name, sha in sources):
                        report.unchanged += 1
                        report.rejected.extend((unit.name, why) for why in unit.problems)
                        continue
                    if not changed and hasattr(encoder, "prepare"):
                        encoder.prepare()  # its sessions are made while this source is parsed and staged
                    conferences, skipped = unit.read()
                except TranscriptError as exc:
                    report.rejected.append((unit.name, str(exc)))
                    report.sources_rejected += 1
                    continue
                if not conferences:  # a Q&A file none of whose lines is a pair: it replaces nothing, changes nothing
                    report.rejected += [(unit.name, why) for why in skipped] or [
                        (unit.name, f"{unit.name} holds nothing that could be read.")]
                    report.sources_rejected += 1
                    continue
                report.read += 1
                report.rejected.extend((unit.name, why) for why in skipped)
                _replace(store, conferences, sources, report, before, read)
                changed = True
            if changed or rebuild:
                kept = store.conference_ids()
                report.removed += [title for cid, title in replaced.items() if cid not in kept]
                report.conferences = len(kept)
                _count_passages(report, old_keys, store)
                stats = writer.commit(progress=progress)
                report.passages, report.encoded, report.committed = stats.passages, stats.encoded, True
                report.questions = stats.questions
            else:
                report.conferences = len(store.conference_ids())
                report.passages = report.passages_before
                report.questions = store.count("keys") - report.passages_before
    finally:
        if own_fetcher is not None:
            own_fetcher.close()
        if live is not None:
            live.index.close()
    return report


class _Live(NamedTuple):
    """The live index a rebuild replaces, read once for its report."""

    index: Index  # open: the report compares each conference read with its live form
    titles: dict[str, str]  # conference id -> title
    passages: dict[tuple[str, int], str]  # (turn id, paragraph) -> text hash


def _open_live(root: Path) -> _Live | None:
    """The live index, to compare a rebuild with; None when there is none or it cannot be read."""
    try:
        index = Index.open(root)
    except PressroomError:  # no index yet, or a damaged one that `pressroom doctor` is rebuilding
        return None
    try:
        titles = {info.id: info.title for info in index.store.conferences()}
        return _Live(index, titles, index.store.passage_hashes())
    except sqlite3.DatabaseError:  # a damaged store that opened
        index.close()
        return None


def _replace(store: Store, conferences: list[Conference], sources: list[tuple[str, str]],
             report: IngestReport, was: Store, read: set[str]) -> None:
    """Put the conferences read from ``sources`` in place of those they held before, and note in ``report``
    which were added, updated (content differs, not only re-read) or removed (no longer in the sources);
    ``was`` holds them as they were (``store`` itself, or the live index a rebuild replaces); ``read`` holds the
    ids already read in this run, which are not reported again."""
    previous = {cid for name, _ in sources for cid in store.conferences_from(name)}
    for conference in conferences:
        before = was.conference(conference.id)
        store.put(conference, sources)
        previous.discard(conference.id)
        if conference.id in read:
            continue
        read.add(conference.id)
        if before is None:
            report.added.append(conference.title)
        elif before != store.conference(conference.id):
            report.updated.append(conference.title)
        if not _searchable(conference):  # stored, yet no word of it could ever be an answer: say so
            report.rejected.append((conference.source, (
                f'"{conference.title}" ({conference.source}) is stored with no passage: none of its answers has '
                f"{MIN_KEY_WORDS} words or more, so `pressroom ask` cannot return it.")))
    for gone in previous:
        title = store.title(gone)
        report.removed.append(gone if title is None else title)
        store.delete(gone)


def _searchable(conference: Conference) -> bool:
    """Whether a paragraph of an answer or statement is long enough to be a passage (see Store.key_texts)."""
    return any(len(p.text.split()) >= MIN_KEY_WORDS
               for turn in conference.turns if turn.kind.searchable for p in turn.paragraphs)


def _count_passages(report: IngestReport, old: dict[tuple[str, int], str], store: Store) -> None:
    """Passages added, removed and updated, comparing the staged keys with ``old`` (the live index's)."""
    new = {(key.turn_id, key.paragraph): text_hash(key.text) for key in store.key_texts(questions=False)}
    report.passages_added = len(new.keys() - old.keys())
    report.passages_removed = len(old.keys() - new.keys())
    report.passages_updated = sum(1 for key in new.keys() & old.keys() if new[key] != old[key])


@dataclass
class _LazyEncoder:
    """The index's model, loaded only if a removal needs it (a repeated answer, spaced differently, becomes
    the passage that stands for the one removed); most removals only drop vectors."""

    name: str
    dim: int
    backend: str  # the manifest's: the writer refuses an encoder of another backend (an empty one included)

    def encode(self, texts: Sequence[str], *, progress: bool = False, query: bool = False) -> np.ndarray:
        return load_encoder(self.name).encode(texts, progress=progress, query=query)


def remove(root: Path, conference_ids: Sequence[str], encoder: Encoder | None = None) -> tuple[list[str], int]:
    """Take conferences out of the index at ``root`` (ids as `pressroom list` shows them, or unique prefixes).

    Args:
        root: the index folder.
        conference_ids: ids or unique prefixes of them.
        encoder: the index's encoder; by default its model is loaded only if something must be encoded.

    Returns:
        The titles removed and the passages left.
    """
    live = Index.open(root)
    try:
        manifest = live.manifest
        # The lookup of `pressroom show`, by id only: a title part is too loose a handle to delete by.
        known = dict(live.store.lookup(wanted, titles=False) for wanted in conference_ids)
    finally:
        live.close()
    chosen = list(known)
    lazy = _LazyEncoder(manifest.model, manifest.dim, manifest.backend)
    with IndexWriter(root, encoder or lazy) as writer, writing(root):
        for cid in chosen:
            writer.store.forget_source_hashes(cid)
            writer.store.delete(cid)
        stats = writer.commit()
    return list(known.values()), stats.passages


__all__ = ["IngestReport", "discover", "ingest", "remove"]
