"""The single error boundary: our exceptions become one message and a documented exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import click

from exportspec.errors import ExitCode, ExportspecError, SpecInvalidError
from exportspec.models import Diagnostic


def print_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    """Diagnostics of a single-spec command, as text lines on stderr."""
    from exportspec.report import format_diagnostic, use_colour

    colour = use_colour(sys.stderr)
    for diagnostic in diagnostics:
        click.echo(format_diagnostic(diagnostic, colour=colour), err=True)


@contextmanager
def error_boundary() -> Iterator[None]:
    """Map exceptions to exit codes; `EXPORTSPEC_DEBUG=1` re-raises for a traceback."""
    try:
        yield
    except SpecInvalidError as exc:
        print_diagnostics(exc.diagnostics)
        raise SystemExit(ExitCode.SPEC_INVALID) from None
    except ExportspecError as exc:
        if os.environ.get("EXPORTSPEC_DEBUG"):
            raise
        print_diagnostics(getattr(exc, "diagnostics", ()))
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        raise SystemExit(ExitCode.INTERRUPTED) from None
    except BrokenPipeError:
        # `exportspec compile x | head`: the reader left; that is not an error.
        sys.stderr.close()
        raise SystemExit(ExitCode.OK) from None
