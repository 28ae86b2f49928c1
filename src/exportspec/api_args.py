"""Arguments of the Python API (`exportspec.api`) checked as the CLI's flags are: paths,
`vars` as plain JSON values, `now`, durations and retries; errors are UsageError or
SpecInvalidError naming the argument."""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exportspec.errors import SpecInvalidError, UsageError
from exportspec.run.settings import MAX_RETRIES, MAX_SECONDS, ConnectionFlags
from exportspec.spec.models import Diagnostic, JsonPath

if TYPE_CHECKING:
    from exportspec.gitops.project import Project
    from exportspec.spec.variables import RenderInputs

#: What a path argument may be.
PathArg = str | os.PathLike[str]
#: What `now` may be.
NowArg = dt.datetime | str | None

#: The label of the `vars` argument in messages ("variable 'x' from the vars argument: ...").
_VARS_LABEL = "the vars argument"
#: What a `vars` value may be made of.
_JSON_TYPES = "str, int, float, bool, None, list, tuple or a mapping with str keys"


def spec_file(path: PathArg) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise UsageError(f"the spec path must be a str or a path, not {type(path).__name__}")
    spec = Path(path)
    if not spec.is_file():
        what = "is a folder" if spec.is_dir() else "does not exist"
        raise UsageError(f"spec {str(spec)!r} {what}: give a spec file")
    return spec


def render_inputs_for(
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


def seconds(value: float | None, name: str) -> float | None:
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


def checked_retries(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"retries must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_RETRIES:
        raise UsageError(f"retries={value} is not between 0 and {MAX_RETRIES}")
    return value


def connection_flags(
    base_url: str | None,
    project_token: str | None,
    retries: int | None,
    timeout: float | None,
    deadline: float | None,
) -> ConnectionFlags:
    """The connection arguments checked as the flags are (None: not given)."""
    return ConnectionFlags(
        base_url=base_url,
        project_token=project_token,
        timeout=seconds(timeout, "timeout"),
        deadline=seconds(deadline, "deadline"),
        retries=checked_retries(retries),
    )
