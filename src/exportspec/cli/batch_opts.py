"""The options `run` (several specs) and `apply` share, and how both report a batch."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from exportspec.cli.boundary import writing_stdout
from exportspec.errors import ExitCode, ReportedFailure

if TYPE_CHECKING:
    from exportspec.run.batch import Batch
    from exportspec.run.batch_report import Display

F = TypeVar("F", bound=Callable[..., Any])

#: Requests per minute: at most one a millisecond, so a typo cannot mean "no limit".
MAX_RATE = 60_000.0


def batch_options(function: F) -> F:
    """--jobs, --rate, --fail-fast, --batch-record and the batch's --output-format."""
    options = [
        click.option(
            "--jobs",
            type=click.IntRange(1, 64),
            default=2,
            envvar="EXPORTSPEC_JOBS",
            show_envvar=False,
            metavar="N",
            help="Several specs: exports at once, and the most requests in flight "
            "[env EXPORTSPEC_JOBS; default 2].",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(0, MAX_RATE, min_open=True),
            envvar="EXPORTSPEC_RATE",
            show_envvar=False,
            metavar="N",
            help="At most N requests a minute across the batch, retries included "
            "[env EXPORTSPEC_RATE; default no limit].",
        ),
        click.option(
            "--fail-fast", is_flag=True, help="Several specs: start no new export once one failed."
        ),
        click.option(
            "--batch-record",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="FILE",
            help="Several specs: where the batch record goes [default: "
            "batches/STARTED.batch.json under the output root].",
        ),
        click.option(
            "--output-format",
            type=click.Choice(("text", "json", "junit", "github")),
            default="text",
            show_default=True,
            help="Several specs: the batch result on stdout. text: nothing (the table is on "
            "stderr); json: the batch record; junit: JUnit XML; github: Actions annotations.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def display(quiet: bool) -> Display | None:
    """The batch's live lines on a terminal's stderr, its end lines elsewhere; none quiet."""
    from exportspec.run.batch_report import Display

    if quiet:
        return None
    return Display(sys.stderr, live=sys.stderr is not None and sys.stderr.isatty())


def report_batch(batch: Batch, *, output_format: str, quiet: bool, shown: Display | None) -> None:
    """Print the dry runs or the summary table and the result, then exit with the most
    severe of the specs' codes."""
    from exportspec.run.batch_report import RESULT_WRITERS, format_table

    if shown is not None:
        shown.close()
    texts = [item.dry_run_text for item in batch.items if item.dry_run_text is not None]
    if texts:
        with writing_stdout():
            click.echo("\n".join(texts), nl=False)
    elif output_format in RESULT_WRITERS:
        with writing_stdout():
            click.echo(RESULT_WRITERS[output_format](batch), nl=False)
    if not quiet and not texts:
        with contextlib.suppress(OSError):
            click.echo(format_table(batch), err=True)
            if batch.record_path is not None:
                click.echo(f"Batch record: {batch.record_path}", err=True)
    if batch.exit_code:
        raise ReportedFailure(ExitCode(batch.exit_code))
