"""The one error boundary: every exception becomes one message and a documented exit code.

`LazyGroup.invoke` applies it once, around whichever command runs. Commands raise; they
never exit by themselves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import click

from exportspec.errors import ConfigError, ExitCode, ExportspecError, UsageError
from exportspec.spec.models import Diagnostic


def print_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    """Diagnostics of a single-spec command, as text lines on stderr."""
    from exportspec.gitops.report import format_diagnostic, use_colour

    colour = use_colour(sys.stderr)
    for diagnostic in diagnostics:
        click.echo(format_diagnostic(diagnostic, colour=colour), err=True)


@contextmanager
def writing_stdout() -> Iterator[None]:
    """Turn a failing stdout (full disk, closed, I/O error) into a ConfigError.

    A reader that left (BrokenPipeError) passes through: the error boundary ends quietly.
    """
    if sys.stdout is None:
        raise ConfigError("stdout is closed; redirect it to a file or use -o FILE")
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot write to stdout: {exc.strerror or exc}") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so cleanup (temporary files) runs as for Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextmanager
def _sigterm_as_exception() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (CliRunner in a worker thread)
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def error_boundary(
    command: Callable[[], click.Context | None], *, show_traceback: bool
) -> Iterator[None]:
    """Map exceptions to exit codes; `show_traceback` adds the traceback, never another code.

    `command()` gives the running command's context, for the usage text of a usage error.
    """
    try:
        with _sigterm_as_exception():
            yield
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise  # click's own: it prints them and picks the code
    except UsageError as exc:
        _traceback(show_traceback)
        raise click.UsageError(exc.message, command()) from None
    except ExportspecError as exc:
        _traceback(show_traceback)
        print_diagnostics(exc.diagnostics)
        if exc.message:
            click.echo(f"Error: {exc.message}", err=True)
        raise SystemExit(exc.exit_code) from None
    except Terminated:
        _traceback(show_traceback)
        click.echo("Terminated.", err=True)
        raise SystemExit(ExitCode.TERMINATED) from None
    except KeyboardInterrupt:
        _traceback(show_traceback)
        click.echo("Interrupted.", err=True)
        raise SystemExit(ExitCode.INTERRUPTED) from None
    except BrokenPipeError:
        # `exportspec validate | head`: the reader left. End quietly, as a Unix tool killed
        # by SIGPIPE would, but never with 0: the output (and maybe a failure) went unread.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the exit-time flush must not fail again
        raise SystemExit(ExitCode.BROKEN_PIPE) from None
    except Exception as exc:  # a bug of ours: say so in one line unless asked for more
        _traceback(show_traceback)
        click.echo(
            f"Error: internal error: {type(exc).__name__}: {exc}\n"
            "hint: run again with `exportspec --traceback ...` and report it",
            err=True,
        )
        raise SystemExit(ExitCode.SPEC_INVALID) from None


def _traceback(show: bool) -> None:
    if show:
        with contextlib.suppress(OSError, ValueError):
            traceback.print_exc(file=sys.stderr)
