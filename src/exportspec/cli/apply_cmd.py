"""`exportspec apply`: run what a merge changed, and only what was reviewed."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from exportspec.cli.boundary import print_diagnostics
from exportspec.cli.options import variable_options
from exportspec.cli.run_options import (
    batch_options,
    connection_options,
    display,
    report_batch,
    send_options,
)
from exportspec.run.settings import ConnectionFlags
from exportspec.terminal import printable

if TYPE_CHECKING:
    from exportspec.gitops.apply import ApplyPlan
    from exportspec.run.destinations import Location
    from exportspec.spec.variables import RenderInputs


@click.command("apply")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--since",
    required=True,
    metavar="BASE",
    help="What the changes are against: a lock file when a file by that name exists, else "
    "a git revision (its exportspec.lock is read with `git show`), e.g. the commit before "
    "the merge.",
)
@variable_options
@click.option(
    "--output-root",
    metavar="PATH|URL",
    help="Folder or object-store URL (s3://BUCKET/PREFIX, gs://, az://) the specs' "
    "output.path is relative to [env EXPORTSPEC_OUTPUT_ROOT; else output_root in "
    "exportspec.toml; default: the working folder].",
)
@batch_options
@send_options
@connection_options
def apply(
    paths: tuple[Path, ...],
    since: str,
    environment: str | None,
    var_assignments: tuple[str, ...],
    vars_files: tuple[Path, ...],
    output_root: str | None,
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
    """Run the specs whose lock entry was added, changed or renamed since BASE.

    PATHS (default: the project's specs) must all be fresh in exportspec.lock, as
    `validate --locked` checks, else nothing runs (exit 1). A spec that only moved does
    not run. Each spec that runs is checked as `run --locked` does: rendered at the
    lock's now it gives the locked body and output path, and at the real now it differs
    only in scalar values whose template reads now. If any is refused, nothing is
    sent.

    The specs run as one batch (--jobs, --rate, a batch record under the output root).
    Running apply again at the same commit, lock and environment runs only the specs
    that did not succeed the first time. --dry-run prints each request and sends
    nothing. Exit codes as `run` with several specs.
    """
    from exportspec.gitops.inputs import project_for, render_inputs, undeclared_environment_vars
    from exportspec.run.batch import BatchSettings
    from exportspec.run.batch_setup import apply_changes

    project = project_for(paths)
    print_diagnostics(undeclared_environment_vars(project, paths))
    settings = BatchSettings(
        tuple(str(p) for p in paths),
        environment,
        var_assignments,
        vars_files,
        output_root,
        True,
        jobs,
        rate,
        fail_fast,
        sandbox,
        dry_run,
        ConnectionFlags(**connection),
        since=since,
    )

    def inputs_at(now: str | None) -> RenderInputs:
        return render_inputs(project, environment, var_assignments, vars_files, now)

    def announce(plan: ApplyPlan) -> None:
        if quiet:
            return
        unchanged = sum(selected.status == "unchanged" for selected in plan.rest)
        with contextlib.suppress(OSError):
            for selected in (*plan.run, *plan.rest):
                if selected.status == "unchanged":
                    continue  # counted below: a project of hundreds is not listed
                verb = "runs" if selected in plan.run else "does not run"
                line = f"{selected.spec}: {selected.status} since {plan.base}: {verb}"
                click.echo(printable(line), err=True)
            if unchanged:
                line = f"{unchanged} spec(s) unchanged since {plan.base}: not run"
                click.echo(printable(line), err=True)

    shown = None if dry_run else display(quiet)
    plan, batch = apply_changes(
        paths,
        settings,
        since=since,
        project=project,
        inputs_at=inputs_at,
        record=batch_record,
        display=shown,
        warn=print_diagnostics,
        announce=announce,
    )
    if batch is None:
        if not quiet:
            with contextlib.suppress(OSError):
                click.echo(
                    printable(f"Nothing to apply: no lock entry changed since {plan.base}"),
                    err=True,
                )
        return
    if any(item.carried is not None for item in batch.items) and not quiet:
        with contextlib.suppress(OSError):
            click.echo(
                printable(
                    f"Resuming {batch.record_path}: an earlier apply at this commit, with "
                    "this lock, API and output root; what it exported is not exported again"
                ),
                err=True,
            )
    for item, selected in zip(batch.items, plan.run, strict=True):
        if item.dry_run_text is not None:
            head = printable(f"# {selected.spec}: {selected.status} since {plan.base}")
            item.dry_run_text = f"{head}\n{item.dry_run_text}"
    report_batch(batch, output_format=output_format, quiet=quiet, shown=shown)
