"""User-facing errors: each message is one sentence that names the problem and what to do."""

from __future__ import annotations


class PressroomError(Exception):
    """A mistake in input or setup that the user can fix; shown without a traceback."""


class TranscriptError(PressroomError):
    """A source that cannot be read as a press-conference transcript."""


class IndexProblem(PressroomError):
    """An index that is missing, corrupt, or built with another model."""
