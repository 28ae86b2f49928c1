"""Batches in the Python API (`exportspec.api.run_specs`, `exportspec.api.apply`).

What `exportspec run SPEC...` and `exportspec apply` do, with the same bodies, outputs,
run records and batch record; a spec's own failure is in the result, not raised. Errors
found before anything is sent (an invalid setting, two specs writing one file, a stale
lock for `apply`) raise as in `exportspec.api`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exportspec.api_args import NowArg, PathArg, connection_flags, render_inputs_for
from exportspec.errors import UsageError
from exportspec.run.destinations import Location
from exportspec.run.gate import MAX_RATE, MIN_RATE
from exportspec.run.settings import ConnectionFlags

if TYPE_CHECKING:
    from exportspec.run.batch import Batch, BatchSettings
    from exportspec.spec.variables import RenderInputs


@dataclass(frozen=True, slots=True)
class SpecOutcome:
    """What became of one spec of a batch."""

    #: The spec file.
    path: Path
    #: `succeeded`, `failed`, or `skipped` (never started: fail_fast).
    status: str
    #: What `exportspec run` of this spec alone would have exited with; None when skipped.
    exit_code: int | None
    #: The failure's message.
    error: str | None
    #: The export file (or object), and its run record beside it.
    output: Location | None
    record: Location | None
    rows: int | None
    bytes: int | None
    #: sha256 (hex) of the export file, and of the body sent.
    sha256: str | None
    body_sha256: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A batch's outcome: one `SpecOutcome` per spec, in the order they were found."""

    specs: tuple[SpecOutcome, ...]
    #: The most severe of the specs' exit codes (0: all succeeded), as the CLI exits.
    exit_code: int
    #: The batch record (None when nothing ran).
    record: Location | None
    #: The moment the specs were rendered at, in UTC.
    now: dt.datetime | None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def failed(self) -> tuple[SpecOutcome, ...]:
        return tuple(spec for spec in self.specs if spec.status == "failed")


def run_specs(
    paths: PathArg | Iterable[PathArg],
    *,
    jobs: int = 2,
    rate: float | None = None,
    fail_fast: bool = False,
    locked: bool = False,
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
    batch_record: PathArg | None = None,
) -> BatchResult:
    """Run the specs at `paths` (files or folders, searched as `validate` does) as one
    batch: `jobs` exports at once under one adaptive bound, at most `rate` requests a
    minute, each to its own output and run record, and a batch record (`batch_record`,
    else `batches/STARTED.batch.json` under the output root). `locked` checks each spec
    against exportspec.lock first, as `run --locked`. Other arguments as `run_spec`."""
    from exportspec.gitops.inputs import project_for
    from exportspec.run.batch_setup import execute_batch
    from exportspec.spec.load import iter_spec_files

    roots = [_path(p) for p in _paths(paths)]
    files = list(iter_spec_files(roots))
    if not files:
        raise UsageError(f"no .yaml, .yml or .toml files under {', '.join(map(str, roots))}")
    project = project_for(files)
    flags = connection_flags(base_url, project_token, retries, timeout, deadline)
    settings = _settings(
        roots,
        env=env,
        jobs=jobs,
        rate=rate,
        fail_fast=fail_fast,
        locked=locked,
        sandbox=sandbox,
        output_root=output_root,
        flags=flags,
    )
    batch = execute_batch(
        files,
        settings,
        project=project,
        inputs=render_inputs_for(files[0], project, env, vars, now),
        record=None if batch_record is None else Path(batch_record),
    )
    return _result(batch)


def apply(
    paths: PathArg | Iterable[PathArg] | None = None,
    *,
    since: str,
    jobs: int = 2,
    rate: float | None = None,
    fail_fast: bool = False,
    vars: Mapping[str, Any] | None = None,
    env: str | None = None,
    sandbox: bool = False,
    base_url: str | None = None,
    project_token: str | None = None,
    output_root: PathArg | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
    batch_record: PathArg | None = None,
) -> BatchResult:
    """Run, as `exportspec apply --since SINCE` does, the specs under `paths` (default: the
    project's) whose lock entry was added, changed or renamed since `since` (a lock file,
    or a git revision). A stale lock raises SpecInvalidError before anything is sent; an
    `apply` at the same commit, lock and environment as an earlier one runs only what did
    not succeed then. Nothing to apply: a result with no specs."""
    from exportspec.gitops.inputs import project_for
    from exportspec.run.batch_setup import apply_changes

    if not isinstance(since, str) or not since:
        raise UsageError("since must name a lock file or a git revision (a non-empty str)")
    roots = [_path(p) for p in _paths(paths or ())]
    project = project_for(roots)
    flags = connection_flags(base_url, project_token, retries, timeout, deadline)
    settings = _settings(
        roots,
        env=env,
        jobs=jobs,
        rate=rate,
        fail_fast=fail_fast,
        locked=True,
        sandbox=sandbox,
        output_root=output_root,
        flags=flags,
    )
    settings = replace(settings, since=since)
    label = project.file or project.root

    def inputs_at(moment: str | None) -> RenderInputs:
        return render_inputs_for(label, project, env, vars, moment)

    _, batch = apply_changes(
        roots,
        settings,
        since=since,
        project=project,
        inputs_at=inputs_at,
        record=None if batch_record is None else Path(batch_record),
    )
    if batch is None:
        return BatchResult((), 0, None, None)
    return _result(batch)


def _paths(paths: PathArg | Iterable[PathArg]) -> list[PathArg]:
    if isinstance(paths, str | os.PathLike):
        return [paths]  # one path, not its characters
    return list(paths)


def _path(path: PathArg) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise UsageError(f"a spec path must be a str or a path, not {type(path).__name__}")
    if not Path(path).exists():
        raise UsageError(f"{os.fspath(path)!r} does not exist")
    return Path(path)


def _settings(
    roots: list[Path],
    *,
    env: str | None,
    jobs: int,
    rate: float | None,
    fail_fast: bool,
    locked: bool,
    sandbox: bool,
    output_root: PathArg | None,
    flags: ConnectionFlags,
) -> BatchSettings:
    from exportspec.run.batch import BatchSettings

    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= 64:
        raise UsageError(f"jobs={jobs!r} is not a whole number from 1 to 64")
    if rate is not None and (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not MIN_RATE <= rate <= MAX_RATE  # also refuses nan
    ):
        raise UsageError(
            f"rate={rate!r} is not a number of requests a minute from {MIN_RATE:g} to {MAX_RATE:g}"
        )
    if sandbox and (flags.base_url is not None or flags.project_token is not None):
        raise UsageError(
            "sandbox=True picks its own URL and token: drop base_url and project_token"
        )
    return BatchSettings(
        tuple(str(p) for p in roots),
        environment=env,
        output_root=None if output_root is None else os.fspath(output_root),
        locked=locked,
        jobs=jobs,
        rate=None if rate is None else float(rate),
        fail_fast=fail_fast,
        sandbox=sandbox,
        flags=flags,
    )


def _result(batch: Batch) -> BatchResult:
    from exportspec.run.records import record_path_for
    from exportspec.spec.variables import parse_now

    outcomes = []
    for item in batch.items:
        carried = item.carried
        result = item.result
        if carried is not None:
            output = None if carried["output"] is None else Path(carried["output"])
            outcomes.append(
                SpecOutcome(
                    item.spec,
                    "succeeded",
                    0,
                    None,
                    output,
                    None if output is None else record_path_for(output),
                    carried["rows"],
                    carried["bytes"],
                    carried["sha256"],
                    carried["body_sha256"],
                    carried["attempts"],
                )
            )
            continue
        outcomes.append(
            SpecOutcome(
                path=item.spec,
                status=item.status,
                exit_code=item.exit_code,
                error=item.error,
                output=item.output,
                record=None
                if result is None or item.output is None
                else record_path_for(item.output),
                rows=None if result is None else result.rows,
                bytes=None if result is None else result.size,
                sha256=None if result is None else result.sha256,
                body_sha256=item.body_sha256,
                attempts=item.attempts,
            )
        )
    return BatchResult(
        tuple(outcomes),
        batch.exit_code,
        batch.record_path,
        None if batch.now is None else parse_now(batch.now),
    )
