"""Run many prepared exports at once: worker threads, one shared gate, one display.

Each spec is the one-spec `run.runner.run` with its own `RunOptions` (from
`run.spec_run.prepare_run`, or a resumed batch record's stored body); the specs run to the
end independently (`fail_fast` stops starting new ones), and the batch's exit code is the
most severe of theirs. Nothing here parses flags or exits.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from exportspec.errors import ExitCode, ExportspecError, UsageError
from exportspec.gitops.project import Project
from exportspec.run.destinations import Location
from exportspec.run.display import Progress
from exportspec.run.gate import Gate, Stopping
from exportspec.run.models import ExportRequest, RunResult
from exportspec.run.placement import output_target
from exportspec.run.runner import RunOptions
from exportspec.run.runner import run as run_export
from exportspec.run.settings import ConnectionFlags
from exportspec.run.spec_run import prepare_run
from exportspec.run.workers import run_on_threads
from exportspec.spec.models import Diagnostic
from exportspec.spec.variables import RenderInputs

#: Most severe first: the batch exits with the first of these any spec had.
SEVERITY = (130, 143, 131, 129, 5, 4, 3, 1, 0)


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """What the command line (or the Python API) asks of a batch; `record_settings` is what
    its record keeps of it."""

    paths: tuple[str, ...]
    environment: str | None = None
    var_assignments: tuple[str, ...] = ()
    vars_files: tuple[Path, ...] = ()
    output_root: str | None = None
    locked: bool = False
    jobs: int = 2
    rate: float | None = None
    fail_fast: bool = False
    sandbox: bool = False
    dry_run: bool = False
    flags: ConnectionFlags = field(default_factory=ConnectionFlags)
    resume: str | None = None
    since: str | None = None

    def record_settings(self) -> dict[str, Any]:
        """The settings as the batch record keeps them: no credential is ever among them."""
        flags = {
            name: getattr(self.flags, name)
            for name in self.flags.__slots__
            if getattr(self.flags, name) is not None
        }
        return {
            "paths": list(self.paths),
            "jobs": self.jobs,
            "rate": self.rate,
            "fail_fast": self.fail_fast,
            "environment": self.environment,
            "vars": list(self.var_assignments),
            "vars_files": [str(p) for p in self.vars_files],
            "output_root": self.output_root,
            "locked": self.locked,
            "sandbox": self.sandbox,
            **({} if self.resume is None else {"resume": self.resume}),
            **({} if self.since is None else {"since": self.since}),
            **flags,
        }


@dataclass(frozen=True, slots=True)
class BatchTarget:
    """Where a batch sends and writes, resolved: two `apply` attempts are the same only when
    these agree (a `--sandbox` attempt is no earlier attempt of a real one). Paths in its
    record are relative to `working_folder`."""

    environment: str | None
    base_url: str | None
    project_token: str | None
    sandbox: bool
    output_root: str
    working_folder: str

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "base_url": self.base_url,
            "project_token": self.project_token,
            "sandbox": self.sandbox,
            "output_root": self.output_root,
            "working_folder": self.working_folder,
        }

    def same_place(self, other: Mapping[str, Any]) -> bool:
        """Whether a record's target sends to and writes where this one does."""
        mine = self.as_json()
        del mine["working_folder"]  # the same apply may be started from another folder
        return all(other.get(key) == value for key, value in mine.items())


class BatchDisplay(Protocol):
    """What a batch shows as it goes (run.batch_report.Display)."""

    def progress_for(self, item: BatchItem) -> Progress: ...

    def finished(self, item: BatchItem) -> None: ...


class NothingSent(ExportspecError):
    """`apply`: a spec could not be prepared (refused by the lock, invalid, ...), so no spec
    was sent; the exit code is the most severe of theirs."""

    def __init__(self, failed: Sequence[BatchItem]) -> None:
        lines = [f"{item.spec}: {item.error}" for item in failed]
        super().__init__("nothing was sent, because:\n" + "\n".join(lines))
        self.exit_code = ExitCode(most_severe([i.exit_code or 1 for i in failed]))


def absolute(path: str | Path, folder: str | Path | None = None) -> str:
    """`path` made absolute against `folder` (default: the working folder), `..` resolved
    lexically: how batches and their records key specs and outputs."""
    return os.path.normpath(Path(folder or Path.cwd()) / path)


def most_severe(codes: Sequence[int]) -> int:
    """The batch's exit code: the most severe of `codes` (0 for none)."""
    rank = {code: place for place, code in enumerate(SEVERITY)}
    found = [code for code in codes if code in rank]
    return min(found, key=rank.__getitem__) if found else (max(codes) if codes else 0)


@dataclass
class BatchItem:
    """One spec of a batch: prepared (`options`), or failed before that (`exit_code`)."""

    spec: Path
    options: RunOptions | None = None
    status: str = "skipped"  # succeeded | failed | skipped
    exit_code: int | None = None
    error: str | None = None
    result: RunResult | None = None
    seconds: float | None = None
    output: Location | None = None
    body_sha256: str | None = None
    #: What is sent (for the batch record, so a resume sends the same bytes).
    request: ExportRequest | None = None
    attempts: int = 0
    #: A resumed batch's entry for a spec that had succeeded: kept as it was, not run.
    carried: Mapping[str, Any] | None = None
    #: A dry run's request and curl command.
    dry_run_text: str | None = None


@dataclass
class Batch:
    items: list[BatchItem]
    settings: Mapping[str, Any]
    now: str | None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished_at: dt.datetime | None = None
    #: 128 + the signal's number when Ctrl-C or a signal stopped the batch.
    stopped_by: int | None = None
    command: str = "run"
    git_commit: str | None = None
    lock_sha256: str | None = None
    target: BatchTarget | None = None
    record_path: Location | None = None

    @property
    def exit_code(self) -> int:
        codes = [i.exit_code for i in self.items if i.exit_code is not None]
        return most_severe(codes if self.stopped_by is None else [*codes, self.stopped_by])


def prepare_batch(
    files: Sequence[Path],
    settings: BatchSettings,
    *,
    project: Project,
    inputs: RenderInputs,
    carried: Mapping[str, Mapping[str, Any]],
    stored: Mapping[str, RunOptions],
    warn: Callable[[Sequence[Diagnostic]], None],
) -> list[BatchItem]:
    """Every spec of a batch compiled and placed, before anything is sent.

    A spec that cannot run (invalid, refused by the lock, an output it may not write) is
    an item that failed, with its exit code; the others still run. Usage errors (two specs
    writing one file) end the whole batch: UsageError. `carried` are the succeeded entries
    of a resumed record, `stored` the options that send the bodies it stored (not compiled
    again), both by absolute spec path; `warn` receives each spec's warnings and
    diagnostics.
    """
    items: list[BatchItem] = []
    written: dict[str, tuple[Path, str]] = {}  # what each spec writes: its output, record
    specs = {os.path.realpath(spec): spec for spec in files}
    for spec in files:
        item = BatchItem(spec)
        items.append(item)
        key = absolute(spec)
        if key in carried:
            item.status, item.exit_code, item.carried = "succeeded", 0, dict(carried[key])
            continue
        try:
            if key in stored:
                item.options = stored[key]
            else:
                item.options = prepare_run(
                    spec,
                    project=project,
                    environment=settings.environment,
                    inputs=inputs,
                    flags=settings.flags,
                    output_root=settings.output_root,
                    vars_files=settings.vars_files,
                    sandbox=settings.sandbox,
                    dry_run=settings.dry_run,
                    locked=settings.locked,
                    warn=warn,
                ).options
            # A split spec's parts share the batch's bound; a resume reuses kept parts.
            item.options = replace(
                item.options, jobs=settings.jobs, resume=settings.resume is not None
            )
            item.request = item.options.request
            item.body_sha256 = item.request.body_sha256
            item.output = output_target(item.options)
        except UsageError:
            raise
        except ExportspecError as exc:
            warn(exc.diagnostics)
            item.status, item.exit_code = "failed", int(exc.exit_code)
            item.error = exc.message or str(exc)
            continue
        if item.output is not None:
            _check_overlap(spec, item.output, written, specs)
    return items


def _check_overlap(
    spec: Path, output: Location, written: dict[str, tuple[Path, str]], specs: Mapping[str, Path]
) -> None:
    """Refuse (UsageError) a spec whose output or run record is what another spec of the
    batch writes, or is another spec's file; else note what it writes in `written`."""
    from exportspec.run.records import record_path_for

    mine = [(output, "its export"), (record_path_for(output), "its run record")]
    for where, what in mine:
        key = os.path.realpath(where) if isinstance(where, Path) else str(where)
        if key in specs and specs[key] != spec:
            raise UsageError(
                f"{spec} would write {what}, {where}, over the spec {specs[key]} of this "
                "batch: give it another output.path"
            )
        if key in written:
            other, theirs = written[key]
            raise UsageError(
                f"{other} ({theirs}) and {spec} ({what}) both write {where}: give each spec "
                "its own output.path"
            )
    for where, what in mine:
        written[os.path.realpath(where) if isinstance(where, Path) else str(where)] = (spec, what)


def run_batch(
    batch: Batch,
    *,
    jobs: int,
    fail_fast: bool = False,
    display: BatchDisplay | None = None,
    gate: Gate | None = None,
    write_record: Callable[[Batch], None] | None = None,
) -> Batch:
    """Run every prepared item on `jobs` worker threads, sharing one `Gate`; `write_record`
    at the end (also after Ctrl-C). Returns `batch`, filled in."""
    gate = gate or Gate(jobs)
    pending = [
        item
        for item in batch.items
        if item.options is not None and item.status != "failed" and item.carried is None
    ]
    if display is not None:
        for item in batch.items:
            if item.status == "failed" or item.carried is not None:
                display.finished(item)

    def work(item: BatchItem) -> None:
        _run_one(item, gate, display)
        if display is not None:
            display.finished(item)

    try:
        run_on_threads(
            pending,
            jobs,
            work,
            on_stop=gate.stop,
            stop_after=lambda item: fail_fast and item.status == "failed",
        )
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            signum = getattr(exc, "signum", None)  # cli.boundary.Stopped: SIGTERM and others
            batch.stopped_by = 128 + signum if isinstance(signum, int) else 130
        raise
    finally:
        batch.finished_at = dt.datetime.now(dt.UTC)
        if write_record is not None:
            write_record(batch)
    return batch


def _run_one(item: BatchItem, gate: Gate, display: BatchDisplay | None) -> None:
    assert item.options is not None
    began = time.monotonic()
    item.status = "failed"
    progress = None if display is None else display.progress_for(item)
    try:
        outcome = run_export(item.options, gate=gate, progress=progress)
    except ExportspecError as exc:
        item.exit_code = int(exc.exit_code)
        item.error = exc.message or str(exc)
        item.attempts = exc.attempts
    except Stopping:
        item.status = "skipped"
    except Exception as exc:  # a bug: this spec fails, the others go on
        from exportspec.run.destinations import scrub_store_secrets

        item.exit_code = int(ExitCode.SPEC_INVALID)
        item.error = scrub_store_secrets(f"internal error: {type(exc).__name__}: {exc}")
    else:
        item.status = "succeeded"
        item.exit_code = 0
        item.result = outcome.result
        if outcome.result is not None:
            item.attempts = outcome.result.attempts
    finally:
        item.seconds = time.monotonic() - began
