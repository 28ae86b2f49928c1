"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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
    from exportspec.spec.variables import (
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
    from exportspec.gitops.project import load_project

    return load_project(paths[0] if paths else Path.cwd())


def _from_working_folder(path: Path) -> Path:
    """`path` relative to the working folder when it lies below it, as diagnostics show it:
    CI annotations (GitHub's `file=`) only attach to repository-relative paths."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _project_roots(project: Any) -> list[Path]:
    """The spec roots of exportspec.toml (relative to it), else `specs/` here."""
    if project.file is None:
        return [Path("specs")]
    return [project.root / root for root in project.spec_roots]


def project_spec_files(project: Any) -> Iterator[Path]:
    """Every spec file of the project: under its spec roots that exist."""
    from exportspec.spec.load import iter_spec_files

    return iter_spec_files(root for root in _project_roots(project) if root.exists())


def spec_paths(paths: Sequence[Path], project: Any) -> list[Path]:
    """PATH arguments, else the project's spec roots, else `specs/`; at least one spec file."""
    if paths:  # click has checked that they exist
        return _with_spec_files(list(paths), "")
    if project.file is None:
        if not Path("specs").exists():
            raise click.UsageError(
                "no PATH given, and the default spec root 'specs' does not exist here "
                "(no exportspec.toml found)"
            )
        return _with_spec_files([Path("specs")], "")
    # Roots are relative to exportspec.toml, which may sit folders above: name it.
    toml = _from_working_folder(project.file)
    settings = project.document.data.get("project", {}) if project.document else {}
    if "spec_roots" in settings:
        source = f"project.spec_roots in {toml}"
    else:
        source = f"the default: project.spec_roots is not set in {toml}"
    for root in project.spec_roots:
        if not (project.root / root).exists():
            raise click.UsageError(
                f"no PATH given, and spec root {str(root)!r} ({source}) does not exist"
            )
    chosen = [_from_working_folder(root) for root in _project_roots(project)]
    return _with_spec_files(chosen, f" ({source})")


def _with_spec_files(chosen: list[Path], source: str) -> list[Path]:
    """`chosen`, unless no spec file lies under it; `source` says where it came from."""
    from exportspec.spec.load import iter_spec_files

    if next(iter_spec_files(chosen), None) is None:
        raise click.UsageError(
            f"no .yaml, .yml or .toml files under {', '.join(map(str, chosen))}{source}"
        )
    return chosen
