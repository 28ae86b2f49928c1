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
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from exportspec.run.settings import MAX_RETRIES, MAX_SECONDS, ConnectionFlags
from exportspec.spec.models import Diagnostic, JsonPath

if TYPE_CHECKING:
    from exportspec.gitops.project import Project
    from exportspec.spec.variables import RenderInputs

__all__ = [
    "CompiledSpec",
    "ConfigError",
    "Diagnostic",
    "ExitCode",
    "ExportspecError",
    "RefusedError",
    "RunResult",
    "SpecInvalidError",
    "TransientError",
    "UsageError",
    "compile_spec",
    "run_spec",
]

#: What a path argument may be.
PathArg = str | os.PathLike[str]
#: What `now` may be.
NowArg = dt.datetime | str | None

#: The label of the `vars` argument in messages ("variable 'x' from the vars argument: ...").
_VARS_LABEL = "the vars argument"
#: What a `vars` value may be made of.
_JSON_TYPES = "str, int, float, bool, None, list, tuple or a mapping with str keys"


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

    spec = _spec_file(path)
    project = project_for([spec])
    result = compile_one(spec, _render_inputs(spec, project, env, vars, now))
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

    spec = _spec_file(path)
    target = None if output is None else location(os.fspath(output), "output")
    if target is not None and str(target) == "-":
        raise UsageError("output '-' (stdout) is not for the Python API: name a file")
    if sandbox and (base_url is not None or project_token is not None):
        raise UsageError(
            "sandbox=True picks its own URL and token: drop base_url and project_token"
        )
    flags = ConnectionFlags(
        base_url=base_url,
        project_token=project_token,
        timeout=_seconds(timeout, "timeout"),
        deadline=_seconds(deadline, "deadline"),
        retries=_retries(retries),
    )
    project = project_for([spec])
    prepared = prepare_run(
        spec,
        project=project,
        environment=env,
        inputs=_render_inputs(spec, project, env, vars, now),
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


# --- arguments -------------------------------------------------------------------------


def _spec_file(path: PathArg) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise UsageError(f"the spec path must be a str or a path, not {type(path).__name__}")
    spec = Path(path)
    if not spec.is_file():
        what = "is a folder" if spec.is_dir() else "does not exist"
        raise UsageError(f"spec {str(spec)!r} {what}: give a spec file")
    return spec


def _render_inputs(
    spec: Path,
    project: Project,
    env: str | None,
    values: Mapping[str, Any] | None,
    now: NowArg,
) -> RenderInputs:
    """The environment's vars, then `values` above them, at `now`."""
    from exportspec.gitops.inputs import render_inputs
    from exportspec.gitops.project import ENVIRONMENT_NAME, ENVIRONMENT_NAME_RULE
    from exportspec.spec.variables import RenderInputs, VariableLayer

    if env is not None and not isinstance(env, str):
        raise UsageError(f"env must be an environment name (str), not {type(env).__name__}")
    if env is not None and not ENVIRONMENT_NAME.fullmatch(env):
        raise UsageError(f"env={env!r} is not an environment name: {ENVIRONMENT_NAME_RULE}")
    moment = _moment(now)
    layers = render_inputs(project, env, (), (), None).layers
    if values is not None:
        layers = (*layers, VariableLayer(_VARS_LABEL, _typed_values(spec, values)))
    return RenderInputs(now=moment, layers=layers)


def _typed_values(spec: Path, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` as plain JSON values (tuples become lists); anything else is an error
    naming the variable. Their types are checked against the declarations later."""
    if not isinstance(values, Mapping):
        raise UsageError(f"vars must be a mapping of names to values, not {type(values).__name__}")
    plain: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for name, value in values.items():
        if not isinstance(name, str):
            raise UsageError(f"vars: the name {name!r} is not a str")
        try:
            plain[name] = _plain(value, 0)
        except ValueError as exc:
            path: JsonPath = ("vars", name)
            problems.append(
                Diagnostic(
                    str(spec),
                    f"variable {name!r} from {_VARS_LABEL}: {exc}",
                    None,
                    path,
                    rule="variable-value",
                )
            )
    if problems:
        raise SpecInvalidError(problems)
    return plain


def _plain(value: Any, depth: int) -> Any:
    from exportspec.spec.load import MAX_DEPTH

    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels, as no vars file may be")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return value
    if isinstance(value, list | tuple):
        return [_plain(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"the key {key!r} is not a str")
            plain[key] = _plain(item, depth + 1)
        return plain
    hint = "; pass value.isoformat()" if isinstance(value, dt.date | dt.time) else ""
    raise ValueError(f"a {type(value).__name__} is not a JSON value ({_JSON_TYPES}){hint}")


def _moment(now: NowArg) -> dt.datetime:
    """`now` as an aware UTC datetime, as `--now` gives it; None: the current second."""
    from exportspec.spec.variables import parse_now

    if now is None or isinstance(now, str):
        try:
            return parse_now(now)
        except UsageError:
            raise UsageError(
                f"now={now!r} is not an ISO 8601 date-time (e.g. '2026-01-31T00:00:00Z') "
                "within the years 1 to 9999"
            ) from None
    if not isinstance(now, dt.datetime):
        raise UsageError(f"now must be a datetime or an ISO 8601 str, not {type(now).__name__}")
    moment = now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)
    try:
        moment = moment.astimezone(dt.UTC)
    except OverflowError:
        raise UsageError(f"now={now.isoformat()} is outside the years 1 to 9999 in UTC") from None
    # A plain datetime, whatever subclass came in (pendulum's, Airflow's logical_date).
    return dt.datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=dt.UTC,
    )


def _seconds(value: float | None, name: str) -> float | None:
    """A duration in seconds, as the CLI's flags take it: above 0, at most a week."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not 0 < value <= MAX_SECONDS:  # also refuses nan
        raise UsageError(
            f"{name}={value!r} is not a number of seconds above 0, up to {MAX_SECONDS:g}"
        )
    return float(value)


def _retries(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"retries must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_RETRIES:
        raise UsageError(f"retries={value} is not between 0 and {MAX_RETRIES}")
    return value
