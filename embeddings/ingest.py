"""Ingest: find transcripts, parse what changed, and commit them into the index in one atomic step."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .encoder import Encoder
from .errors import PressroomError, TranscriptError
from .fetch import Fetcher, fetch_conference, is_url
from .html import HTML_SUFFIXES, conference_from_pages, group_pages, read_html
from .index import IndexWriter, writing
from .qa import read_qa
from .records import Conference
from .transcripts import TRANSCRIPT_SUFFIXES, read_transcript, sidecar_path

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


@dataclass
class IngestReport:
    """The summary printed at the end of an ingest."""

    files: int = 0
    added: list[str] = field(default_factory=list)  # conference titles
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    passages_before: int = 0
    passages: int = 0
    encoded: int = 0
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.rejected


def discover(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Transcript files under ``paths`` (files or folders), and the paths that could not be used."""
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    suffixes = ", ".join(sorted(READERS))
    for path in paths:
        if not path.exists():
            problems.append((str(path), f"{path} does not exist."))
        elif path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in READERS and not _ignored(p, path)
            )
            if not found:
                problems.append((str(path), f"No transcripts found under {path} (looked for {suffixes})."))
            files.extend(found)
        elif path.suffix.lower() not in READERS:
            problems.append((str(path), f"{path} is not a transcript file (expected {suffixes})."))
        else:
            files.append(path)
    return list(dict.fromkeys(files)), problems


def _ignored(path: Path, top: Path) -> bool:
    """Hidden folders and index folders inside a data folder are not sources."""
    for parent in path.relative_to(top).parents:
        if parent.name.startswith(".") or (top / parent / "CURRENT").exists():
            return True
    return path.name.startswith(".")


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

    def load(self) -> list[tuple[str, str]]:
        try:
            return [(str(path.resolve()), fingerprint(path)) for path in self.paths]
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
        self.pages: list = []
        self.problems: list[str] = []

    def load(self) -> list[tuple[str, str]]:
        self.pages, self.problems = fetch_conference(self.name, self.fetcher)
        return [(p.fetched.url, p.fetched.sha256) for p in self.pages]

    def read(self) -> tuple[list[Conference], list[str]]:
        conference = conference_from_pages([(p.page, None) for p in self.pages], where=self.name)
        return [conference], self.problems


def _units(inputs: Sequence[Path | str], fetcher: Callable[[], Fetcher]) -> tuple[list, list[tuple[str, str]]]:
    """What to read, in order: files, saved pages grouped by conference, then URLs; and what cannot be used."""
    paths = [Path(p) for p in inputs if not is_url(p)]
    files, problems = discover(paths)
    pages = [f for f in files if f.suffix.lower() in HTML_SUFFIXES]
    units: list = [_Files([f]) for f in files if f.suffix.lower() not in HTML_SUFFIXES]
    units += [_Files(group) for group in group_pages(pages)]
    units += [_Address(str(url), fetcher()) for url in dict.fromkeys(p for p in inputs if is_url(p))]
    return units, problems


def ingest(
    paths: Sequence[Path | str],
    root: Path,
    encoder: Encoder,
    *,
    rebuild: bool = False,
    progress: bool = False,
    on_file: Callable[[str], None] | None = None,
    fetcher: Fetcher | None = None,
) -> IngestReport:
    """Add or update the transcripts under ``paths`` (files, folders or http(s) addresses) in the index at ``root``.

    Unchanged sources are skipped; a changed one replaces its conference; a source that cannot be read is
    reported in ``rejected`` while the others still land. Nothing is written unless something changed. The
    saved pages of one conference (``content_<id>.htm``, ``content_<id>_2.htm``, …) are read as one; a URL
    brings the other numbered pages of its conference along.
    """
    report = IngestReport()
    shared: list[Fetcher] = [fetcher] if fetcher else []

    def get_fetcher() -> Fetcher:
        if not shared:
            shared.append(Fetcher())
        return shared[0]

    units, report.rejected = _units(paths, get_fetcher)
    done: set[str] = set()  # sources already read in this run (a URL whose conference came in with another)
    try:
        with IndexWriter(root, encoder, rebuild=rebuild) as writer, writing(root):
            store = writer.store
            report.passages_before = store.count("keys")
            changed = False
            for unit in units:
                if unit.name in done:
                    continue
                if on_file:
                    on_file(unit.name)
                try:
                    sources = unit.load()
                    report.files += len(sources)
                    done.update(name for name, _ in sources)
                    if all(store.source_hash(name) == sha for name, sha in sources):
                        report.unchanged += 1
                        report.rejected.extend((unit.name, why) for why in getattr(unit, "problems", ()))
                        continue
                    conferences, skipped = unit.read()
                except TranscriptError as exc:
                    report.rejected.append((unit.name, str(exc)))
                    continue
                report.rejected.extend((unit.name, why) for why in skipped)
                previous = {cid for name, _ in sources for cid in store.conferences_from(name)}
                for conference in conferences:
                    existed = store.delete(conference.id)
                    previous.discard(conference.id)
                    store.put(conference, sources)
                    (report.updated if existed else report.added).append(conference.title)
                for gone in previous:  # conferences no longer in a changed source
                    store.delete(gone)
                changed = True
            if changed or rebuild:
                stats = writer.commit(progress=progress)
                report.passages, report.encoded, report.committed = stats.passages, stats.encoded, True
            else:
                report.passages = report.passages_before
    finally:
        if shared and fetcher is None:
            shared[0].close()
    return report


__all__ = ["IngestReport", "PressroomError", "discover", "ingest"]
