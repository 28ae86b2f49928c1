"""`exportspec compile`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from exportspec.cli.boundary import print_diagnostics, writing_stdout
from exportspec.cli.options import OUTPUT_FILE, render_options, require_file_name
from exportspec.gitops.inputs import project_for, render_inputs, undeclared_environment_vars


@click.command("compile")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@render_options
@click.option(
    "-o",
    "--output",
    type=OUTPUT_FILE,
    callback=require_file_name,
    default=Path("-"),
    help="Write the body to FILE instead of stdout (`-`).",
)
def compile_(
    spec: Path,
    environment: str | None,
    var_assignments: tuple[str, ...],
    vars_files: tuple[Path, ...],
    now: str | None,
    output: Path,
) -> None:
    """Print SPEC's request body as canonical JSON.

    Keys are sorted, text is UTF-8 and there is no insignificant whitespace, so the
    bytes are identical on every machine and run (given the same variables and
    --now). A split spec prints the JSON array of its part bodies, in segment order.
    Problems are printed to stderr as PATH:LINE:COLUMN: error: MESSAGE.
    """
    from exportspec.spec.pipeline import compile_spec
    from exportspec.spec.split import parts_json

    project = project_for([spec])
    print_diagnostics(undeclared_environment_vars(project, [spec]))
    inputs = render_inputs(project, environment, var_assignments, vars_files, now)
    result = compile_spec(spec, inputs)
    print_diagnostics(result.diagnostics)
    assert result.compiled is not None
    compiled = result.compiled
    # A split spec sends its parts: they are what `run` sends, in segment order.
    body = compiled.body if not compiled.parts else parts_json(compiled)
    from exportspec.run.output import write_file

    if str(output) == "-":
        with writing_stdout():
            # Exactly the bytes `run` sends (and the lock hashes), so `| sha256sum` and
            # `| curl --data-binary @-` agree; a newline only to keep a terminal tidy.
            sys.stdout.buffer.write(body + b"\n" if sys.stdout.isatty() else body)
    else:
        write_file(output, body)
