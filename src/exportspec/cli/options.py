"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_FORMATS = ("text", "json", "github", "junit", "sarif")


class Destination(click.Path):
    """A file, `-`, or an object-store URL (`s3://bucket/key`): a URL is parsed (a known
    scheme and a bucket, else exit 3) and never becomes a local folder named `s3:`."""

    def __init__(self, *, exists: bool = False) -> None:
        super().__init__(exists=exists, dir_okay=False, allow_dash=not exists, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from exportspec.run.destinations import ObjectUrl, is_url, local_path

        if isinstance(value, str) and is_url(value):
            source = param.get_error_hint(ctx) if param is not None and ctx is not None else ""
            return ObjectUrl.parse(value, source or "the destination")
        if isinstance(value, str):
            value = local_path(value)
        return super().convert(value, param, ctx)


#: An output file for -o: `-` is stdout; a URL is an object.
OUTPUT_FILE = Destination()


def require_file_name(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """-o "" would mean the working folder: say so instead of failing on a rename."""
    if isinstance(value, Path) and str(value) in ("", "."):
        raise click.BadParameter("needs a file name (or `-` for stdout)")
    if value is not None and not isinstance(value, Path) and not value.key:
        raise click.BadParameter(f"{value} names a bucket: add the object's key")
    return value


class EnvironmentOption(click.Option):
    """--env: its help names what the environment gives the command it is on (vars to
    all; base_url and project_token to a command that connects, one with --base-url)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        connects = any(param.name == "base_url" for param in ctx.command.params)
        self.help = ENV_HELP_CONNECTING if connects else ENV_HELP
        return super().get_help_record(ctx)


ENV_HELP = (
    "Environment from exportspec.toml whose vars apply, below --vars-file and --var "
    "[default: the project's default_environment]."
)
ENV_HELP_CONNECTING = (
    "Environment from exportspec.toml: its vars apply below --vars-file and --var; its "
    "base_url and project_token below --base-url, --project-token and their EXPORTSPEC_* "
    "variables [default: the project's default_environment]."
)


def render_options(function: F) -> F:
    """--env, --var, --vars-file and --now: the inputs of template rendering."""
    function = click.option(
        "--now",
        metavar="ISO8601",
        help="Pin the `now` template variable (default: the current time, UTC).",
    )(function)
    return variable_options(function)


def variable_options(function: F) -> F:
    """--env, --var and --vars-file: what templates render with, but for `now`."""
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
    function = click.option("--env", "environment", metavar="NAME", cls=EnvironmentOption)(function)
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
