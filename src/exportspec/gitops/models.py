"""Frozen values passed between the lock modules: the lock's content, and plans against it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from exportspec.gitops.project import DEFAULT_LOCKFILE
from exportspec.spec.models import JsonPath, format_json_path

#: A value of a JSON document: what a lock or a run record holds.
JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = Mapping[str, JsonValue]

Status = Literal["added", "removed", "renamed", "changed", "moved", "unchanged"]
#: Statuses whose compiled body is the locked one: nothing new would be sent.
SAME_BODY: frozenset[Status] = frozenset({"moved", "unchanged"})


@dataclass(frozen=True, slots=True)
class LockedPart:
    """One part of a locked split spec: its segment, body and the body's sha256."""

    segment: int
    body: JsonObject
    body_sha256: str

    def as_json(self) -> dict[str, JsonValue]:
        return {"segment": self.segment, "body": dict(self.body), "body_sha256": self.body_sha256}


@dataclass(frozen=True, slots=True)
class LockEntry:
    """One spec as locked.

    `output_path` is the rendered `output.path` (relative to the output root; None when the
    spec has none) and `now_paths` the body's JSON paths (`$.execution_time`) whose template
    reads `now`. A lock_version 1 entry records neither: `now_paths` is None, and the entry
    needs a relock before plan or `run --locked` can vouch for it. A split spec's entry
    holds `segments` (its `split` key) and `parts`; `body` is then what the parts share.
    """

    name: str
    path: str
    spec_sha256: str
    body_sha256: str
    body: JsonObject
    variables: JsonObject
    output_path: str | None = None
    now_paths: tuple[str, ...] | None = None
    segments: tuple[int, ...] | None = None
    parts: tuple[LockedPart, ...] = ()

    @property
    def split(self) -> JsonValue:
        """The spec's `split` key as locked; None for a spec that is not split."""
        return None if self.segments is None else {"segments": list(self.segments)}

    @property
    def needs_relock(self) -> bool:
        """Written by a lock format that records no output path and no `now` paths."""
        return self.now_paths is None

    def as_json(self) -> dict[str, JsonValue]:
        document: dict[str, JsonValue] = {
            "path": self.path,
            "spec_sha256": self.spec_sha256,
            "body_sha256": self.body_sha256,
            "body": dict(self.body),
            "variables": dict(self.variables),
        }
        if self.now_paths is not None:
            document["output_path"] = self.output_path
            document["now_paths"] = list(self.now_paths)
        if self.segments is not None:
            document["split"] = self.split
            document["parts"] = [part.as_json() for part in self.parts]
        return document


@dataclass(frozen=True, slots=True)
class Lock:
    """The lock file's content (empty when the file does not exist)."""

    path: Path
    exists: bool
    now_text: str | None = None
    environment: str | None = None
    entries: Mapping[str, LockEntry] = field(default_factory=dict)
    #: The file's lock_version (1: written before output paths and `now` paths were locked).
    version: int = 2
    #: sha256 of the file's bytes (None: no file), as batch records name the lock they used.
    sha256: str | None = None


class LockScope(NamedTuple):
    """A lock split by PATH arguments: the part they cover, and the entries left out."""

    inside: Lock
    outside: Mapping[str, LockEntry]


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two JSON values."""

    path: JsonPath
    old: JsonValue
    new: JsonValue
    kind: Literal["added", "removed", "changed"]

    @property
    def path_text(self) -> str:
        return format_json_path(self.path)


class NowChange(NamedTuple):
    """A body path (`$.execution_time`) that started (`added`) or stopped (`removed`)
    depending on `now` since the lock."""

    path: str
    kind: Literal["added", "removed"]


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """What happens to one spec's body compared with the lock."""

    status: Status
    name: str
    path: str
    old_name: str | None = None
    old_path: str | None = None
    #: Leaf changes of the body; for a split spec, of its `split` key too (`$.split...`).
    body_changes: tuple[Change, ...] = ()
    variable_changes: tuple[Change, ...] = ()
    #: `$.output.path` when the rendered output path differs from the locked one.
    output_changes: tuple[Change, ...] = ()
    #: Body paths that started (`added`) or stopped (`removed`) depending on `now`.
    now_changes: tuple[NowChange, ...] = ()
    #: Today's rendered output.path (relative to the output root), None when there is none.
    output_path: str | None = None
    #: Today's body paths whose template reads `now` (`$.execution_time`).
    now_paths: tuple[str, ...] = ()
    #: Of those, the ones whose template yields an object or array: what is sent there can
    #: change with the date in ways no plan shows (a time bomb).
    now_structures: tuple[str, ...] = ()
    #: The lock entry was written by lock format 1 (no output path, no `now` paths).
    needs_relock: bool = False

    @property
    def differs(self) -> bool:
        """The body or output path that would be sent differs from the locked one (or is new,
        or gone), or the lock cannot tell (its entry needs a relock)."""
        return self.status not in SAME_BODY or self.needs_relock


@dataclass(frozen=True, slots=True)
class Plan:
    entries: tuple[PlanEntry, ...]
    #: Where reports place a removed spec, whose own file is gone.
    lock_path: str = DEFAULT_LOCKFILE

    @property
    def differs(self) -> bool:
        return any(e.differs for e in self.entries)

    def count(self, status: Status) -> int:
        return sum(e.status == status for e in self.entries)
