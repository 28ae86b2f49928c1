"""`validate --locked`: a located error for each spec whose compiled body the lock does not hold."""

from __future__ import annotations

import json

from exportspec.gitops.models import Change, JsonValue, Lock, PlanEntry
from exportspec.gitops.plan import compute_plan
from exportspec.gitops.project import Project
from exportspec.spec.models import Diagnostic, Position, SpecResult


def stale_lock_results(results: list[SpecResult], lock: Lock, project: Project) -> list[SpecResult]:
    """Add a located error to each spec whose body differs from the lock, and one on the lock
    for locked specs that are gone (or for the lock itself, when there is none)."""
    shown = str(lock.path)
    if not lock.exists:
        missing = Diagnostic(
            shown, "lock file not found: run `exportspec lock` and commit it", rule="lock-missing"
        )
        return [*results, SpecResult(lock.path, None, (missing,), kind="lock")]
    plan = compute_plan(results, lock)
    by_name = {e.name: e for e in plan.entries}
    updated: list[SpecResult] = []
    for result in results:
        entry = by_name.get(result.compiled.name) if result.compiled else None
        if entry is None or (entry.status == "unchanged" and not entry.needs_relock):
            updated.append(result)
            continue
        position = result.document.source_map.value_position(("name",)) if result.document else None
        stale = Diagnostic(
            str(result.path),
            _stale_message(entry, lock.path.name),
            position or Position(1, 1),
            ("name",),
            rule="lock-stale",
        )
        updated.append(SpecResult(result.path, None, (*result.diagnostics, stale), result.document))
    removed = [e for e in plan.entries if e.status == "removed"]
    if removed:
        names = ", ".join(repr(e.name) for e in removed)
        note = Diagnostic(
            shown,
            f"locked spec(s) {names} no longer exist; run `exportspec lock` to update the lock",
            rule="lock-stale",
        )
        updated.append(SpecResult(lock.path, None, (note,), kind="lock"))
    return updated


def _stale_message(entry: PlanEntry, lock_name: str) -> str:
    """What differs from the lock, with the first body changes, and the fix."""
    every = [change_text(c) for c in (*entry.body_changes, *entry.output_changes)]
    every += [
        f"{c.path}: {'now' if c.kind == 'added' else 'no longer'} read from `now`"
        for c in entry.now_changes
    ]
    shown = every[:3]
    more = len(every) - len(shown)
    detail = "; ".join(shown) + (f"; and {more} more (see `exportspec plan`)" if more > 0 else "")
    moved = f"spec moved from {entry.old_path} since {lock_name}"
    if entry.status == "unchanged" and entry.needs_relock:
        return (
            f"{lock_name} is lock format 1: it does not record this spec's output path or which "
            "body paths depend on now; run `exportspec lock` to update it"
        )
    what = {
        "added": f"spec is not in {lock_name}",
        "renamed": f"spec was renamed from {entry.old_name!r} since {lock_name}",
        "changed": f"compiled body differs from {lock_name}",
        "moved": moved,
    }[entry.status]
    if entry.status == "changed" and not entry.body_changes:
        what = (
            f"output path differs from {lock_name}"
            if entry.output_changes
            else f"what depends on now differs from {lock_name}"
        )
    if entry.status == "changed" and entry.old_path != entry.path:
        what = f"{moved} and its compiled body differs" if entry.body_changes else moved
    return f"{what}{f' ({detail})' if detail else ''}; run `exportspec lock` to update it"


def change_text(change: Change) -> str:
    """`$.path: old -> new`, `+ new` or `- old`, each side short; two long sides that begin
    alike are shown around their first difference, so they never read the same."""
    if change.kind == "added":
        return f"{change.path_text}: + {_short(change.new)}"
    if change.kind == "removed":
        return f"{change.path_text}: - {_short(change.old)}"
    old, new = _text(change.old), _text(change.new)
    if len(old) > SHORT or len(new) > SHORT:
        same = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), len(old))
        start = max(0, min(same, len(old), len(new)) - 10)
        old, new = _window(old, start), _window(new, start)
    return f"{change.path_text}: {old} -> {new}"


SHORT = 60


def _text(value: JsonValue) -> str:
    return "(absent)" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _short(value: JsonValue) -> str:
    return _window(_text(value), 0)


def _window(text: str, start: int) -> str:
    """At most SHORT characters of `text` from `start`, marked where cut."""
    piece = text[start : start + SHORT]
    return ("..." if start else "") + piece + ("..." if start + SHORT < len(text) else "")
