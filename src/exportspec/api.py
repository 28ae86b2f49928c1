"""The Python API for orchestrators (Airflow, Dagster, Prefect, ...): compile and run specs.

    from exportspec.api import compile_spec, run_spec

    compiled = compile_spec("specs/vip-segment.yaml", vars={"segment": 1}, env="prod")
    result = run_spec("specs/vip-segment.yaml", vars={"segment": 1}, env="prod")
    print(result.output, result.rows, result.sha256)

Each call does what `exportspec compile` and `exportspec run` do, with the same bodies,
outputs and run records, but safely inside another program: it imports no click, installs
no signal handler (Airflow runs tasks off the main thread, where `signal.signal` raises),
never prints and never exits. Calls may run at once from several threads.

- `vars` maps variable names to typed Python values (`{"segment": 1}`, not the strings
  `--var` takes), checked against the spec's declarations: a value of the wrong type is a
  `SpecInvalidError` whose diagnostic names the variable. Plain JSON values only: str,
  int, float, bool, None, lists (or tuples) and mappings with string keys.
- `env` names an environment of the governing `exportspec.toml` (its vars, base URL,
  project token and output root), as `--env` does; None selects its default environment.
- `now` is the moment templates see: a datetime (naive means UTC) or an ISO 8601 string;
  None is the current time (whole seconds).
- Credentials come from `EXPORTSPEC_API_KEY_ID` and `EXPORTSPEC_API_SECRET`, and the other
  connection settings from the `EXPORTSPEC_*` variables below the arguments, as for the CLI.

Errors raise `ExportspecError` subclasses carrying `.exit_code` (the CLI's exit code for
the same failure, docs/running.md) and `.diagnostics` (located problems in a spec):
`SpecInvalidError` (1), `UsageError` (2), `ConfigError` (3), `RefusedError` (4),
`TransientError` (5). A failed run leaves no partial output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exportspec.api_args import (
    NowArg,
    PathArg,
    connection_flags,
    render_inputs_for,
    spec_file,
)
from exportspec.api_batch import BatchResult, SpecOutcome, apply, run_specs
from exportspec.errors import (
    ConfigError,
    ExitCode,
    ExportspecError,
    RefusedError,
    SpecInvalidError,
    TransientError,
    UsageError,
)
from exportspec.run.destinations import Location
from exportspec.spec.models import CompiledPart, Diagnostic

__all__ = [
    "BatchResult",
    "CompiledPart",
    "CompiledSpec",
    "ConfigError",
    "Diagnostic",
    "ExitCode",
    "ExportspecError",
    "RefusedError",
    "RunResult",
    "SpecInvalidError",
    "SpecOutcome",
    "TransientError",
    "UsageError",
    "apply",
    "compile_spec",
    "run_spec",
    "run_specs",
]


@dataclass(frozen=True, slots=True)
class CompiledSpec:
    """A spec's canonical request body, as `exportspec compile` prints it."""

    #: The spec's `name`.
    name: str
    #: The spec file.
    path: Path
    #: The canonical JSON body, byte for byte what `run` sends.
    body_bytes: bytes
    #: The sha256 (hex) of `body_bytes`, as locks and run records show it.
    sha256: str
    #: Where `run_spec` writes it, relative to the output root: the spec's rendered
    #: `output.path`, else `exports/NAME.csv` (or `.json`).
    output_path: Path
    #: The export format (`csv`, `table_json`, ...).
    format: str
    #: The moment templates saw, in UTC.
    now: dt.datetime
    #: The declared variables' values used.
    variables: Mapping[str, Any] = field(default_factory=dict)
    #: Warnings found while compiling (never errors: those raise SpecInvalidError).
    warnings: tuple[Diagnostic, ...] = ()
    #: A split spec's part bodies in segment order (then `body_bytes` is what they share,
    #: never sent alone); () for a spec that is not split.
    parts: tuple[CompiledPart, ...] = ()

    @property
    def body(self) -> dict[str, Any]:
        """The body as a dict (a new one on each access)."""
        body: dict[str, Any] = json.loads(self.body_bytes)
        return body


@dataclass(frozen=True, slots=True)
class RunResult:
    """One export that succeeded (a failure raises instead)."""

    #: The spec's `name`.
    name: str
    #: The export file, or object (`ObjectUrl`, `str()` gives its URL).
    output: Location
    #: The run record beside it (`OUTPUT.run.json`); None when the output is a special
    #: file such as /dev/null, which gets no record.
    record: Location | None
    #: Rows exported (CSV data lines, or JSON rows).
    rows: int
    #: Size of the export file.
    bytes: int
    #: The sha256 (hex) of the export file.
    sha256: str
    #: The sha256 (hex) of the body sent (`CompiledSpec.sha256`).
    body_sha256: str
    #: Attempts made, the successful one included.
    attempts: int
    #: The HTTP status of the answer exported (200).
    status: int
    #: When the run started and ended, in UTC.
    started_at: dt.datetime
    finished_at: dt.datetime
    #: Warnings found while compiling the spec.
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def seconds(self) -> float:
        """How long the run took, retries included."""
        return (self.finished_at - self.started_at).total_seconds()


def compile_spec(
    path: PathArg,
    *,
    vars: Mapping[str, Any] | None = None,
    env: str | None = None,
    now: NowArg = None,
) -> CompiledSpec:
    """Compile the spec at `path` into its canonical request body; nothing is sent.

    Raises SpecInvalidError (an invalid spec, a `vars` value of the wrong type), UsageError
    (an undeclared variable, a bad `now`, no such file) and ConfigError (an invalid
    exportspec.toml, an unknown environment).
    """
    from exportspec.gitops.inputs import project_for, undeclared_environment_vars
    from exportspec.run.runner import default_output_path
    from exportspec.spec.pipeline import compile_spec as compile_one

    spec = spec_file(path)
    project = project_for([spec])
    result = compile_one(spec, render_inputs_for(spec, project, env, vars, now))
    compiled = result.compiled
    assert compiled is not None  # compile_one raises for an invalid spec
    return CompiledSpec(
        name=compiled.name,
        path=spec,
        body_bytes=compiled.body,
        sha256=compiled.sha256,
        output_path=default_output_path(compiled),
        format=compiled.format,
        now=compiled.now,
        variables=dict(compiled.variables),
        warnings=(
            *undeclared_environment_vars(project, [spec]),
            *(d for d in result.diagnostics if d.severity != "error"),
        ),
        parts=compiled.parts,
    )


def run_spec(
    path: PathArg,
    *,
    output: PathArg | None = None,
    vars: Mapping[str, Any] | None = None,
    env: str | None = None,
    now: NowArg = None,
    sandbox: bool = False,
    base_url: str | None = None,
    project_token: str | None = None,
    output_root: PathArg | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
) -> RunResult:
    """Compile the spec at `path`, send it, and stream the export to a file, as
    `exportspec run` does; the run record is written beside it.

    `output` names the export file itself (as `-o`; a URL such as `s3://bucket/key` is an
    object, docs/destinations.md); without it the spec's `output.path`
    (else `exports/NAME.csv|json`) lands under `output_root`, else EXPORTSPEC_OUTPUT_ROOT,
    else the project's output root, else the working folder. `sandbox` runs against an
    in-process emulator (no credentials needed). `base_url`, `project_token`, `retries`,
    `timeout` (seconds of silence) and `deadline` (seconds in all) beat the EXPORTSPEC_*
    variables, as the flags do.

    Raises SpecInvalidError (1), UsageError (2), ConfigError (3, e.g. a bad base URL or
    missing credentials: nothing was sent), RefusedError (4), TransientError (5).
    """
    from exportspec.gitops.inputs import project_for, undeclared_environment_vars
    from exportspec.run.destinations import location
    from exportspec.run.runner import run
    from exportspec.run.spec_run import prepare_run

    spec = spec_file(path)
    target = None if output is None else location(os.fspath(output), "output")
    if target is not None and str(target) == "-":
        raise UsageError("output '-' (stdout) is not for the Python API: name a file")
    if sandbox and (base_url is not None or project_token is not None):
        raise UsageError(
            "sandbox=True picks its own URL and token: drop base_url and project_token"
        )
    flags = connection_flags(base_url, project_token, retries, timeout, deadline)
    project = project_for([spec])
    prepared = prepare_run(
        spec,
        project=project,
        environment=env,
        inputs=render_inputs_for(spec, project, env, vars, now),
        flags=flags,
        output=target,
        output_root=None if output_root is None else os.fspath(output_root),
        sandbox=sandbox,
        option_names=("output", "output_root"),
    )
    warnings = (*undeclared_environment_vars(project, [spec]), *prepared.warnings)
    outcome = run(prepared.options, messages=None, stdout=None)
    result = outcome.result
    assert result is not None and result.output_path is not None  # not a dry run, a file
    return RunResult(
        name=result.request.name,
        output=result.output_path,
        record=outcome.record,
        rows=result.rows,
        bytes=result.size,
        sha256=result.sha256,
        body_sha256=result.request.body_sha256,
        attempts=result.attempts,
        status=result.status,
        started_at=result.started_at,
        finished_at=result.finished_at,
        warnings=warnings,
    )
