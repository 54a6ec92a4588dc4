"""Ingest: find transcripts, parse what changed, and commit them into the index in one atomic step."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .encoder import Encoder
from .errors import PressroomError, TranscriptError
from .index import IndexWriter, writing
from .qa import read_qa
from .records import Conference
from .transcripts import TRANSCRIPT_SUFFIXES, read_transcript, sidecar_path

# A reader turns one file into conferences, plus one sentence for each part of it that was skipped.
Reader = Callable[[Path], tuple[list[Conference], list[str]]]


def _read_text(path: Path) -> tuple[list[Conference], list[str]]:
    return [read_transcript(path)], []


READERS: dict[str, Reader] = {**{suffix: _read_text for suffix in TRANSCRIPT_SUFFIXES}, ".jsonl": read_qa}


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


def ingest(
    paths: Sequence[Path],
    root: Path,
    encoder: Encoder,
    *,
    rebuild: bool = False,
    progress: bool = False,
    on_file: Callable[[str], None] | None = None,
) -> IngestReport:
    """Add or update the transcripts under ``paths`` in the index at ``root``.

    Unchanged files are skipped; a changed file replaces its conference; a file that cannot be read is
    reported in ``rejected`` while the others still land. Nothing is written unless something changed.
    """
    report = IngestReport()
    files, report.rejected = discover(paths)
    with IndexWriter(root, encoder, rebuild=rebuild) as writer, writing(root):
        store = writer.store
        report.passages_before = store.count("keys")
        changed = False
        for path in files:
            report.files += 1
            if on_file:
                on_file(str(path))
            source = str(path.resolve())
            try:
                sha = fingerprint(path)
                if store.source_hash(source) == sha:
                    report.unchanged += 1
                    continue
                conferences, skipped = READERS[path.suffix.lower()](path)
            except TranscriptError as exc:
                report.rejected.append((str(path), str(exc)))
                continue
            except OSError as exc:
                report.rejected.append((str(path), f"{path} cannot be read ({exc.strerror})."))
                continue
            report.rejected.extend((str(path), why) for why in skipped)
            previous = set(store.conferences_from(source))
            for conference in conferences:
                existed = store.delete(conference.id)
                previous.discard(conference.id)
                store.put(conference, [(source, sha)])
                (report.updated if existed else report.added).append(conference.title)
            for gone in previous:  # conferences no longer in a changed source
                store.delete(gone)
            changed = True
        if changed or rebuild:
            stats = writer.commit(progress=progress)
            report.passages, report.encoded, report.committed = stats.passages, stats.encoded, True
        else:
            report.passages = report.passages_before
    return report


__all__ = ["IngestReport", "PressroomError", "discover", "ingest"]
