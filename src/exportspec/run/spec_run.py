"""One spec made ready for `run.runner.run`: compiled, its output placed, its settings chosen.

What `exportspec run` decides before anything is sent, as one function the Python API
(`exportspec.api`) calls, and a batch runner can: compile the spec, take the selected
environment's base URL and project token as defaults below the `EXPORTSPEC_*` variables,
place the output (the user's own file, or the spec's `output.path` under the output root)
and list the files the run reads, which neither the output nor its record may replace.
Nothing here prints, exits or touches signals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from exportspec.errors import UsageError
from exportspec.gitops.project import Project
from exportspec.gitops.project import output_root as resolve_output_root
from exportspec.run.destinations import Location
from exportspec.run.models import ExportRequest
from exportspec.run.runner import RunOptions, default_output_path
from exportspec.run.settings import ConnectionFlags, SettingsLayer
from exportspec.spec.models import CompiledBody, Diagnostic
from exportspec.spec.pipeline import compile_spec
from exportspec.spec.variables import RenderInputs


@dataclass(frozen=True, slots=True)
class PreparedRun:
    """A compiled spec and the options that run it; `warnings` are the compile's."""

    compiled: CompiledBody
    options: RunOptions
    warnings: tuple[Diagnostic, ...] = ()


def project_defaults(project: Project, environment: str | None) -> SettingsLayer | None:
    """The selected environment's base URL and project token, below the EXPORTSPEC_* variables."""
    selected = project.environment(environment)
    if selected is None:
        return None
    return SettingsLayer(
        f"{project.file} [environments.{selected.name}]",
        {"base_url": selected.base_url, "project_token": selected.project_token},
    )


def prepare_run(
    spec: Path,
    *,
    project: Project,
    environment: str | None,
    inputs: RenderInputs,
    flags: ConnectionFlags,
    output: Location | None = None,
    output_root: str | None = None,
    vars_files: Sequence[Path] = (),
    sandbox: bool = False,
    dry_run: bool = False,
    locked: bool = False,
    warn: Callable[[Sequence[Diagnostic]], None] | None = None,
    option_names: tuple[str, str] = ("-o", "--output-root"),
) -> PreparedRun:
    """Compile `spec` with `inputs` and build its `RunOptions`, as `exportspec run` does.

    `output` is the user's own file or object, taken as given (`Path("-")`: stdout); without it the
    spec's `output.path` (else `exports/NAME.csv|json`) lands under the output root:
    `output_root`, else EXPORTSPEC_OUTPUT_ROOT, else the project's. Giving both is a
    UsageError naming them as `option_names` (output, output root) says. Raises
    SpecInvalidError (exit 1) for an invalid spec, UsageError/ConfigError for settings.
    `warn` receives the compile's warnings; with `locked`, the spec must then match its
    lock entry (`gitops.locked`, exit 1 when it does not).
    """
    result = compile_spec(spec, inputs)
    compiled = result.compiled
    assert compiled is not None  # compile_spec raises for an invalid spec
    defaults = project_defaults(project, environment)
    if output is not None and output_root is not None:
        output_name, root_name = option_names
        raise UsageError(
            f"{root_name} places the spec's output.path; {output_name} names the file "
            "itself: give one"
        )
    # The user's own output is taken as given; the spec's output.path lands under the root.
    root = None if output is not None else resolve_output_root(project, environment, output_root)
    target: Location = output or default_output_path(compiled)
    selected = project.environment(environment)
    read = (spec, *vars_files, project.root / project.lockfile)
    options = RunOptions(
        ExportRequest.from_compiled(compiled),
        None if str(target) == "-" else target,
        flags,
        sandbox=sandbox,
        dry_run=dry_run,
        project_defaults=defaults,
        output_root=root,
        storage_options={} if selected is None else selected.storage_options,
        inputs=read if project.file is None else (*read, project.file),
    )
    warnings = tuple(d for d in result.diagnostics if d.severity != "error")
    if warn is not None:
        warn(warnings)
    if locked:
        from exportspec.gitops.locked import check_locked_run

        check_locked_run(spec, result, project, inputs, environment)
    return PreparedRun(compiled, options, warnings)
