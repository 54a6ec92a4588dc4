"""Check an index and, when it is damaged, rebuild it from the sources it was built from."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .encoder import Encoder
from .errors import IndexProblem
from .fetch import is_url
from .index import Index, read_sources
from .ingest import IngestReport, ingest


@dataclass(frozen=True)
class Diagnosis:
    """What `pressroom doctor` found, and what it did."""

    problem: str | None  # None: the index is healthy
    sources: tuple[str, ...] = ()  # what a rebuild read
    report: IngestReport | None = None


def check(root: Path) -> str | None:
    """None if the index at ``root`` loads and is consistent, else the sentence that says what is wrong."""
    try:
        index = Index.open(root)
    except IndexProblem as exc:
        return str(exc)
    try:
        verdict = index.store.db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    finally:
        index.close()
    return None if verdict == "ok" else f"The store of the index at {root} is damaged ({verdict})."


def doctor(root: Path, encoder: Encoder, fallback: Sequence[Path], *, progress: bool = False) -> Diagnosis:
    """Check ``root``; if damaged, rebuild it from its recorded sources (or ``fallback`` when none are known)."""
    problem = check(root)
    if problem is None:
        return Diagnosis(problem=None)
    recorded = [s if is_url(s) else Path(s) for s in read_sources(root)]
    sources = [p for p in recorded if isinstance(p, str) or p.exists()] or list(fallback)
    report = ingest(sources, root, encoder, rebuild=True, progress=progress)
    return Diagnosis(problem=problem, sources=tuple(map(str, sources)), report=report)
