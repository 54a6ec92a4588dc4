"""User-facing wording: errors, each one sentence that names the problem and what to do, and counts."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None, *, width: int = 0) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is one: "1 answer", "0 answers", "3 answering processes".

    Every count the CLI, the chat, the server and the ingest report print goes through here, so none says
    "1 answers".

    Args:
        n: the count.
        noun: the singular.
        plural: the plural, when it is not ``noun`` + "s".
        width: the count right-aligned in this many characters, for columns.
    """
    return f"{n:{width}d} {noun if n == 1 else plural or noun + 's'}"


class PressroomError(Exception):
    """A mistake in input or setup that the user can fix; shown without a traceback."""


class TranscriptError(PressroomError):
    """A source that cannot be read as a press-conference transcript."""


class IndexProblem(PressroomError):
    """An index that is missing, corrupt, or built with another model."""
