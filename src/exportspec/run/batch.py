"""Run many prepared exports at once: worker threads, one shared gate, a batch record.

Each spec is the one-spec `run.runner.run` with its own `RunOptions` (from
`run.spec_run.prepare_run`); the specs run to the end independently (`fail_fast` stops
starting new ones), and the batch's exit code is the most severe of theirs. Nothing here
parses flags or exits; `messages` receives one line per finished export.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from exportspec.errors import ExitCode, ExportspecError, UsageError
from exportspec.gitops.project import Project
from exportspec.run.destinations import Location
from exportspec.run.gate import Gate, Stopping
from exportspec.run.models import RunResult, iso
from exportspec.run.runner import RunOptions, output_target
from exportspec.run.runner import run as run_export
from exportspec.run.settings import ConnectionFlags
from exportspec.run.spec_run import prepare_run
from exportspec.spec.models import Diagnostic
from exportspec.spec.variables import RenderInputs
from exportspec.terminal import printable

#: Most severe first: the batch exits with the first of these any spec had.
SEVERITY = (130, 143, 131, 129, 5, 4, 3, 1, 0)

#: Seconds a stopping batch waits for its exports to remove their temporary files.
STOP_GRACE = 5.0

BATCH_RECORD_VERSION = 1
BATCH_SUFFIX = ".batch.json"


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
    attempts: int = 0
    #: A resumed batch's entry for a spec that had succeeded: kept as it was, not run.
    carried: Mapping[str, Any] | None = None


@dataclass
class Batch:
    items: list[BatchItem]
    settings: Mapping[str, Any]
    now: str | None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished_at: dt.datetime | None = None
    #: 128 + the signal's number when Ctrl-C or a signal stopped the batch.
    stopped_by: int | None = None

    @property
    def exit_code(self) -> int:
        codes = [i.exit_code for i in self.items if i.exit_code is not None]
        return most_severe(codes if self.stopped_by is None else [*codes, self.stopped_by])


def prepare_batch(
    files: Sequence[Path],
    *,
    project: Project,
    inputs: RenderInputs,
    environment: str | None,
    flags: ConnectionFlags,
    output_root: str | None,
    vars_files: Sequence[Path],
    locked: bool,
    sandbox: bool,
    dry_run: bool,
    carried: Mapping[Path, Mapping[str, Any]],
    warn: Callable[[Sequence[Diagnostic]], None],
) -> list[BatchItem]:
    """Every spec of a batch compiled and placed, before anything is sent.

    A spec that cannot run (invalid, refused by the lock, an output it may not write) is
    an item that failed, with its exit code; the others still run. Usage errors (two specs
    writing one file) end the whole batch: UsageError. `carried` are the succeeded entries
    of a resumed record; `warn` receives each spec's warnings and diagnostics.
    """
    items: list[BatchItem] = []
    targets: dict[str, Path] = {}
    for spec in files:
        item = BatchItem(spec)
        items.append(item)
        if spec in carried:
            item.status, item.exit_code, item.carried = "succeeded", 0, dict(carried[spec])
            continue
        try:
            prepared = prepare_run(
                spec,
                project=project,
                environment=environment,
                inputs=inputs,
                flags=flags,
                output_root=output_root,
                vars_files=vars_files,
                sandbox=sandbox,
                dry_run=dry_run,
                locked=locked,
                warn=warn,
            )
            item.options = prepared.options
            item.body_sha256 = prepared.options.request.body_sha256
            item.output = output_target(prepared.options)
        except UsageError:
            raise
        except ExportspecError as exc:
            warn(exc.diagnostics)
            item.status, item.exit_code = "failed", int(exc.exit_code)
            item.error = exc.message or str(exc)
            continue
        if item.output is not None:
            output = item.output
            key = os.path.realpath(output) if isinstance(output, Path) else str(output)
            if key in targets:
                raise UsageError(
                    f"{targets[key]} and {spec} both write {item.output}: give each spec "
                    "its own output.path"
                )
            targets[key] = spec
    return items


def default_record_name(started: dt.datetime) -> str:
    """`batches/20260102T030405Z.batch.json`: the start, UTC, basic ISO 8601."""
    return f"batches/{started.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}{BATCH_SUFFIX}"


def run_batch(
    batch: Batch,
    *,
    jobs: int,
    fail_fast: bool = False,
    messages: TextIO | None = None,
    gate: Gate | None = None,
    record: Location | None = None,
    storage_options: Mapping[str, object] | None = None,
) -> Batch:
    """Run every prepared item on `jobs` worker threads, sharing one `Gate`; write the batch
    record to `record` at the end (also after Ctrl-C; an object with `storage_options`).
    Returns `batch`, filled in."""
    gate = gate or Gate(jobs)
    pending = [
        item
        for item in batch.items
        if item.options is not None and item.status != "failed" and item.carried is None
    ]
    lock = threading.Lock()
    queue = list(reversed(pending))
    stop = threading.Event()

    def say(line: str) -> None:
        if messages is not None:
            with lock, contextlib.suppress(OSError, ValueError):
                messages.write(line + "\n")
                messages.flush()

    for item in batch.items:
        if item.status == "failed":
            say(_line(item))

    # Workers count themselves out on `finished`: Thread.join interrupted by Ctrl-C can
    # mark a running thread as stopped (Python 3.11), so the main thread never joins.
    finished = threading.Condition()
    running = 0

    def work() -> None:
        nonlocal running
        try:
            while not stop.is_set():
                with lock:
                    if not queue:
                        return
                    item = queue.pop()
                _run_one(item, gate)
                say(_line(item))
                if fail_fast and item.status == "failed":
                    stop.set()
        finally:
            with finished:
                running -= 1
                finished.notify_all()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, jobs))]
    try:
        for thread in threads:
            with finished:
                running += 1
            thread.start()
        with finished:
            while running:
                finished.wait(0.5)
    except BaseException as exc:
        stop.set()
        gate.stop()
        if isinstance(exc, KeyboardInterrupt):
            signum = getattr(exc, "signum", None)  # cli.boundary.Stopped: SIGTERM and others
            batch.stopped_by = 128 + signum if isinstance(signum, int) else 130
        # Downloads stop between chunks and remove their temporary files; give them a moment.
        with finished:
            finished.wait_for(lambda: running == 0, STOP_GRACE)
        raise
    finally:
        batch.finished_at = dt.datetime.now(dt.UTC)
        if record is not None:
            write_batch_record(batch, record, storage_options)
    say(format_table(batch))
    return batch


def _run_one(item: BatchItem, gate: Gate) -> None:
    assert item.options is not None
    began = time.monotonic()
    item.status = "failed"
    try:
        outcome = run_export(item.options, messages=None, gate=gate)
    except ExportspecError as exc:
        item.exit_code = int(exc.exit_code)
        item.error = exc.message or str(exc)
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


def _line(item: BatchItem) -> str:
    if item.carried is not None:
        return printable(f"{item.spec}: succeeded in the resumed batch; not run again")
    if item.status == "succeeded" and item.result is not None:
        what = f"ok: {item.result.rows:,} rows in {item.seconds or 0:.1f} s to {item.output}"
    elif item.status == "skipped":
        what = "skipped"
    else:
        what = f"failed (exit {item.exit_code}): {item.error or ''}"
    return printable(f"{item.spec}: {what}")


def format_table(batch: Batch) -> str:
    """The summary table: spec, status, rows, seconds; then the exit code."""
    rows = [("spec", "status", "rows", "seconds")]
    for item in batch.items:
        result = item.result
        if item.carried is not None:
            rows.append((printable(str(item.spec)), "succeeded (before)", "-", "-"))
            continue
        rows.append(
            (
                printable(str(item.spec)),
                item.status if item.status != "failed" else f"failed ({item.exit_code})",
                f"{result.rows:,}" if result is not None else "-",
                f"{item.seconds:.1f}" if item.seconds is not None else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    counts = {
        s: sum(i.status == s for i in batch.items) for s in ("succeeded", "failed", "skipped")
    }
    lines.append(
        f"{len(batch.items)} spec(s): {counts['succeeded']} succeeded, {counts['failed']} "
        f"failed, {counts['skipped']} skipped"
    )
    return "\n".join(lines)


def batch_record(batch: Batch) -> dict[str, Any]:
    """The batch record (schemas/batch-record.schema.json)."""
    specs = []
    for item in batch.items:
        result = item.result
        if item.carried is not None:
            specs.append(dict(item.carried))
            continue
        specs.append(
            {
                "path": str(item.spec),
                "body_sha256": item.body_sha256,
                "status": item.status,
                "exit_code": item.exit_code,
                "error": item.error,
                "output": None if item.output is None else str(item.output),
                "rows": None if result is None else result.rows,
                "bytes": None if result is None else result.size,
                "sha256": None if result is None else result.sha256,
                "attempts": item.attempts,
                "seconds": None if item.seconds is None else round(item.seconds, 3),
            }
        )
    return {
        "batch_record_version": BATCH_RECORD_VERSION,
        "settings": dict(batch.settings),
        "now": batch.now,
        "started_at": iso(batch.started_at),
        "finished_at": None if batch.finished_at is None else iso(batch.finished_at),
        "exit_code": batch.exit_code,
        "specs": specs,
    }


def load_batch_record(path: Location) -> dict[str, Any]:
    """Read a batch record for `run --resume`, checked against its schema (exit 1 if not)."""
    from dataclasses import replace

    from exportspec.errors import SpecInvalidError
    from exportspec.run.records import read_location
    from exportspec.schemas import BATCH_RECORD_SCHEMA, schema_problems
    from exportspec.spec.load import InputReadError, LoadError
    from exportspec.spec.load_json import load_json_bytes
    from exportspec.spec.models import Diagnostic

    try:
        raw = read_location(path)
    except InputReadError as exc:
        raise SpecInvalidError(
            [Diagnostic(str(path), f"cannot read the batch record: {exc.reason}", None)]
        ) from None
    try:
        document = load_json_bytes(raw, Path(str(path)))
    except LoadError as exc:
        message = f"not a batch record: {exc.diagnostic.message}"
        raise SpecInvalidError([replace(exc.diagnostic, message=message)]) from None
    problems = schema_problems(BATCH_RECORD_SCHEMA, document)
    if problems:
        raise SpecInvalidError(problems)
    data: dict[str, Any] = document.data
    return data


def write_batch_record(
    batch: Batch, path: Location, storage_options: Mapping[str, object] | None = None
) -> None:
    """Write the batch record atomically (a file, its folder created when missing, or an
    object)."""
    from exportspec.run.records import write_location

    text = json.dumps(batch_record(batch), indent=2, ensure_ascii=False) + "\n"
    if isinstance(path, Path):
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
    write_location(path, text.encode("utf-8"), storage_options)
