"""The options `run`, `rerun` and `apply` share, and how a batch is reported."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from exportspec.cli.boundary import writing_stdout
from exportspec.cli.options import Destination
from exportspec.errors import ExitCode, ReportedFailure
from exportspec.run.gate import MAX_RATE, MIN_RATE
from exportspec.run.settings import MAX_BYTES, MAX_RETRIES, MAX_SECONDS

if TYPE_CHECKING:
    from exportspec.run.batch import Batch
    from exportspec.run.batch_report import Display

F = TypeVar("F", bound=Callable[..., Any])


def _finite_rate(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets nan through."""
    if value is not None and not MIN_RATE <= value <= MAX_RATE:
        raise click.BadParameter(f"{value} is not a number of requests a minute")
    return value


_SECONDS = click.FloatRange(min=0, min_open=True)


def _finite_seconds(
    ctx: click.Context, param: click.Parameter, value: float | None
) -> float | None:
    """Refuse what FloatRange lets through: nan, inf, and durations too long to be meant."""
    if value is not None and not value <= MAX_SECONDS:  # also true for nan
        raise click.BadParameter(f"{value} is not a number of seconds up to {MAX_SECONDS:g}")
    return value


def connection_options(function: F) -> F:
    """Where to send and how patiently; each flag beats its EXPORTSPEC_* variable."""
    options = [
        click.option(
            "--base-url",
            metavar="URL",
            help="API base URL [env EXPORTSPEC_BASE_URL; default https://api.exponea.com].",
        ),
        click.option(
            "--project-token",
            metavar="TOKEN",
            help="Project token [env EXPORTSPEC_PROJECT_TOKEN].",
        ),
        click.option(
            "--timeout",
            type=_SECONDS,
            callback=_finite_seconds,
            metavar="S",
            help="Longest silence between bytes, first byte included "
            "[env EXPORTSPEC_TIMEOUT; default 600].",
        ),
        click.option(
            "--connect-timeout",
            type=_SECONDS,
            callback=_finite_seconds,
            metavar="S",
            help="Seconds to connect [env EXPORTSPEC_CONNECT_TIMEOUT; default 10].",
        ),
        click.option(
            "--deadline",
            type=_SECONDS,
            callback=_finite_seconds,
            metavar="S",
            help="Give up after S seconds in all, retries included [env EXPORTSPEC_DEADLINE].",
        ),
        click.option(
            "--max-bytes",
            type=click.IntRange(1, MAX_BYTES),
            metavar="N",
            help="Refuse an answer larger than N bytes (decoded) as not an export (exit 4) "
            "[env EXPORTSPEC_MAX_BYTES; default no limit].",
        ),
        click.option(
            "--retries",
            type=click.IntRange(0, MAX_RETRIES),
            metavar="N",
            help="Retries after the first attempt, for 429/5xx, network errors and broken "
            "transfers [env EXPORTSPEC_RETRIES; default 4].",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def send_options(function: F) -> F:
    """--dry-run, --sandbox and --quiet: how a run sends, or does not."""
    function = click.option(
        "-q", "--quiet", is_flag=True, help="No progress, notes or summary on stderr."
    )(function)
    function = click.option(
        "--sandbox",
        is_flag=True,
        help="Start the local emulator in-process and run against it (ignores "
        "EXPORTSPEC_BASE_URL, _PROJECT_TOKEN and the credentials).",
    )(function)
    return click.option(
        "--dry-run",
        is_flag=True,
        help="Print the request (Authorization redacted) and an equivalent curl command; "
        "send nothing.",
    )(function)


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
            help="Several specs (or a split spec's parts): exports at once, and the most "
            "requests in flight [env EXPORTSPEC_JOBS; default 2].",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(MIN_RATE, MAX_RATE),
            callback=_finite_rate,
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
            type=Destination(),
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
