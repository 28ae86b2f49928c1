"""Run records (`OUTPUT.run.json`): how an export was made, so `rerun` can send it again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, overload

from exportspec import __version__
from exportspec.errors import ConfigError, SpecInvalidError
from exportspec.run.destinations import Location, ObjectUrl, read_object, write_object
from exportspec.run.models import ExportRequest, PartRequest, RunResult, StoredRun, iso
from exportspec.run.output import write_file
from exportspec.spec.models import Diagnostic, JsonPath, LoadedDocument, Position
from exportspec.terminal import json_dumps

RECORD_VERSION = 1
RECORD_SUFFIX = ".run.json"
#: The longest file name on the file systems we meet (ext4, xfs, btrfs, APFS, NTFS).
NAME_MAX = 255


@overload
def record_path_for(output: Path) -> Path: ...
@overload
def record_path_for(output: ObjectUrl) -> ObjectUrl: ...
@overload
def record_path_for(output: Location) -> Location: ...
def record_path_for(output: Location) -> Location:
    """`exports/x.csv` -> `exports/x.csv.run.json` (and so for an object)."""
    return output.with_name(output.name + RECORD_SUFFIX)


def check_record_path(output: Location) -> None:
    """Refuse, before anything is sent, an output whose run record name would be too long."""
    name = record_path_for(output).name
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise ConfigError(
            f"cannot write {output}: its run record {name!r} would be longer than {NAME_MAX} "
            "bytes; choose a shorter output name"
        )


def run_record(result: RunResult) -> dict[str, Any]:
    """The run record: everything needed to know, and redo, what this run did. No secrets."""
    request = result.request
    split: dict[str, Any] = {}
    if request.parts:  # each part's body is stored, so `rerun` can send every one again
        split["parts"] = [
            {
                "segment": p.segment,
                "body_sha256": p.body_sha256,
                "attempts": p.attempts,
                "rows": p.rows,
                "bytes": p.size,
                "sha256": p.sha256,
            }
            for p in result.parts
        ]
    return {
        "record_version": RECORD_VERSION,
        "tool": {"name": "exportspec", "version": __version__},
        "spec": {"path": request.spec_path, "sha256": request.spec_sha256, "name": request.name},
        "variables": dict(request.variables),
        "now": request.now,
        "request": {
            "method": "POST",
            "url": result.url,
            "base_url": result.base_url,
            "project_token": result.project_token,
            "body": json.loads(request.body),
            "body_sha256": request.body_sha256,
            **(
                {}
                if not request.parts
                else {
                    "parts": [
                        {
                            "segment": p.segment,
                            "body": json.loads(p.body),
                            "body_sha256": p.body_sha256,
                        }
                        for p in request.parts
                    ]
                }
            ),
        },
        "started_at": iso(result.started_at),
        "finished_at": iso(result.finished_at),
        "seconds": round(result.seconds, 3),
        "response": {"status": result.status, "attempts": result.attempts},
        "output": {
            "path": None if result.output_path is None else result.output_path.as_posix(),
            "format": request.export_format,
            "bytes": result.size,
            "sha256": result.sha256,
            "rows": result.rows,
            "version_id": result.version_id,
        },
        "rerun_of": None if request.rerun_of is None else dict(request.rerun_of),
        **split,
    }


def write_run_record(
    result: RunResult, storage_options: Mapping[str, object] | None = None
) -> Location:
    """Write `OUTPUT.run.json` atomically beside the output (a file or an object, then with
    `storage_options`); return where."""
    assert result.output_path is not None
    path = record_path_for(result.output_path)
    plain = json.loads(json.dumps(run_record(result), default=str))  # paths made strings
    text = json_dumps(plain) + "\n"  # a file name's lone surrogate escaped, as JSON may
    write_location(path, text.encode("utf-8"), storage_options)
    return path


def write_location(
    where: Location, data: bytes, storage_options: Mapping[str, object] | None = None
) -> None:
    """A record written whole or not at all, to a file or an object."""
    if isinstance(where, ObjectUrl):
        write_object(where, data, storage_options or {})
    else:
        write_file(where, data)


def read_location(where: Location, storage_options: Mapping[str, object] | None = None) -> bytes:
    """A record's bytes (bounded), from a file (InputReadError if unreadable) or an object
    (ConfigError: the store, its extra or its credentials)."""
    from exportspec.spec.load import read_bounded

    if isinstance(where, Path):
        return read_bounded(where)
    return read_object(where, storage_options or {})


def load_run_record(path: Location) -> StoredRun:
    """Read a run record for `rerun`: checked against schemas/run-record.schema.json, and the
    stored body must still match its sha256.

    A record that is unreadable, malformed or altered is an invalid input (exit 1), reported
    against the record file at the line and field concerned.
    """
    from exportspec.schemas import RUN_RECORD_SCHEMA, schema_problems
    from exportspec.spec.load import InputReadError, LoadError
    from exportspec.spec.load_json import load_json_bytes

    def invalid(message: str, position: Position | None = None) -> SpecInvalidError:
        return SpecInvalidError([Diagnostic(str(path), message, position, rule="run-record")])

    beside = record_path_for(path)
    if not path.name.endswith(RECORD_SUFFIX) and isinstance(beside, Path) and beside.is_file():
        raise invalid(
            f"this looks like an export, not its run record; replay it with "
            f"`exportspec rerun {beside}`"
        )
    try:
        raw = read_location(path)
    except InputReadError as exc:
        raise invalid(f"cannot read the run record: {exc.reason}") from None
    try:
        document = load_json_bytes(raw, Path(str(path)) if isinstance(path, ObjectUrl) else path)
    except LoadError as exc:
        diagnostic = exc.diagnostic
        message = f"not a run record: {diagnostic.message}"
        raise SpecInvalidError([replace(diagnostic, message=message)]) from None
    if not {"record_version", "request"} & set(document.data):
        message = "not a run record: it has neither `record_version` nor `request`"
        raise invalid(message, Position(1, 1))
    problems = [_in_record_terms(d) for d in schema_problems(RUN_RECORD_SCHEMA, document)]
    if problems:
        raise SpecInvalidError(problems)
    if (altered := _altered_body(document)) is not None:
        raise SpecInvalidError([altered])
    return _stored_run(path, raw, document.data)


def _in_record_terms(diagnostic: Diagnostic) -> Diagnostic:
    if diagnostic.json_path == ("record_version",) and diagnostic.rule == "schema-const":
        message = (
            f"{diagnostic.message}: this exportspec reads run record format {RECORD_VERSION} only"
        )
        return replace(diagnostic, message=message)
    return diagnostic


def _altered_body(document: LoadedDocument) -> Diagnostic | None:
    """What the schema cannot say: the stored body is the one its sha256 names."""
    from exportspec.spec.compile import canonical_json

    stored = document.data["request"]
    bodies: list[tuple[JsonPath, Any]] = [(("request",), stored)]
    bodies += [(("request", "parts", i), p) for i, p in enumerate(stored.get("parts", ()))]
    for at, holder in bodies:
        sha256 = hashlib.sha256(canonical_json(holder["body"])).hexdigest()
        if sha256 == holder["body_sha256"]:
            continue
        where = (*at, "body_sha256")
        return Diagnostic(
            str(document.path),
            f"the stored body's sha256 is {sha256}, the record says {holder['body_sha256']}: "
            "the record was edited or damaged",
            document.source_map.value_position(where),
            where,
            rule="run-record",
        )
    return None


def _stored_run(path: Location, raw: bytes, data: Mapping[str, Any]) -> StoredRun:
    """The checked record's values, for a replay that is itself recorded."""
    from exportspec.spec.compile import canonical_json

    stored, spec, output = data["request"], data["spec"], data["output"]
    request = ExportRequest(
        body=canonical_json(stored["body"]),
        body_sha256=stored["body_sha256"],
        export_format=str(stored["body"].get("format") or "csv"),  # the body decides
        name=spec["name"],
        spec_path=spec["path"],
        spec_sha256=spec["sha256"],
        variables=data["variables"],
        now=data["now"],
        rerun_of={
            "record": path.as_posix(),
            "record_sha256": hashlib.sha256(raw).hexdigest(),
            "started_at": data["started_at"],
            "output_sha256": output["sha256"],
        },
        parts=tuple(
            PartRequest(p["segment"], canonical_json(p["body"]), p["body_sha256"])
            for p in stored.get("parts", ())
        ),
    )
    return StoredRun(
        request=request,
        base_url=stored["base_url"],
        project_token=stored["project_token"],
        output_path=output["path"],
    )
