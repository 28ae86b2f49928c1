"""Run records (`OUTPUT.run.json`): how an export was made, so `rerun` can send it again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from exportspec import __version__
from exportspec.errors import ConfigError, SpecInvalidError
from exportspec.jsontext import StrictJsonError, loads_strict
from exportspec.run.models import ExportRequest, RunResult, StoredRun, iso
from exportspec.run.output import write_file
from exportspec.spec.models import Diagnostic

RECORD_VERSION = 1
RECORD_SUFFIX = ".run.json"
#: The longest file name on the file systems we meet (ext4, xfs, btrfs, APFS, NTFS).
NAME_MAX = 255


def record_path_for(output: Path) -> Path:
    """`exports/x.csv` -> `exports/x.csv.run.json`."""
    return output.with_name(output.name + RECORD_SUFFIX)


def check_record_path(output: Path) -> None:
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
        },
        "rerun_of": None if request.rerun_of is None else dict(request.rerun_of),
    }


def write_run_record(result: RunResult) -> Path:
    """Write `OUTPUT.run.json` atomically beside the output; return its path."""
    assert result.output_path is not None
    path = record_path_for(result.output_path)
    text = json.dumps(run_record(result), indent=2, ensure_ascii=False, default=str) + "\n"
    write_file(path, text.encode("utf-8"))
    return path


def load_run_record(path: Path) -> StoredRun:
    """Read a run record for `rerun`; the stored body must still match its sha256.

    A record that is unreadable or altered is an invalid input (exit 1), reported
    against the record file.
    """
    from exportspec.spec.compile import canonical_json

    def invalid(message: str) -> SpecInvalidError:
        return SpecInvalidError([Diagnostic(str(path), message, rule="run-record")])

    try:
        raw = path.read_bytes()
        data = loads_strict(raw)
    except OSError as exc:
        raise invalid(f"cannot read the run record: {exc.strerror}") from None
    except StrictJsonError as exc:
        raise invalid(f"not a run record: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        raise invalid("not a run record: no `request` object")
    version = data.get("record_version")
    if type(version) is not int or version != RECORD_VERSION:  # `true == 1` in Python
        raise invalid(f"unsupported record_version {version!r}")
    stored = data["request"]
    if not isinstance(stored.get("body"), dict) or not isinstance(stored.get("body_sha256"), str):
        raise invalid("the run record has no request body object or body_sha256")
    body = canonical_json(stored["body"])
    sha256 = hashlib.sha256(body).hexdigest()
    if sha256 != stored["body_sha256"]:
        raise invalid(
            f"the stored body's sha256 is {sha256}, the record says "
            f"{stored['body_sha256']}: the record was edited or damaged"
        )

    def section(key: str) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise invalid(f"`{key}` must be an object in a run record")
        return value

    def text(where: dict[str, Any], key: str, label: str) -> str | None:
        value = where.get(key)
        if value is not None and not isinstance(value, str):
            raise invalid(f"`{label}` must be a string in a run record")
        return value

    spec, output, variables = section("spec"), section("output"), section("variables")
    body_format = stored["body"].get("format")
    request = ExportRequest(
        body=body,
        body_sha256=sha256,
        export_format=str(body_format or "csv"),
        name=text(spec, "name", "spec.name") or path.name.removesuffix(RECORD_SUFFIX),
        spec_path=text(spec, "path", "spec.path"),
        spec_sha256=text(spec, "sha256", "spec.sha256"),
        variables=variables,
        now=text(data, "now", "now"),
        rerun_of={
            "record": path.as_posix(),
            "record_sha256": hashlib.sha256(raw).hexdigest(),
            "started_at": text(data, "started_at", "started_at"),
            "output_sha256": text(output, "sha256", "output.sha256"),
        },
    )
    return StoredRun(
        request=request,
        base_url=text(stored, "base_url", "request.base_url"),
        project_token=text(stored, "project_token", "request.project_token"),
        output_path=text(output, "path", "output.path"),
    )
