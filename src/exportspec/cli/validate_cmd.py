"""`exportspec validate`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from exportspec.cli.boundary import error_boundary
from exportspec.cli.options import build_render_inputs, output_format_option, render_options


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@render_options
@output_format_option
def validate(
    paths: tuple[Path, ...],
    var_assignments: tuple[str, ...],
    vars_files: tuple[Path, ...],
    now: str | None,
    output_format: str,
) -> None:
    """Check specs the way the API would, and report every problem.

    PATHS are spec files or folders (searched recursively for .yaml, .yml and
    .toml); default `specs/`. Each spec is loaded, rendered with its variables
    and checked against the body schema; every problem is printed as
    PATH:LINE:COLUMN: error: MESSAGE (at $.json.path).

    Exits 0 when all specs are valid (warnings allowed), 1 when any is not.
    """
    with error_boundary():
        from exportspec.pipeline import check_specs
        from exportspec.report import REPORTER_BY_NAME

        if not paths:
            default = Path("specs")
            if not default.is_dir():
                raise click.UsageError("no PATH given and there is no specs/ folder here")
            paths = (default,)
        inputs = build_render_inputs(var_assignments, vars_files, now)
        results = check_specs(list(paths), inputs)
        if not results:
            raise click.UsageError(
                f"no .yaml, .yml or .toml files under {', '.join(map(str, paths))}"
            )
        REPORTER_BY_NAME[output_format](results, sys.stdout)
        if not all(r.ok for r in results):
            raise SystemExit(1)
