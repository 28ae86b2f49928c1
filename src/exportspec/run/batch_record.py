"""The batch record (schemas/batch-record.schema.json): written by a batch, read to resume it.

It stores each spec's body as sent, so `run --resume` sends the same bytes (as `rerun`
does for one export), and the git commit and lock sha256 a batch ran from, so `apply`
finds the record of an earlier attempt at the same commit and runs only what failed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from exportspec.errors import SpecInvalidError
from exportspec.run.batch import Batch, BatchItem, BatchTarget, absolute
from exportspec.run.destinations import Location, ObjectUrl, is_url, list_objects
from exportspec.run.models import ExportRequest, PartRequest, iso
from exportspec.spec.models import Diagnostic
from exportspec.terminal import json_dumps

BATCH_RECORD_VERSION = 1
BATCH_SUFFIX = ".batch.json"
BATCH_FOLDER = "batches"


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """A batch record read back: its document, and per spec path what it holds."""

    path: Location
    data: Mapping[str, Any]

    @property
    def now(self) -> str:
        return str(self.data["now"])

    def specs(self) -> Iterator[Mapping[str, Any]]:
        yield from self.data["specs"]

    def where(self, path: str) -> str:
        """A path the record holds, absolute: relative ones are to the folder the batch was
        started in (so a resume from elsewhere finds the same files)."""
        if is_url(path):
            return path
        return absolute(path, (self.data.get("target") or {}).get("working_folder"))

    def spec_paths(self) -> list[Path]:
        """The specs, as the working folder reaches them (relative when below it)."""
        here = Path.cwd()
        paths = [Path(self.where(entry["path"])) for entry in self.specs()]
        return [p.relative_to(here) if p.is_relative_to(here) else p for p in paths]

    def succeeded(self) -> dict[str, Mapping[str, Any]]:
        """The entries of the specs that succeeded, by absolute spec path."""
        return {self.where(e["path"]): e for e in self.specs() if e["status"] == "succeeded"}

    def matches(self, *, commit: str | None, lock_sha256: str | None, target: BatchTarget) -> bool:
        """Whether this is an `apply` of the same commit and lock, sending to and writing
        where `target` says (the same environment, API, project and output root)."""
        data = self.data
        return (
            data.get("command") == "apply"
            and data.get("git_commit") == commit
            and data.get("lock_sha256") == lock_sha256
            and target.same_place(data.get("target") or {})
        )


def records_in(
    folder: Location, storage_options: Mapping[str, object] | None = None
) -> list[Location]:
    """The batch records in `folder`, a local folder (none when it cannot be listed) or an
    object-store prefix."""
    if isinstance(folder, ObjectUrl):
        return list(list_objects(folder, BATCH_SUFFIX, storage_options or {}))
    try:
        found: list[Location] = [*sorted(folder.glob(f"*{BATCH_SUFFIX}"))]
    except OSError:
        return []
    return found


def default_record_name(started: dt.datetime) -> str:
    """`batches/20260102T030405Z.batch.json`: the start, UTC, basic ISO 8601."""
    stamp = started.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{BATCH_FOLDER}/{stamp}{BATCH_SUFFIX}"


def stored_request(entry: Mapping[str, Any]) -> ExportRequest | None:
    """The request a record's entry stored (None: the spec never compiled), for a resume."""
    from exportspec.spec.compile import canonical_json

    stored = entry.get("request")
    if stored is None:
        return None
    body = canonical_json(stored["body"])
    parts = []
    for part in stored.get("parts", ()):
        part_body = canonical_json(part["body"])
        digest = hashlib.sha256(part_body).hexdigest()
        parts.append(PartRequest(part["segment"], part_body, digest))
    return ExportRequest(
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        export_format=str(stored["body"].get("format") or "csv"),
        name=stored["name"],
        spec_path=entry["path"],
        spec_sha256=stored.get("spec_sha256"),
        variables=stored.get("variables") or {},
        now=stored.get("now"),
        parts=tuple(parts),
    )


def _entry(item: BatchItem) -> dict[str, Any]:
    if item.carried is not None:
        return dict(item.carried)
    result, request = item.result, item.request
    return {
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
        "started_at": None if result is None else iso(result.started_at),
        "finished_at": None if result is None else iso(result.finished_at),
        "request": None
        if request is None
        else {
            "name": request.name,
            "body": json.loads(request.body),
            "variables": dict(request.variables),
            "spec_sha256": request.spec_sha256,
            "now": request.now,
            **(
                {}
                if not request.parts
                else {
                    "parts": [
                        {"segment": part.segment, "body": json.loads(part.body)}
                        for part in request.parts
                    ]
                }
            ),
        },
    }


def batch_record(batch: Batch) -> dict[str, Any]:
    """The batch record's document. Never a credential: settings hold none."""
    return {
        "batch_record_version": BATCH_RECORD_VERSION,
        "command": batch.command,
        "settings": dict(batch.settings),
        "now": batch.now,
        "started_at": iso(batch.started_at),
        "finished_at": None if batch.finished_at is None else iso(batch.finished_at),
        "git_commit": batch.git_commit,
        "lock_sha256": batch.lock_sha256,
        "target": None if batch.target is None else batch.target.as_json(),
        "exit_code": batch.exit_code,
        "specs": [_entry(item) for item in batch.items],
    }


def write_batch_record(
    batch: Batch, path: Location, storage_options: Mapping[str, object] | None = None
) -> None:
    """Write the batch record whole or not at all: a file (its folder created when
    missing) or an object."""
    from exportspec.run.records import write_location

    text = json_dumps(batch_record(batch)) + "\n"  # a file name's lone surrogate escaped
    if isinstance(path, Path):
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
    write_location(path, text.encode("utf-8"), storage_options)


def load_batch_record(
    path: Location, storage_options: Mapping[str, object] | None = None
) -> StoredBatch:
    """Read a batch record, checked against its schema and each stored body against its
    sha256 (exit 1 when not)."""
    from exportspec.run.records import read_location
    from exportspec.schemas import BATCH_RECORD_SCHEMA, schema_problems
    from exportspec.spec.load import InputReadError, LoadError
    from exportspec.spec.load_json import load_json_bytes

    try:
        raw = read_location(path, storage_options)
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
    for number, entry in enumerate(document.data["specs"] if not problems else ()):
        request = stored_request(entry)
        if request is not None and request.body_sha256 != entry["body_sha256"]:
            where = ("specs", number, "body_sha256")
            problems.append(
                Diagnostic(
                    str(path),
                    f"the stored body of {entry['path']} has sha256 {request.body_sha256}, "
                    f"the record says {entry['body_sha256']}: the record was edited or damaged",
                    document.source_map.value_position(where),
                    where,
                    rule="batch-record",
                )
            )
    if problems:
        raise SpecInvalidError(problems)
    return StoredBatch(path, document.data)


def find_applied(
    records: Sequence[Location],
    *,
    storage_options: Mapping[str, object] | None = None,
    commit: str | None,
    lock_sha256: str | None,
    target: BatchTarget,
) -> StoredBatch | None:
    """The newest of `records` that is the batch record of an `apply` at the same commit and
    lock, sending where `target` does; records that cannot be read are passed over."""
    found: list[StoredBatch] = []
    for path in records:
        try:
            stored = load_batch_record(path, storage_options)
        except SpecInvalidError:
            continue
        if stored.matches(commit=commit, lock_sha256=lock_sha256, target=target):
            found.append(stored)
    return max(found, key=lambda s: str(s.data["started_at"]), default=None)
