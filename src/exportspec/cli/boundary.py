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

from exportspec.errors import ConfigError, ExitCode, ExportspecError, ReportedFailure, UsageError
from exportspec.spec.models import Diagnostic
from exportspec.terminal import printable, printable_lines


def print_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    """Diagnostics of a single-spec command, as text lines on stderr (escaped: file names,
    messages and values may come from anyone)."""
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


@contextmanager
def reporting_failures(report: Callable[[ExportspecError], None]) -> Iterator[None]:
    """An error raised before a command has results still gets the command's report: `report`
    writes it on stdout as a complete `--output-format` document (CI reads the error where it
    reads results, and an upload step gets a valid file). The error then goes on to the
    boundary, which prints it on stderr and exits with its code, as without a report.
    """
    try:
        yield
    except ReportedFailure:
        raise
    except ExportspecError as exc:
        with contextlib.suppress(ExportspecError), writing_stdout():
            report(exc)  # a failing stdout must not hide the error itself
        raise


class Stopped(KeyboardInterrupt):
    """SIGTERM, SIGHUP or SIGQUIT, raised where the program is, so cleanup (temporary
    files) runs as for Ctrl-C; the exit code is 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Signals that stop a command cleanly, and what is said when they do.
STOPPING = {
    getattr(signal, name): said
    for name, said in (("SIGTERM", "Terminated."), ("SIGHUP", "Hung up."), ("SIGQUIT", "Quit."))
    if hasattr(signal, name)
}


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)


@contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (CliRunner in a worker thread)
        return
    previous = {signum: signal.signal(signum, _raise_stopped) for signum in STOPPING}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def error_boundary(
    command: Callable[[], click.Context | None], *, show_traceback: bool
) -> Iterator[None]:
    """Map exceptions to exit codes; `show_traceback` adds the traceback of an unexpected
    error (a bug), never another exit code.

    `command()` gives the running command's context, for the usage text of a usage error.
    """
    try:
        with _signals_as_exceptions():
            yield
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise  # click's own: it prints them and picks the code
    except UsageError as exc:
        raise click.UsageError(printable_lines(exc.message), command()) from None
    except ExportspecError as exc:
        print_diagnostics(exc.diagnostics)
        if exc.message:
            click.echo(f"Error: {printable_lines(_scrubbed(exc.message))}", err=True)
        raise SystemExit(exc.exit_code) from None
    except Stopped as exc:
        click.echo(STOPPING.get(exc.signum, "Stopped."), err=True)
        raise SystemExit(128 + exc.signum) from None
    except KeyboardInterrupt:
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
            f"Error: internal error: {printable(_scrubbed(f'{type(exc).__name__}: {exc}'))}\n"
            "hint: run again with `exportspec --traceback ...` and report it",
            err=True,
        )
        raise SystemExit(ExitCode.SPEC_INVALID) from None


def _scrubbed(message: str) -> str:
    """`message` without the object store's credentials (a backend's error may hold them)."""
    from exportspec.run.destinations import scrub_store_secrets

    return scrub_store_secrets(message)


def _traceback(show: bool) -> None:
    """The traceback (--traceback), with the store's credentials masked as in messages (a
    frame's line may quote one)."""
    if show:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(_scrubbed(traceback.format_exc()))
