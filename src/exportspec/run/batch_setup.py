"""A batch from start to record: what `run SPEC...`, `run --resume`, `apply` and the Python
API share. Prepare every spec (`run --resume` sends a record's stored bodies as they are;
`apply` compiles and checks against the lock again), run them under one gate, and write
the batch record, with the git commit, the lock and the target used."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exportspec.errors import ConfigError
from exportspec.gitops.git import head_commit
from exportspec.gitops.project import Project
from exportspec.gitops.project import output_root as resolve_output_root
from exportspec.run.batch import (
    Batch,
    BatchDisplay,
    BatchSettings,
    BatchTarget,
    NothingSent,
    prepare_batch,
    run_batch,
)
from exportspec.run.batch_record import (
    BATCH_SUFFIX,
    StoredBatch,
    default_record_name,
    records_in,
    stored_request,
    write_batch_record,
)
from exportspec.run.destinations import Location, ObjectUrl, is_url, location
from exportspec.run.gate import Gate
from exportspec.run.models import iso
from exportspec.run.runner import RunOptions
from exportspec.run.runner import run as run_export
from exportspec.run.settings import resolve_settings
from exportspec.run.spec_run import project_defaults
from exportspec.spec.models import Diagnostic
from exportspec.spec.variables import RenderInputs

if TYPE_CHECKING:
    from exportspec.gitops.apply import ApplyPlan


def resumed_specs(
    stored: StoredBatch,
    settings: BatchSettings,
    project: Project,
    *,
    stored_bodies: bool = True,
) -> tuple[dict[str, Mapping[str, Any]], dict[str, RunOptions]]:
    """What a resume keeps (the entries of specs that succeeded) and sends again: with
    `stored_bodies` (`run --resume`), the other specs' stored bodies, to their recorded
    outputs; the rest is compiled again (at the record's `now`). Keys: absolute spec paths.

    A recorded output must lie under this run's output root and replace no input (the
    project's lock and exportspec.toml, a spec of the batch): an edited record cannot
    write elsewhere. `apply` sends no stored body (`stored_bodies=False`): what it sends is
    checked against the lock again.
    """
    carried = stored.succeeded()
    again: dict[str, RunOptions] = {}
    if not stored_bodies:
        return carried, again
    defaults = project_defaults(project, settings.environment)
    options = storage_options(project, settings.environment)
    root = resolve_output_root(project, settings.environment, settings.output_root)
    read = (
        *stored.spec_paths(),
        stored.path,
        project.root / project.lockfile,
        *([] if project.file is None else [project.file]),
    )
    for entry in stored.specs():
        key = stored.where(entry["path"])
        request = stored_request(entry)
        if key in carried or request is None or entry["output"] is None:
            continue
        output = location(stored.where(entry["output"]), f"the batch record {stored.path}")
        _check_under_root(output, root, stored.path, entry["path"])
        again[key] = RunOptions(
            request,
            output,
            settings.flags,
            sandbox=settings.sandbox,
            dry_run=settings.dry_run,
            project_defaults=defaults,
            storage_options=options,
            inputs=read,
        )
    return carried, again


def _check_under_root(output: Location, root: str, record: Location, spec: str) -> None:
    """A resumed output lies under the output root, as every batch output does."""
    if isinstance(output, ObjectUrl):
        inside = str(output).startswith(str(root).rstrip("/") + "/")
    else:
        inside = not is_url(root) and Path(os.path.realpath(output)).is_relative_to(
            os.path.realpath(root)
        )
    if not inside:
        raise ConfigError(
            f"the batch record {record} sends {spec} to {output}, outside the output root "
            f"{root}: run the spec again instead of resuming (or give --output-root)"
        )


def batch_target(settings: BatchSettings, project: Project) -> BatchTarget:
    """Where the batch sends and writes, resolved once before anything is sent: a setting
    that can never work (a bad base URL, one with credentials in it, no project token or
    API key) ends the batch here (ConfigError), before a record holds it."""
    selected = project.environment(settings.environment)
    root = resolve_output_root(project, settings.environment, settings.output_root)
    base_url = token = None
    if not settings.sandbox:
        # Without a token or credentials no spec could be sent: one error, not one per spec.
        resolved = resolve_settings(
            settings.flags,
            project_defaults=project_defaults(project, settings.environment),
            require_token=not settings.dry_run,
            require_credentials=not settings.dry_run,
        )
        base_url, token = resolved.base_url, resolved.project_token
    return BatchTarget(
        None if selected is None else selected.name,
        base_url,
        token,
        settings.sandbox,
        str(root),
        str(Path.cwd()),
    )


def execute_batch(
    files: Sequence[Path],
    settings: BatchSettings,
    *,
    project: Project,
    inputs: RenderInputs,
    resumed: StoredBatch | None = None,
    command: str = "run",
    record: Location | None = None,
    display: BatchDisplay | None = None,
    warn: Callable[[Sequence[Diagnostic]], None] = lambda _: None,
    all_or_none: bool = False,
) -> Batch:
    """Prepare and run `files` as one batch; return it, its record written.

    Usage errors (two specs, one output) raise before anything is sent; a spec's own
    failure is in its item. A dry run sends nothing, writes no record and leaves each
    item's `dry_run_text`. `record` overrides where the batch record goes (a resumed
    batch's record, else `batches/STARTED.batch.json` under the output root). With
    `all_or_none`, a spec that cannot be prepared stops the batch before anything is sent
    (NothingSent).
    """
    target = batch_target(settings, project)
    carried, again = (
        ({}, {})
        if resumed is None
        else resumed_specs(resumed, settings, project, stored_bodies=command != "apply")
    )
    items = prepare_batch(
        files,
        settings,
        project=project,
        inputs=inputs,
        carried=carried,
        stored=again,
        warn=warn,
    )
    failed = [item for item in items if item.status == "failed"]
    if all_or_none and failed:
        raise NothingSent(failed)
    lock_sha256 = None
    if settings.locked:
        from exportspec.gitops.lock import read_lock

        lock_sha256 = read_lock(project).sha256
    batch = Batch(
        items,
        settings.record_settings(),
        iso(inputs.now),
        command=command,
        git_commit=head_commit(project.root),
        lock_sha256=lock_sha256,
        target=target,
    )
    if settings.dry_run:
        for item in items:
            if item.options is not None:
                item.dry_run_text = run_export(item.options).dry_run_text
        return batch
    if record is None and resumed is not None:
        record = resumed.path
    options = storage_options(project, settings.environment)
    if record is None:
        root = location(resolve_output_root(project, settings.environment, settings.output_root))
        record = _free(root / default_record_name(batch.started_at), options)
    batch.record_path = where = record
    _check_record_place(where)
    run_batch(
        batch,
        jobs=settings.jobs,
        fail_fast=settings.fail_fast,
        display=display,
        gate=Gate(settings.jobs, rate=settings.rate),
        write_record=lambda done: write_batch_record(done, where, options),
    )
    return batch


def storage_options(project: Project, environment: str | None) -> Mapping[str, object]:
    """The selected environment's `storage_options`, for records at a destination."""
    selected = project.environment(environment)
    return {} if selected is None else selected.storage_options


def _free(record: Location, options: Mapping[str, object]) -> Location:
    """`record`, or `NAME-2.batch.json`, ... when a batch that started in the same second
    already wrote there."""
    if isinstance(record, ObjectUrl):
        taken = {str(url) for url in records_in(record.parent, options)}

        def exists(candidate: Location) -> bool:
            return str(candidate) in taken
    else:

        def exists(candidate: Location) -> bool:
            return isinstance(candidate, Path) and candidate.exists()

    number = 1
    candidate = record
    while exists(candidate):
        number += 1
        candidate = record.with_name(
            record.name.removesuffix(BATCH_SUFFIX) + f"-{number}{BATCH_SUFFIX}"
        )
    return candidate


def _check_record_place(record: Location) -> None:
    """Before anything is sent: the batch record's place is not a folder, nor unwritable.
    (An object's place was checked with its output root.)"""
    if isinstance(record, ObjectUrl):
        return
    if record.is_dir():
        raise ConfigError(f"the batch record {record} is a folder: name a file")
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the folder of the batch record {record}: {exc.strerror or exc}"
        ) from None


def apply_changes(
    paths: Sequence[Path],
    settings: BatchSettings,
    *,
    since: str,
    project: Project,
    inputs_at: Callable[[str | None], RenderInputs],
    record: Location | None = None,
    display: BatchDisplay | None = None,
    warn: Callable[[Sequence[Diagnostic]], None] = lambda _: None,
    announce: Callable[[ApplyPlan], None] = lambda _: None,
) -> tuple[ApplyPlan, Batch | None]:
    """`apply`: run, as `run --locked` does, the specs whose lock entry changed since
    `since` (`gitops.apply.plan_apply`); None when none did.

    Idempotent per commit: when the output root holds the batch record of an `apply` at
    the same commit, lock and environment, that batch is resumed (its succeeded specs are
    not run again, the others are sent as it stored them) and its record updated.
    `inputs_at(now)` renders the specs at `now` (None: the real now); `announce` sees the
    selection before anything runs.
    """
    from exportspec.gitops.apply import plan_apply
    from exportspec.run.batch_record import BATCH_FOLDER, find_applied

    plan = plan_apply(paths, since=since, project=project, inputs_at=inputs_at)
    announce(plan)
    if not plan.run:
        return plan, None
    previous = None
    if not settings.dry_run:
        options = storage_options(project, settings.environment)
        if record is None:
            where = resolve_output_root(project, settings.environment, settings.output_root)
            candidates = records_in(location(where) / BATCH_FOLDER, options)
        elif isinstance(record, ObjectUrl):
            candidates = [url for url in records_in(record.parent, options) if url == record]
        else:
            candidates = [record] if record.is_file() else []
        previous = find_applied(
            candidates,
            storage_options=options,
            commit=head_commit(project.root),
            lock_sha256=plan.lock.sha256,
            target=batch_target(replace(settings, locked=True), project),
        )
    batch = execute_batch(
        [selected.spec for selected in plan.run],
        replace(settings, locked=True),
        project=project,
        inputs=inputs_at(None if previous is None else previous.now),
        resumed=previous,
        command="apply",
        record=record,
        display=display,
        warn=warn,
        all_or_none=True,
    )
    return plan, batch
