"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_FORMATS = ("text", "json", "github", "junit", "sarif")


#: An output file for -o: `-` is stdout.
OUTPUT_FILE = click.Path(dir_okay=False, allow_dash=True, path_type=Path)


def require_file_name(ctx: click.Context, param: click.Parameter, value: Path | None) -> Any:
    """-o "" would mean the working folder: say so instead of failing on a rename."""
    if value is not None and str(value) in ("", "."):
        raise click.BadParameter("needs a file name (or `-` for stdout)")
    return value


def render_options(function: F) -> F:
    """--env, --var, --vars-file and --now: the inputs of template rendering."""
    function = click.option(
        "--now",
        metavar="ISO8601",
        help="Pin the `now` template variable (default: the current time, UTC).",
    )(function)
    function = click.option(
        "--vars-file",
        "vars_files",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="YAML, TOML or JSON file of variable values; repeatable, later files win.",
    )(function)
    function = click.option(
        "--var",
        "var_assignments",
        multiple=True,
        metavar="NAME=VALUE",
        help="Set a declared variable (converted to its declared type); repeatable; "
        "wins over --vars-file.",
    )(function)
    function = click.option(
        "--env",
        "environment",
        metavar="NAME",
        help="Environment from exportspec.toml whose vars apply (below --vars-file; `run` "
        "also takes its base_url and project_token) [default: the project's "
        "default_environment].",
    )(function)
    return function


def output_format_option(*, text: str) -> Callable[[F], F]:
    """--output-format; `text` says what the text form of this command looks like."""

    def decorate(function: F) -> F:
        return click.option(
            "--output-format",
            type=click.Choice(OUTPUT_FORMATS),
            default="text",
            show_default=True,
            help=f"text: {text}; json: one versioned document; github: Actions annotations; "
            "junit: JUnit XML; sarif: SARIF 2.1.0 for code scanning.",
        )(function)

    return decorate


def build_render_inputs(
    var_assignments: Sequence[str],
    vars_files: Sequence[Path],
    now: str | None,
    *,
    environment: str | None = None,
    project: Any = None,
) -> Any:
    """Turn the render options into `RenderInputs` (imported lazily to keep start-up light).

    Layers, lowest first: the environment's vars, each vars file, the `--var` flags.
    """
    from exportspec.variables import (
        RenderInputs,
        VariableLayer,
        load_vars_files,
        parse_now,
        parse_var_assignments,
    )

    layers: list[VariableLayer] = []
    selected = project.environment(environment) if project is not None else None
    if selected is not None:
        layers.append(
            VariableLayer(
                f"environment {selected.name!r}",
                selected.vars,
                project.document,
                prefix=("environments", selected.name, "vars"),
                strict_names=False,
            )
        )
    layers += load_vars_files(vars_files)
    if var_assignments:
        layers.append(parse_var_assignments(var_assignments))
    return RenderInputs(now=parse_now(now), layers=tuple(layers))


def load_project_for(paths: Sequence[Path]) -> Any:
    """The project (exportspec.toml) governing the first path, or the working folder."""
    from exportspec.project import load_project

    return load_project(paths[0] if paths else Path.cwd())


def _from_working_folder(path: Path) -> Path:
    """`path` relative to the working folder when it lies below it, as diagnostics show it:
    CI annotations (GitHub's `file=`) only attach to repository-relative paths."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def spec_paths(paths: Sequence[Path], project: Any) -> list[Path]:
    """PATH arguments, else the project's spec roots, else `specs/`; at least one spec file."""
    from exportspec.loader import iter_spec_files

    if paths:
        chosen = list(paths)
    elif project.file is not None:
        chosen = [_from_working_folder(project.root / root) for root in project.spec_roots]
    else:
        chosen = [Path("specs")]
    missing = [p for p in chosen if not p.exists()]
    if missing:
        raise click.UsageError(f"no PATH given and {missing[0]} does not exist")
    if next(iter_spec_files(chosen), None) is None:
        raise click.UsageError(f"no .yaml, .yml or .toml files under {', '.join(map(str, chosen))}")
    return chosen
