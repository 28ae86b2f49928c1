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
class LockEntry:
    """One spec as locked."""

    name: str
    path: str
    spec_sha256: str
    body_sha256: str
    body: JsonObject
    variables: JsonObject

    def as_json(self) -> dict[str, JsonValue]:
        return {
            "path": self.path,
            "spec_sha256": self.spec_sha256,
            "body_sha256": self.body_sha256,
            "body": dict(self.body),
            "variables": dict(self.variables),
        }


@dataclass(frozen=True, slots=True)
class Lock:
    """The lock file's content (empty when the file does not exist)."""

    path: Path
    exists: bool
    now_text: str | None = None
    environment: str | None = None
    entries: Mapping[str, LockEntry] = field(default_factory=dict)


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


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """What happens to one spec's body compared with the lock."""

    status: Status
    name: str
    path: str
    old_name: str | None = None
    old_path: str | None = None
    body_changes: tuple[Change, ...] = ()
    variable_changes: tuple[Change, ...] = ()

    @property
    def differs(self) -> bool:
        """The body that would be sent differs from the locked one (or is new, or gone)."""
        return self.status not in SAME_BODY


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
