"""`exportspec validate`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from exportspec.cli.boundary import print_diagnostics, reporting_failures, writing_stdout
from exportspec.cli.options import output_format_option, render_options
from exportspec.errors import ExitCode, ExportspecError, ReportedFailure, SpecInvalidError
from exportspec.gitops.inputs import (
    project_for,
    project_spec_files,
    render_inputs,
    spec_paths,
    undeclared_environment_vars,
)
from exportspec.spec.models import Diagnostic
from exportspec.terminal import printable

if TYPE_CHECKING:
    from exportspec.spec.models import SpecResult


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@render_options
@output_format_option(text="PATH:LINE:COLUMN: error: MESSAGE lines and a summary")
@click.option(
    "--locked",
    is_flag=True,
    help="Also fail when exportspec.lock is missing or differs from today's compiled bodies.",
)
def validate(
    paths: tuple[Path, ...],
    environment: str | None,
    var_assignments: tuple[str, ...],
    vars_files: tuple[Path, ...],
    now: str | None,
    output_format: str,
    locked: bool,
) -> None:
    """Check specs the way the API would, and report every problem.

    PATHS are spec files or folders (searched recursively for .yaml, .yml and
    .toml); default: the project's spec roots from exportspec.toml, else `specs/`.
    Each spec is loaded, rendered with its variables and checked against the body
    schema; every problem is printed as PATH:LINE:COLUMN: error: MESSAGE (at $.path).

    Exits 0 when all specs are valid (warnings allowed), 1 when any is not.
    """
    from exportspec.gitops.report import REPORTER_BY_NAME, failure_location, failure_report
    from exportspec.spec.pipeline import check_specs

    def report_failure(error: ExportspecError) -> None:
        where = failure_location(paths)
        failure_report(output_format, error, sys.stdout, command="validate", where=where)

    # A bad exportspec.toml, lock or flag still gets a complete --output-format document.
    with reporting_failures(report_failure):
        project = project_for(paths)
        roots = spec_paths(paths, project)
        print_diagnostics(undeclared_environment_vars(project, paths))
        if locked:
            from exportspec.gitops.lock import environment_mismatch, read_lock

            lock = read_lock(project)
            now = now or lock.now_text
            if (warning := environment_mismatch(lock, project, environment)) is not None:
                click.echo(printable(warning), err=True)
        try:
            inputs = render_inputs(project, environment, var_assignments, vars_files, now)
        except SpecInvalidError as exc:
            # A broken --vars-file belongs in the report CI reads, not only on stderr.
            with writing_stdout():
                REPORTER_BY_NAME[output_format](_results_by_file(exc.diagnostics), sys.stdout)
            raise ReportedFailure(ExitCode.SPEC_INVALID) from None
        results = check_specs(roots, inputs)
        if locked:
            from exportspec.gitops.scope import split_lock
            from exportspec.gitops.stale import stale_lock_results

            # With PATHs, only the locked specs under them.
            lock, _ = split_lock(lock, paths, results, lambda: project_spec_files(project))
            results = stale_lock_results(results, lock, project)
    with writing_stdout():
        REPORTER_BY_NAME[output_format](results, sys.stdout)
    if not all(r.ok for r in results):
        raise ReportedFailure(ExitCode.SPEC_INVALID)


def _results_by_file(diagnostics: Sequence[Diagnostic]) -> list[SpecResult]:
    """Failed results, one per file, for diagnostics found outside any spec."""
    from exportspec.spec.models import SpecResult

    files = dict.fromkeys(d.file for d in diagnostics)
    return [
        SpecResult(
            Path(file), None, tuple(d for d in diagnostics if d.file == file), kind="vars-file"
        )
        for file in files
    ]
