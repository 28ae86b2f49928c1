"""`exportspec run` and `exportspec rerun`: options in, `run.runner.run` does the work."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from exportspec.cli.boundary import print_diagnostics, writing_stdout
from exportspec.cli.options import OUTPUT_FILE, Destination, render_options, require_file_name
from exportspec.errors import ExitCode, UsageError
from exportspec.run.settings import (
    MAX_BYTES,
    MAX_RETRIES,
    MAX_SECONDS,
    ConnectionFlags,
    SettingsLayer,
)

if TYPE_CHECKING:
    from exportspec.run.destinations import Location
    from exportspec.run.models import ExportRequest, StoredRun
    from exportspec.run.runner import RunOptions

F = TypeVar("F", bound=Callable[..., Any])


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


def _common_options(function: F) -> F:
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


@click.command("run")
@click.argument(
    "specs",
    metavar="SPEC|DIR...",
    nargs=-1,
    type=click.Path(exists=True, path_type=Path),
)
@render_options
@click.option(
    "-o",
    "--output",
    type=OUTPUT_FILE,
    callback=require_file_name,
    help="Export file, any path or an object-store URL such as s3://BUCKET/KEY (`-` for "
    "stdout, no run record) [default: the spec's output.path, else exports/NAME.csv|json, "
    "under the output root].",
)
@click.option(
    "--output-root",
    metavar="PATH|URL",
    help="Folder or object-store URL (s3://BUCKET/PREFIX, gs://, az://) the spec's "
    "output.path is relative to and must stay inside [env "
    "EXPORTSPEC_OUTPUT_ROOT; else output_root in exportspec.toml; default: the working folder].",
)
@click.option(
    "--locked",
    is_flag=True,
    help="Send only what exportspec.lock holds: the spec rendered at the lock's now must give "
    "the locked body and output path, and at the real now differ only in scalar values whose "
    "template reads now; else exit 1 with a diff, nothing sent.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=2,
    envvar="EXPORTSPEC_JOBS",
    show_envvar=False,
    metavar="N",
    help="Several specs: exports at once, and the most requests in flight "
    "[env EXPORTSPEC_JOBS; default 2].",
)
@click.option(
    "--fail-fast", is_flag=True, help="Several specs: start no new export once one failed."
)
@click.option(
    "--batch-record",
    type=Destination(),
    metavar="FILE",
    help="Several specs: where the batch record goes [default: "
    "batches/STARTED.batch.json under the output root].",
)
@click.option(
    "--resume",
    type=Destination(exists=True),
    metavar="BATCH_RECORD",
    help="Run again the specs of BATCH_RECORD that did not succeed, at its now (unless "
    "--now), and update that record (unless --batch-record).",
)
@_common_options
@connection_options
def run(
    specs: tuple[Path, ...],
    environment: str | None,
    var_assignments: tuple[str, ...],
    vars_files: tuple[Path, ...],
    now: str | None,
    output: Location | None,
    output_root: str | None,
    locked: bool,
    jobs: int,
    fail_fast: bool,
    batch_record: Location | None,
    resume: Location | None,
    dry_run: bool,
    sandbox: bool,
    quiet: bool,
    **connection: Any,
) -> None:
    """Compile SPEC, send it, and stream the export to a file.

    Several SPECs (or folders, searched as `validate` does) are a batch: --jobs exports
    at once under one shared request bound, each to its own output and run record, a
    summary table at the end and a batch record; the exit code is the most severe of the
    specs' (130 > 143 > 131 > 129 > 5 > 4 > 3 > 1 > 0).

    The file appears only when the whole response arrived; beside it, OUTPUT.run.json
    records how it was made. Credentials come from EXPORTSPEC_API_KEY_ID and
    EXPORTSPEC_API_SECRET only. Exit codes: 1 invalid spec, 2 usage, 3 configuration,
    4 refused by the API, 5 transient failure after retries, 130 interrupted (Ctrl-C),
    129/131/143 hung up, quit, terminated, 141 the reader of -o - left; a failed run
    leaves no partial file.
    """
    from exportspec.gitops.inputs import project_for, render_inputs, undeclared_environment_vars
    from exportspec.run.spec_run import prepare_run
    from exportspec.spec.load import iter_spec_files

    carried: dict[Path, dict[str, Any]] = {}
    if resume is not None:
        from exportspec.run.batch import load_batch_record

        if specs:
            raise UsageError("--resume runs the specs its batch record names: give no SPEC")
        resumed = load_batch_record(resume)
        now = now or resumed["now"]
        batch_record = batch_record or resume
        specs = tuple(Path(entry["path"]) for entry in resumed["specs"])
        carried = {Path(e["path"]): e for e in resumed["specs"] if e["status"] == "succeeded"}
    elif not specs:
        raise UsageError("give a SPEC or a folder of specs (or --resume BATCH_RECORD)")
    if len(specs) == 1 and not specs[0].is_dir() and resume is None:
        spec = specs[0]
    else:
        files = list(iter_spec_files(specs)) if resume is None else list(specs)
        if len(files) != 1 or resume is not None:
            _run_batch(
                files,
                specs,
                environment=environment,
                var_assignments=var_assignments,
                vars_files=vars_files,
                now=now,
                output=output,
                output_root=output_root,
                locked=locked,
                jobs=jobs,
                fail_fast=fail_fast,
                batch_record=batch_record,
                dry_run=dry_run,
                sandbox=sandbox,
                quiet=quiet,
                connection=connection,
                carried=carried,
                resume=resume,
            )
            return
        spec = files[0]
    project = project_for([spec])
    print_diagnostics(undeclared_environment_vars(project, [spec]))
    inputs = render_inputs(project, environment, var_assignments, vars_files, now)
    prepared = prepare_run(
        spec,
        project=project,
        environment=environment,
        inputs=inputs,
        flags=ConnectionFlags(**connection),
        output=output,
        output_root=output_root,
        vars_files=vars_files,
        sandbox=sandbox,
        dry_run=dry_run,
        locked=locked,
        warn=print_diagnostics,
    )
    _execute(prepared.options, quiet=quiet)


def _run_batch(
    files: list[Path],
    paths: tuple[Path, ...],
    *,
    environment: str | None,
    var_assignments: tuple[str, ...],
    vars_files: tuple[Path, ...],
    now: str | None,
    output: Location | None,
    output_root: str | None,
    locked: bool,
    jobs: int,
    fail_fast: bool,
    batch_record: Location | None,
    dry_run: bool,
    sandbox: bool,
    quiet: bool,
    connection: dict[str, Any],
    carried: dict[Path, dict[str, Any]],
    resume: Location | None,
) -> None:
    """Several specs: prepare them all (usage errors end everything, exit 2, before anything
    is sent), then run them on worker threads and write the batch record."""
    from exportspec.errors import ReportedFailure
    from exportspec.gitops.inputs import project_for, render_inputs, undeclared_environment_vars
    from exportspec.gitops.project import output_root as resolve_output_root
    from exportspec.run.batch import Batch, default_record_name, prepare_batch, run_batch
    from exportspec.run.destinations import location
    from exportspec.run.models import iso

    if not files:
        raise UsageError(f"no .yaml, .yml or .toml files under {', '.join(map(str, paths))}")
    if output is not None:
        raise UsageError(
            f"-o names one file, and {len(files)} specs were given: each spec writes its own "
            "output.path under the output root (--output-root)"
        )
    project = project_for(files)
    print_diagnostics(undeclared_environment_vars(project, files))
    inputs = render_inputs(project, environment, var_assignments, vars_files, now)
    items = prepare_batch(
        files,
        project=project,
        inputs=inputs,
        environment=environment,
        flags=ConnectionFlags(**connection),
        output_root=output_root,
        vars_files=vars_files,
        locked=locked,
        sandbox=sandbox,
        dry_run=dry_run,
        carried=carried,
        warn=print_diagnostics,
    )
    if dry_run:
        for item in items:
            if item.options is not None:
                _execute(item.options, quiet=quiet)
        codes = [i.exit_code for i in items if i.exit_code]
        if codes:
            from exportspec.run.batch import most_severe

            raise ReportedFailure(ExitCode(most_severe(codes)))
        return
    settings: dict[str, Any] = {
        "paths": [str(p) for p in paths],
        "jobs": jobs,
        "fail_fast": fail_fast,
        "environment": environment,
        "vars": list(var_assignments),
        "vars_files": [str(p) for p in vars_files],
        "output_root": output_root,
        "locked": locked,
        "sandbox": sandbox,
        **({} if resume is None else {"resume": str(resume)}),
        **{name: value for name, value in connection.items() if value is not None},
    }
    batch = Batch(items, settings, iso(inputs.now))
    if batch_record is None:
        root = location(resolve_output_root(project, environment, output_root))
        batch_record = root / default_record_name(batch.started_at)
    selected = project.environment(environment)
    run_batch(
        batch,
        jobs=jobs,
        fail_fast=fail_fast,
        messages=None if quiet else sys.stderr,
        record=batch_record,
        storage_options={} if selected is None else selected.storage_options,
    )
    if not quiet:
        with contextlib.suppress(OSError):
            click.echo(f"Batch record: {batch_record}", err=True)
    if batch.exit_code:
        raise ReportedFailure(ExitCode(batch.exit_code))


@click.command("rerun")
@click.argument("record", type=Destination(exists=True))
@click.option(
    "-o",
    "--output",
    type=OUTPUT_FILE,
    callback=require_file_name,
    help="Export file (`-` for stdout) [default: the record's output path].",
)
@click.option(
    "--use-record-url",
    is_flag=True,
    help="Send to the base URL and project token stored in RECORD, whatever the settings say.",
)
@_common_options
@connection_options
def rerun(
    record: Location,
    output: Location | None,
    use_record_url: bool,
    dry_run: bool,
    sandbox: bool,
    quiet: bool,
    **connection: Any,
) -> None:
    """Send the body stored in run record RECORD again, byte for byte.

    Nothing is re-rendered: the stored body is checked against its sha256. It goes to the
    currently configured API (flags, EXPORTSPEC_* variables), which must be where the
    record went (scheme, host, port and project token); when they differ, rerun stops
    with exit 3 unless --use-record-url, --sandbox or an explicit --base-url /
    --project-token says where to send it. A new run record is written beside the output.
    The default output is the recorded file beside RECORD, wherever rerun is started: the
    new export and record replace the old ones (the new record's `rerun_of` keeps the
    replayed record's sha256, start time and output sha256). Pass -o to keep both.
    """
    from exportspec.run.records import load_run_record
    from exportspec.run.runner import RunOptions

    stored = load_run_record(record)
    recorded = SettingsLayer(
        f"the run record {record}",
        {"base_url": stored.base_url, "project_token": stored.project_token},
    )
    target = output or _default_rerun_output(record, stored)
    options = RunOptions(
        stored.request,
        None if str(target) == "-" else target,
        ConnectionFlags(**connection),
        sandbox=sandbox,
        dry_run=dry_run,
        recorded=recorded,
        use_record_url=use_record_url,
        inputs=(record,),
    )
    _execute(options, quiet=quiet)


def _default_rerun_output(record: Location, stored: StoredRun) -> Location:
    """Beside the record, under the recorded file name: the record sits beside its output,
    and the recorded path was relative to wherever that run was started."""
    from exportspec.run.records import RECORD_SUFFIX

    if stored.output_path:
        name = Path(stored.output_path).name
        if name not in ("", ".", ".."):
            return record.parent / name
    if record.name.endswith(RECORD_SUFFIX) and len(record.name) > len(RECORD_SUFFIX):
        return record.with_name(record.name.removesuffix(RECORD_SUFFIX))
    stem = record.name.rpartition(".")[0] or record.name
    return record.parent / f"{stem}.{_suffix(stored.request)}"


def _execute(options: RunOptions, *, quiet: bool) -> None:
    """Run, then print the dry run (stdout) or the summary (stderr)."""
    from exportspec.run.display import format_summary
    from exportspec.run.runner import run as run_export

    stdout = sys.stdout.buffer if options.output is None and sys.stdout is not None else None
    outcome = run_export(options, messages=None if quiet else sys.stderr, stdout=stdout)
    if outcome.dry_run_text is not None:
        with writing_stdout():
            click.echo(outcome.dry_run_text, nl=False)
    elif outcome.result is not None and not quiet:
        with contextlib.suppress(OSError):  # the export is done; a full stderr cannot undo it
            click.echo(format_summary(outcome.result, outcome.record), err=True)


def _suffix(request: ExportRequest) -> str:
    return "csv" if request.export_format == "csv" else "json"
