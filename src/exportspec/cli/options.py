"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_FORMATS = ("text", "json", "github")


def render_options(function: F) -> F:
    """--var, --vars-file and --now: the inputs of template rendering."""
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
    return function


def output_format_option(function: F) -> F:
    return click.option(
        "--output-format",
        type=click.Choice(OUTPUT_FORMATS),
        default="text",
        show_default=True,
        help="text: PATH:LINE:COLUMN lines; json: one versioned document; "
        "github: Actions annotations.",
    )(function)


def build_render_inputs(
    var_assignments: Sequence[str], vars_files: Sequence[Path], now: str | None
) -> Any:
    """Turn the render options into `RenderInputs` (imported lazily to keep start-up light)."""
    from exportspec.variables import (
        RenderInputs,
        load_vars_files,
        parse_now,
        parse_var_assignments,
    )

    layers = [*load_vars_files(vars_files)]
    if var_assignments:
        layers.append(parse_var_assignments(var_assignments))
    return RenderInputs(now=parse_now(now), layers=tuple(layers))
