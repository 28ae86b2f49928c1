"""`exportspec run` and `exportspec rerun`: options in, `run.runner.run` does the work."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from exportspec.cli.boundary import print_diagnostics, writing_stdout
from exportspec.cli.options import OUTPUT_FILE, Destination, render_options, require_file_name
from exportspec.cli.run_options import (
    batch_options,
    connection_options,
    display,
    report_batch,
    send_options,
)
from exportspec.errors import UsageError
from exportspec.run.settings import (
    ConnectionFlags,
    SettingsLayer,
)

if TYPE_CHECKING:
    from exportspec.run.batch import BatchSettings
    from exportspec.run.batch_record import StoredBatch
    from exportspec.run.destinations import Location
    from exportspec.run.models import ExportRequest, StoredRun
    from exportspec.run.runner import RunOptions

F = TypeVar("F", bound=Callable[..., Any])


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
    "--resume",
    type=Destination(exists=True),
    metavar="BATCH_RECORD",
    help="Run again the specs of BATCH_RECORD that did not succeed, at its now (unless "
    "--now), and update that record (unless --batch-record); or, given a split run's "
    ".OUTPUT.parts/resume.json, send only its parts that failed.",
)
@batch_options
@send_options
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
    resume: Location | None,
    jobs: int,
    rate: float | None,
    fail_fast: bool,
    batch_record: Location | None,
    output_format: str,
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

    resumed = None
    split_resume = isinstance(resume, Path) and _is_split_resume(resume)
    if isinstance(resume, Path) and split_resume:
        from exportspec.run.split import load_resume_state

        if specs:
            raise UsageError("--resume runs the spec its resume file names: give no SPEC")
        state = load_resume_state(resume)
        specs, now, resume = (Path(state["spec"]),), now or state["now"], None
        if output is None and output_root is None and isinstance(state.get("output"), str):
            output = Path(state["output"])  # where the failed run was writing
    if resume is not None:
        from exportspec.run.batch_record import load_batch_record

        if specs:
            raise UsageError("--resume runs the specs its batch record names: give no SPEC")
        resumed = load_batch_record(resume)
        now = now or resumed.now
        specs = tuple(resumed.spec_paths())
    elif not specs:
        raise UsageError("give a SPEC or a folder of specs (or --resume BATCH_RECORD)")
    files = list(specs) if resumed is not None else list(iter_spec_files(specs))
    if resumed is not None or len(files) != 1 or output_format != "text":
        from exportspec.run.batch import BatchSettings

        if output is not None:
            raise UsageError(
                f"-o names one file, and {len(files)} specs were given: each spec writes its "
                "own output.path under the output root (--output-root)"
                if len(files) > 1
                else "-o names one file; --resume and --output-format run a batch, whose "
                "specs write their own output.path: drop -o"
            )
        settings = BatchSettings(
            tuple(str(p) for p in specs),
            environment,
            var_assignments,
            vars_files,
            output_root,
            locked,
            jobs,
            rate,
            fail_fast,
            sandbox,
            dry_run,
            ConnectionFlags(**connection),
            None if resume is None else str(resume),
        )
        _run_batch(files, settings, now, batch_record, resumed, output_format, quiet)
        return
    if not files:
        raise UsageError(f"no .yaml, .yml or .toml files under {', '.join(map(str, specs))}")
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
    _execute(replace(prepared.options, jobs=jobs, resume=split_resume), quiet=quiet, rate=rate)


def _is_split_resume(path: Path) -> bool:
    """`--resume` names a split run's resume.json (its parts folder), not a batch record:
    told by its content (a batch record may be named resume.json too)."""
    import json

    from exportspec.run.split import STATE_NAME, is_resume_state

    if path.name != STATE_NAME:
        return False
    try:
        return is_resume_state(json.loads(path.read_bytes()))
    except (OSError, ValueError):
        return True  # unreadable: load_resume_state says why


def _run_batch(
    files: list[Path],
    settings: BatchSettings,
    now: str | None,
    record: Location | None,
    resumed: StoredBatch | None,
    output_format: str,
    quiet: bool,
) -> None:
    """Several specs: prepare them all (usage errors end everything, exit 2, before anything
    is sent), then run them on worker threads and write the batch record."""
    from exportspec.gitops.inputs import project_for, render_inputs, undeclared_environment_vars
    from exportspec.run.batch_setup import execute_batch

    if not files:
        raise UsageError(f"no .yaml, .yml or .toml files under {', '.join(settings.paths)}")
    project = project_for(files)
    print_diagnostics(undeclared_environment_vars(project, files))
    inputs = render_inputs(
        project, settings.environment, settings.var_assignments, settings.vars_files, now
    )
    shown = display(quiet)
    batch = execute_batch(
        files,
        settings,
        project=project,
        inputs=inputs,
        resumed=resumed,
        record=record,
        display=shown,
        warn=print_diagnostics,
    )
    report_batch(batch, output_format=output_format, quiet=quiet, shown=shown)


@click.command("rerun")
@click.argument("record", type=Destination(exists=True))
@click.option(
    "-o",
    "--output",
    type=OUTPUT_FILE,
    callback=require_file_name,
    help="Export file or object-store URL (`-` for stdout) [default: beside RECORD, under "
    "the recorded file name].",
)
@click.option(
    "--use-record-url",
    is_flag=True,
    help="Send to the base URL and project token stored in RECORD, whatever the settings say.",
)
@send_options
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


def _execute(options: RunOptions, *, quiet: bool, rate: float | None = None) -> None:
    """Run, then print the dry run (stdout) or the summary (stderr). With a `rate`, request
    starts (retries, a split spec's parts) are spaced by a gate."""
    from exportspec.run.display import format_summary
    from exportspec.run.gate import Gate
    from exportspec.run.runner import run as run_export

    stdout = sys.stdout.buffer if options.output is None and sys.stdout is not None else None
    gate = None if rate is None else Gate(options.jobs, rate=rate)
    messages = None if quiet else sys.stderr
    outcome = run_export(options, messages=messages, stdout=stdout, gate=gate)
    if outcome.dry_run_text is not None:
        with writing_stdout():
            click.echo(outcome.dry_run_text, nl=False)
    elif outcome.result is not None and not quiet:
        with contextlib.suppress(OSError):  # the export is done; a full stderr cannot undo it
            click.echo(format_summary(outcome.result, outcome.record), err=True)


def _suffix(request: ExportRequest) -> str:
    return "csv" if request.export_format == "csv" else "json"
