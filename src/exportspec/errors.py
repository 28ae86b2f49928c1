"""Exit codes and the exception hierarchy; the CLI's error boundary maps one to the other."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exportspec.spec.models import Diagnostic


def abridged(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters for a message: a pasted megabyte is not echoed back."""
    return text if len(text) <= limit else text[:limit] + "..."


class ExitCode(enum.IntEnum):
    """Documented process exit codes (docs/running.md, "Exit codes")."""

    OK = 0
    SPEC_INVALID = 1
    USAGE = 2
    CONFIG = 3
    REFUSED = 4
    TRANSIENT = 5
    PLAN_CHANGED = 6
    #: Hung up (128 + SIGHUP): the terminal went away.
    HANGUP = 129
    INTERRUPTED = 130
    #: Quit (128 + SIGQUIT, Ctrl-\\).
    QUIT = 131
    #: The reader of stdout went away (128 + SIGPIPE, as for any Unix tool).
    BROKEN_PIPE = 141
    #: Stopped by SIGTERM (128 + 15).
    TERMINATED = 143


class ExportspecError(Exception):
    """Base of every error we raise on purpose: a message, located diagnostics, an exit code."""

    exit_code: ExitCode = ExitCode.SPEC_INVALID
    #: Requests sent before a run failed (0: none, or not known).
    attempts: int = 0

    def __init__(self, message: str = "", diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.diagnostics = tuple(diagnostics)


class SpecInvalidError(ExportspecError):
    """One or more specs failed to load, render or validate; holds every diagnostic."""

    exit_code = ExitCode.SPEC_INVALID

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        super().__init__("", diagnostics)

    def __str__(self) -> str:
        """The count and the first problems, located: what a log line needs."""
        shown = [
            f"{d.file}:{d.position.line}:{d.position.column}: {d.message}"
            if d.position
            else f"{d.file}: {d.message}"
            for d in self.diagnostics[:3]
        ]
        more = len(self.diagnostics) - len(shown)
        head = f"{len(self.diagnostics)} problem(s) in specs"
        return "; ".join([head, *shown, *([f"and {more} more"] if more > 0 else [])])


class ReportedFailure(ExportspecError):
    """A failure the command's own report (stdout) already describes: only the exit code."""

    def __init__(self, exit_code: ExitCode) -> None:
        super().__init__()
        self.exit_code = exit_code


class UsageError(ExportspecError):
    """A flag or argument value is wrong (undeclared --var, bad --now, ...)."""

    exit_code = ExitCode.USAGE


class ConfigError(ExportspecError):
    """A connection setting, credential or project file is missing or wrong."""

    exit_code = ExitCode.CONFIG


class RefusedError(ExportspecError):
    """The API refused the request (400, 401, 403, 404, or success: false); not retried."""

    exit_code = ExitCode.REFUSED


class TransientError(ExportspecError):
    """A transient failure (network, timeout, 429, 5xx, truncated body) outlasted the retries."""

    exit_code = ExitCode.TRANSIENT
