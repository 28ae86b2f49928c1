"""Plans: how today's compiled bodies differ from the lock, spec by spec and leaf by leaf."""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Literal

from exportspec.gitops.lock import relative_path
from exportspec.gitops.models import (
    Change,
    JsonValue,
    Lock,
    LockEntry,
    NowChange,
    Plan,
    PlanEntry,
    Status,
)
from exportspec.spec.models import CompiledBody, JsonPath, SpecResult


def diff_values(old: JsonValue, new: JsonValue, path: JsonPath = ()) -> list[Change]:
    """Leaf-level differences between two JSON values, in path order."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[Change] = []
        for key in sorted(set(old) | set(new)):
            if key not in new:
                changes.append(Change((*path, key), old[key], None, "removed"))
            elif key not in old:
                changes.append(Change((*path, key), None, new[key], "added"))
            else:
                changes += diff_values(old[key], new[key], (*path, key))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        return _diff_lists(old, new, path)
    if old == new and type(old) is type(new):
        return []
    return [Change(path, old, new, "changed")]


def _diff_lists(old: list[JsonValue], new: list[JsonValue], path: JsonPath) -> list[Change]:
    """Items removed, added or changed, as `terraform plan` shows a list: a removed item at
    its old index, an added one at its new index, a changed one diffed in place."""
    key = functools.partial(json.dumps, sort_keys=True, ensure_ascii=False)
    matcher = difflib.SequenceMatcher(None, [key(v) for v in old], [key(v) for v in new], False)
    changes: list[Change] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:  # edited in place: say what changed
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                changes += diff_values(old[i], new[j], (*path, j))
            continue
        changes += [Change((*path, i), old[i], None, "removed") for i in range(i1, i2)]
        changes += [Change((*path, j), None, new[j], "added") for j in range(j1, j2)]
    return changes


def compute_plan(results: Sequence[SpecResult], lock: Lock) -> Plan:
    """Compare today's compiled bodies with the lock: added, removed, renamed, changed."""
    current = {r.compiled.name: r for r in results if r.compiled is not None}
    base = lock.path.parent
    entries: list[PlanEntry] = []
    gone = {name: e for name, e in lock.entries.items() if name not in current}
    from exportspec.gitops.locked import now_dependence

    for name in sorted(current):
        compiled = current[name].compiled
        assert compiled is not None
        dependence = now_dependence(current[name])
        path = relative_path(compiled.spec_path, base)
        body: JsonValue = json.loads(compiled.body)
        old = lock.entries.get(name)
        old_name = None
        if old is None:
            old = _rename_source(gone, path, compiled.sha256)
            if old is not None:
                old_name = old.name
                del gone[old.name]
        if old is None:
            entries.append(
                PlanEntry(
                    "added",
                    name,
                    path,
                    output_path=compiled.output_path,
                    now_paths=dependence.paths,
                    now_structures=dependence.structures,
                )
            )
            continue
        body_changes = (*diff_values(dict(old.body), body), *split_changes(old, compiled))
        variable_changes = tuple(diff_values(dict(old.variables), dict(compiled.variables)))
        output_changes, now_changes = _lock_changes(old, compiled.output_path, dependence.paths)
        if old_name is not None:
            status: Status = "renamed"
        elif (
            body_changes
            or old.body_sha256 != compiled.sha256
            or _part_digests(old) != _part_digests(compiled)
            or output_changes
            or now_changes
        ):
            status = "changed"
        elif old.path != path:
            # The same body from another file: the lock needs the new path, but nothing new
            # would be sent (the workflow runs only specs whose body differs).
            status = "moved"
        else:
            status = "unchanged"
        entries.append(
            PlanEntry(
                status,
                name,
                path,
                old_name,
                old.path,
                body_changes,
                variable_changes,
                output_changes,
                now_changes,
                compiled.output_path,
                dependence.paths,
                dependence.structures,
                old.needs_relock,
            )
        )
    entries += [
        PlanEntry("removed", name, e.path, None, e.path, output_path=e.output_path)
        for name, e in sorted(gone.items())
    ]
    # Every plan path is relative to the lock's folder, the lock's own included.
    return Plan(tuple(entries), lock.path.name)


def split_changes(old: LockEntry, compiled: CompiledBody) -> list[Change]:
    """How a spec's `split` key differs from the locked one (`$.split.segments[3]`): its
    parts are the body with each segment filled in, so with the body's changes this says
    how every part changed."""
    locked = {} if old.segments is None else {"split": old.split}
    today: dict[str, JsonValue] = (
        {} if not compiled.parts else {"split": {"segments": list(compiled.segments)}}
    )
    return diff_values(locked, today)


def _part_digests(source: LockEntry | CompiledBody) -> list[tuple[int, str]]:
    if isinstance(source, LockEntry):
        return [(part.segment, part.body_sha256) for part in source.parts]
    return [(part.segment, part.sha256) for part in source.parts]


def _lock_changes(
    old: LockEntry, output_path: str | None, now_paths: Sequence[str]
) -> tuple[tuple[Change, ...], tuple[NowChange, ...]]:
    """Where data lands and what depends on `now`, against the lock; nothing to compare
    with for a format 1 entry (it needs a relock, which the plan says)."""
    if old.needs_relock:
        return (), ()
    output: tuple[Change, ...] = ()
    if old.output_path != output_path:
        kind: Literal["added", "removed", "changed"] = "changed"
        if old.output_path is None or output_path is None:
            kind = "added" if old.output_path is None else "removed"
        output = (Change(("output", "path"), old.output_path, output_path, kind),)
    locked = set(old.now_paths or ())
    now = tuple(
        NowChange(text, "removed" if text in locked else "added")
        for text in sorted(locked ^ set(now_paths))
    )
    return output, now


def _rename_source(gone: Mapping[str, LockEntry], path: str, sha: str) -> LockEntry | None:
    """A locked spec that vanished under its old name: same file, or else the same body."""
    for entry in gone.values():
        if entry.path == path:
            return entry
    for entry in gone.values():
        if entry.body_sha256 == sha:
            return entry
    return None
