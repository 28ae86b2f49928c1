"""Frozen values of one export run: what is sent, what a record holds, what came back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exportspec.run.destinations import Location
from exportspec.spec.models import CompiledBody


def iso(moment: dt.datetime) -> str:
    """`2026-01-31T00:00:00Z`: UTC, with the Z suffix records and locks use."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class PartRequest:
    """One part of a split export: its segment and the body sent for it."""

    segment: int
    body: bytes
    body_sha256: str


@dataclass(frozen=True, slots=True)
class PartResult:
    """What one part of a split export brought back (its file is assembled, then removed)."""

    segment: int
    body_sha256: str
    attempts: int
    rows: int
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """The bytes to send and where they came from (copied into the run record).

    A split export sends its `parts` instead of `body`, which is then what they share.
    """

    body: bytes
    body_sha256: str
    export_format: str
    name: str
    spec_path: str | None
    spec_sha256: str | None
    variables: Mapping[str, Any]
    now: str | None
    rerun_of: Mapping[str, Any] | None = None
    parts: tuple[PartRequest, ...] = ()

    @classmethod
    def from_compiled(cls, compiled: CompiledBody) -> ExportRequest:
        return cls(
            body=compiled.body,
            body_sha256=compiled.sha256,
            export_format=compiled.format,
            name=compiled.name,
            spec_path=compiled.spec_path.as_posix(),
            spec_sha256=compiled.spec_sha256,
            variables=dict(compiled.variables),
            now=iso(compiled.now),
            parts=tuple(PartRequest(p.segment, p.body, p.sha256) for p in compiled.parts),
        )


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run record read back for `rerun`."""

    request: ExportRequest
    base_url: str | None
    project_token: str | None
    output_path: str | None


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one `run` produced."""

    request: ExportRequest
    url: str
    base_url: str
    project_token: str | None
    output_path: Location | None
    status: int
    attempts: int
    started_at: dt.datetime
    finished_at: dt.datetime
    size: int
    sha256: str
    rows: int
    #: A split export's parts, in segment order; size, sha256 and rows are then the
    #: assembled output's, attempts the parts' sum.
    parts: tuple[PartResult, ...] = ()
    #: The object's version id (S3) or generation (GCS), for a versioned destination.
    version_id: str | None = None

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()
