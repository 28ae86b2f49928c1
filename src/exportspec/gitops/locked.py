"""What depends on `now`, and `run --locked`: what runs is what was reviewed.

A spec's templates are found in its parsed document; the names each one reads come from its
parsed AST (`render.template_names`), so "depends on now" is known without guessing from
values. Rendering keeps the document's shape (a template replaces its own string), so a
template's path under `export` is its path in the body.

`run --locked` checks, before anything is sent:

1. rendered at the lock's `now`, the body and output path equal the locked ones exactly,
   and the same body paths read `now` (the spec has not changed since it was locked);
2. rendered at the real `now`, the body differs from that only at scalar leaves whose
   template reads `now` and that keep their JSON type. Anything else (a filter, an
   attribute list, a format, a change of type) is refused with exit 1 and a diff.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exportspec.errors import ExitCode, ExportspecError
from exportspec.spec.models import JsonPath, format_json_path, is_template

if TYPE_CHECKING:
    from exportspec.gitops.models import Change, JsonValue, Lock, LockEntry
    from exportspec.gitops.project import Project
    from exportspec.spec.models import SpecResult
    from exportspec.spec.variables import RenderInputs


@dataclass(frozen=True, slots=True)
class NowDependence:
    """The body paths whose template reads `now`, and those of them yielding an object or
    array (a time bomb: a whole filter or attribute list that changes with the date)."""

    paths: tuple[str, ...] = ()
    structures: tuple[str, ...] = ()


def _templates(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _templates(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _templates(item, (*path, i))
    elif is_template(value):
        yield path, value


def now_dependence(result: SpecResult) -> NowDependence:
    """Which paths of `result`'s compiled body come from a template that reads `now`."""
    from exportspec.spec.render import template_names

    if result.document is None or result.compiled is None:
        return NowDependence()
    data = result.document.data
    export = data.get("export") if isinstance(data, dict) else None
    body = json.loads(result.compiled.body)
    paths: list[JsonPath] = []
    structures: list[JsonPath] = []
    for path, source in _templates(export, ()):
        if "now" not in template_names(source):
            continue
        paths.append(path)
        if isinstance(_at(body, path), dict | list):
            structures.append(path)
    return NowDependence(_texts(paths), _texts(structures))


def _texts(paths: Sequence[JsonPath]) -> tuple[str, ...]:
    return tuple(sorted(format_json_path(p) for p in paths))


def _at(value: Any, path: JsonPath) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


# --------------------------------------------------------------------------- run --locked


class LockedRunRefused(ExportspecError):
    """`run --locked` found the spec differing from what was locked and reviewed (exit 1)."""

    exit_code = ExitCode.SPEC_INVALID

    def __init__(self, message: str, changes: Sequence[tuple[str, str]] = ()) -> None:
        lines = [message, *(f"  {change}  [{why}]" for change, why in changes)]
        super().__init__("\n".join(lines))
        #: The diff: (`$.body.filter.type: "segment" -> "all"`, why it is refused).
        self.changes = tuple(changes)


def _line(change: Change) -> str:
    from exportspec.gitops.stale import change_text

    return change_text(change)


def _json_type(value: JsonValue) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def check_locked_run(
    spec: Path,
    today: SpecResult,
    project: Project,
    inputs: RenderInputs,
    environment: str | None,
) -> None:
    """Raise LockedRunRefused unless `today` (compiled at the real `now`) is what the lock
    holds for this spec, up to the scalar leaves whose template reads `now`."""
    from exportspec.gitops.lock import read_lock

    lock = read_lock(project)
    compiled = today.compiled
    assert compiled is not None
    name = compiled.name
    if not lock.exists:
        raise LockedRunRefused(
            f"run --locked: no lock file at {lock.path}: run `exportspec lock` and commit it"
        )
    entry = lock.entries.get(name)
    if entry is None:
        raise LockedRunRefused(
            f"run --locked: spec {name!r} is not in {lock.path}: lock it (`exportspec lock`), "
            "review the plan and commit the lock"
        )
    _check_entry(spec, entry, lock, project, environment)
    at_lock = _compile_at_lock_now(spec, inputs, lock)
    _check_as_locked(at_lock, entry, lock)
    check_now_changes(json.loads(at_lock.compiled.body) if at_lock.compiled else {}, today, entry)


def _check_entry(
    spec: Path, entry: LockEntry, lock: Lock, project: Project, environment: str | None
) -> None:
    from exportspec.gitops.lock import relative_path

    name = entry.name
    if entry.needs_relock:
        raise LockedRunRefused(
            f"run --locked: {lock.path} is lock format {lock.version}, which records neither "
            f"output paths nor which body paths depend on now; run `exportspec lock`, review "
            "the plan and commit the lock"
        )
    selected = project.environment(environment)
    chosen = selected.name if selected is not None else None
    if chosen != lock.environment:

        def shown(env: str | None) -> str:
            return f"--env {env}" if env else "no environment"

        raise LockedRunRefused(
            f"run --locked: {lock.path} was made with {shown(lock.environment)}, this run uses "
            f"{shown(chosen)}: what was reviewed is not what would run"
        )
    path = relative_path(spec, lock.path.parent)
    if path != entry.path:
        raise LockedRunRefused(
            f"run --locked: {lock.path} has spec {name!r} at {entry.path}, not {path}: "
            "run `exportspec lock` and commit the lock"
        )


def _compile_at_lock_now(spec: Path, inputs: RenderInputs, lock: Lock) -> SpecResult:
    from dataclasses import replace

    from exportspec.errors import SpecInvalidError
    from exportspec.spec.pipeline import compile_spec
    from exportspec.spec.variables import parse_now

    if lock.now_text is None:
        raise LockedRunRefused(
            f"run --locked: {lock.path} records no `now`: run `exportspec lock` again"
        )
    try:
        return compile_spec(spec, replace(inputs, now=parse_now(lock.now_text)))
    except SpecInvalidError as exc:
        raise LockedRunRefused(
            f"run --locked: the spec does not compile at the lock's now ({lock.now_text}), "
            f"as it did when locked: {exc.diagnostics[0].message if exc.diagnostics else exc}"
        ) from None


def _check_as_locked(at_lock: SpecResult, entry: LockEntry, lock: Lock) -> None:
    """Rendered at the lock's `now`, the spec must give exactly what was locked."""
    from exportspec.gitops.models import Change
    from exportspec.gitops.plan import diff_values

    compiled = at_lock.compiled
    assert compiled is not None
    refused: list[tuple[str, str]] = []
    body: JsonValue = json.loads(compiled.body)
    if compiled.sha256 != entry.body_sha256:
        why = "differs from the lock"
        refused += [(_line(c), why) for c in diff_values(dict(entry.body), body, ("body",))]
    from exportspec.gitops.plan import split_changes

    refused += [(_line(c), "differs from the lock") for c in split_changes(entry, compiled)]
    for part, locked in zip(compiled.parts, entry.parts, strict=False):
        if (part.segment, part.sha256) != (locked.segment, locked.body_sha256):
            refused.append((f"part for segment {part.segment}", "differs from the lock"))
    if compiled.output_path != entry.output_path:
        change = Change(("output", "path"), entry.output_path, compiled.output_path, "changed")
        refused.append((_line(change), "differs from the lock"))
    dependence = now_dependence(at_lock)
    assert entry.now_paths is not None
    for text in sorted(set(dependence.paths) ^ set(entry.now_paths)):
        if text in dependence.paths:
            refused.append((f"body {text}", "its template reads now, which the lock does not say"))
        else:
            refused.append(
                (f"body {text}", "the lock says its template reads now; it no longer does")
            )
    if refused:
        raise LockedRunRefused(
            f"run --locked: spec {entry.name!r} has changed since {lock.path} was made "
            f"(rendered at its now, {lock.now_text}); run `exportspec lock`, review the plan "
            "and commit the lock",
            refused,
        )


def check_now_changes(locked_body: JsonValue, today: SpecResult, entry: LockEntry) -> None:
    """Rendered at the real `now`, only scalar leaves read from `now` may differ."""
    from exportspec.gitops.plan import diff_values

    compiled = today.compiled
    assert compiled is not None
    allowed = set(entry.now_paths or ())
    refused: list[tuple[str, str]] = []
    for change in diff_values(locked_body, json.loads(compiled.body)):
        text = format_json_path(change.path)
        if text not in allowed:
            why = "not a value whose template reads now"
            if any(text.startswith(p) for p in allowed):
                why = "inside an object or array whose template reads now"
            refused.append((_in_body(change), why))
        elif change.kind != "changed" or isinstance(change.old, dict | list):
            refused.append((_in_body(change), "a template that reads now yields no scalar here"))
        elif _json_type(change.old) != _json_type(change.new):
            why = f"was a {_json_type(change.old)}, now a {_json_type(change.new)}"
            refused.append((_in_body(change), why))
    if refused:
        raise LockedRunRefused(
            f"run --locked: at now={compiled.now.isoformat()} spec {entry.name!r} would send a "
            "body that differs from the locked one beyond the scalar values whose template "
            "reads now; nothing was sent",
            refused,
        )


def _in_body(change: Change) -> str:
    from dataclasses import replace

    return _line(replace(change, path=("body", *change.path)))
