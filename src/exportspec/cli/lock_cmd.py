"""`exportspec lock` and `exportspec plan`."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import click

from exportspec.cli.boundary import print_diagnostics, reporting_failures, writing_stdout
from exportspec.cli.options import output_format_option, render_options
from exportspec.errors import (
    ExitCode,
    ExportspecError,
    ReportedFailure,
    SpecInvalidError,
    UsageError,
)
from exportspec.gitops.inputs import (
    project_for,
    project_spec_files,
    render_inputs,
    spec_paths,
    undeclared_environment_vars,
)
from exportspec.terminal import printable

if TYPE_CHECKING:
    from exportspec.gitops.models import Lock
    from exportspec.gitops.project import Project
    from exportspec.spec.models import SpecResult
    from exportspec.spec.variables import RenderInputs


class _Compiled(NamedTuple):
    """Every spec of a lock or plan, compiled, with what it was compiled from."""

    project: Project
    lock: Lock
    results: list[SpecResult]
    inputs: RenderInputs


_paths_argument = click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))


def _compile_all(
    paths: tuple[Path, ...],
    environment: str | None,
    var_assignments: tuple[str, ...],
    vars_files: tuple[Path, ...],
    now: str | None,
    *,
    warn_environment: bool = False,
) -> _Compiled:
    """Compile every spec; stop with exit 1 and the diagnostics if any is invalid."""
    from exportspec.gitops.lock import read_lock
    from exportspec.spec.pipeline import check_specs

    project = project_for(paths)
    print_diagnostics(undeclared_environment_vars(project, paths))
    lock = read_lock(project)
    if warn_environment:
        from exportspec.gitops.lock import environment_mismatch

        if (warning := environment_mismatch(lock, project, environment)) is not None:
            click.echo(printable(warning), err=True)
    # The lock pins `now`, so time-dependent bodies do not drift between runs.
    inputs = render_inputs(project, environment, var_assignments, vars_files, now or lock.now_text)
    results = check_specs(spec_paths(paths, project), inputs)
    problems = [d for r in results for d in r.diagnostics if not r.ok]
    if problems:
        raise SpecInvalidError(problems)
    return _Compiled(project, lock, results, inputs)


@click.command()
@_paths_argument
@render_options
def lock(
    paths: tuple[Path, ...],
    environment: str | None,
    var_assignments: tuple[str, ...],
    vars_files: tuple[Path, ...],
    now: str | None,
) -> None:
    """Write exportspec.lock: each spec's compiled body, its sha256, its inputs, its
    rendered output path and the body paths whose template reads `now`.

    The lock sits next to exportspec.toml (or in the working folder) and belongs in
    git; `exportspec plan` compares against it. It pins `now`: an existing lock's
    moment is kept unless --now is given. With PATHs, only the specs under them are
    (re)locked and the lock's other entries are kept as they are; that needs the
    lock's own environment and moment.
    """
    from exportspec.gitops.lock import build_lock, write_lock
    from exportspec.gitops.scope import split_lock

    project, old, results, inputs = _compile_all(
        paths, environment, var_assignments, vars_files, now
    )
    chosen = project.environment(environment)
    chosen_name = chosen.name if chosen else None
    now_text = inputs.now.isoformat().replace("+00:00", "Z")
    _, kept = split_lock(old, paths, results, lambda: project_spec_files(project))
    if kept and (chosen_name != old.environment or inputs.now != _lock_moment(old)):
        # The kept bodies were compiled with the lock's inputs: one lock, one of each.
        env = f"--env {old.environment}" if old.environment else "no --env"
        moment = f"--now {old.now_text}" if old.now_text else "no recorded now"
        raise UsageError(
            f"lock PATH... keeps the other {len(kept)} locked spec(s) as they are, compiled "
            f"with {env} and {moment}: use the same, or lock every spec (no PATH) to "
            "change them"
        )
    new, text = build_lock(results, project, environment=chosen_name, now=now_text, kept=kept)
    write_lock(new.path, text)
    others = f" ({len(kept)} other(s) kept)" if kept else ""
    click.echo(f"Locked {len(results)} spec(s) in {printable(str(new.path))}{others}", err=True)


@click.command()
@_paths_argument
@render_options
@output_format_option(
    text="a readable diff per spec (+ added, - removed, > renamed, ~ changed, * moved)"
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 6 when any compiled body differs from the lock (0 when none does).",
)
def plan(
    paths: tuple[Path, ...],
    environment: str | None,
    var_assignments: tuple[str, ...],
    vars_files: tuple[Path, ...],
    now: str | None,
    output_format: str,
    detailed_exitcode: bool,
) -> None:
    """Show which request bodies and output paths differ from exportspec.lock, and how.

    Compiles today's specs (with the lock's `now` unless --now is given) and prints,
    per spec, added / removed / renamed / changed / moved / unchanged with a diff of
    the body and the output path (JSON path, old value, new value); a moved spec (same
    body, another file) sends nothing new, so it is not a difference for
    --detailed-exitcode. Changes that come only from variable values (--var,
    --vars-file, --env) show up too. It lists the body paths that depend on `now` and
    warns when a template reading `now` yields an object or array; a lock of format 1
    is reported as needing a relock. With PATHs, only the locked specs under them are
    compared. Sends nothing.
    """
    from exportspec.gitops.plan import compute_plan
    from exportspec.gitops.plan_report import PLAN_REPORTER_BY_NAME
    from exportspec.gitops.report import failure_location, failure_report
    from exportspec.gitops.scope import split_lock

    def report_failure(error: ExportspecError) -> None:
        where = failure_location(paths)
        failure_report(output_format, error, sys.stdout, command="plan", where=where)

    # A bad exportspec.toml, lock, flag or spec still gets a complete --output-format document.
    with reporting_failures(report_failure):
        project, lock_, results, _ = _compile_all(
            paths, environment, var_assignments, vars_files, now, warn_environment=True
        )
        if not lock_.exists:
            click.echo(
                f"note: no lock file at {printable(str(lock_.path))}: every spec shows as added; "
                "`exportspec lock` writes it (commit it to plan against it)",
                err=True,
            )
        scoped, _ = split_lock(lock_, paths, results, lambda: project_spec_files(project))
        result = compute_plan(results, scoped)
    with writing_stdout():
        PLAN_REPORTER_BY_NAME[output_format](result, sys.stdout)
    if detailed_exitcode and result.differs:
        raise ReportedFailure(ExitCode.PLAN_CHANGED)


def _lock_moment(lock: Lock) -> dt.datetime | None:
    """The lock's `now` as a moment (None when it records none)."""
    from exportspec.spec.variables import parse_now

    return parse_now(lock.now_text) if lock.now_text else None
