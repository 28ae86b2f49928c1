"""`exportspec.lock` and plans: which compiled bodies a change alters, before anything is sent.

The lock records, per spec, the compiled body and its sha256, the variables used and the
inputs' hashes. It also pins `now`, so bodies that depend on the time of day do not show
up as changes every day: `plan` renders with the lock's `now` unless `--now` is given.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from exportspec import __version__
from exportspec.errors import ConfigError, SpecInvalidError, UsageError
from exportspec.gitops.project import DEFAULT_LOCKFILE, Project
from exportspec.jsontext import deeper_than, reject_constant
from exportspec.spec.load import MAX_DEPTH
from exportspec.spec.models import Diagnostic, JsonPath, Position, SpecResult, format_json_path

LOCK_VERSION = 1
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
    body: Any
    variables: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "spec_sha256": self.spec_sha256,
            "body_sha256": self.body_sha256,
            "body": self.body,
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


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two JSON values."""

    path: JsonPath
    old: Any
    new: Any
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


def schema_sha256() -> str:
    from exportspec.schemas import BODY_SCHEMA, SPEC_SCHEMA, schema_text

    digest = hashlib.sha256()
    for name in (SPEC_SCHEMA, BODY_SCHEMA):
        digest.update(schema_text(name).encode("utf-8"))
    return digest.hexdigest()


def environment_mismatch(lock: Lock, project: Project, chosen: str | None) -> str | None:
    """A warning when today's environment is not the one the lock was made with: every
    difference it brings would show up as a change."""
    if not lock.exists:
        return None
    selected = project.environment(chosen)
    name = selected.name if selected is not None else None
    if name == lock.environment:
        return None

    def shown(env: str | None) -> str:
        return f"--env {env}" if env else "no environment"

    return (
        f"warning: {lock.path.name} was made with {shown(lock.environment)}, this run uses "
        f"{shown(name)}; bodies may differ for that reason alone"
    )


def lock_path(project: Project) -> Path:
    """Where the project's lock is, relative to the working folder when below it (as
    diagnostics and CI annotations show it)."""
    path = project.root / project.lockfile
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _relative(path: Path, root: Path) -> str:
    """`path` relative to the lock's folder, with `../` for specs outside it: never absolute,
    so every checkout of the repository computes the same lock."""
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def read_lock(project: Project) -> Lock:
    """Read the project's lock file; an absent file is an empty lock.

    Every field is checked: a hand-edited or half-merged lock is a configuration error
    naming the file and the field, never a traceback or a silently wrong plan.
    """
    path = lock_path(project)
    if not path.exists():
        return Lock(path, exists=False)
    data = _parse_lock_json(path)
    return _lock_from_json(path, data)


class _LockFieldError(Exception):
    """One bad field of the lock file: where (a JSON path) and what is wrong."""

    def __init__(self, where: JsonPath, problem: str) -> None:
        super().__init__(problem)
        self.where = where
        self.problem = problem


def _lock_error(path: Path | str, problem: str) -> ConfigError:
    return ConfigError(
        f"{path}: {problem}; fix it, or delete it and run `exportspec lock` to write it again"
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A botched merge can leave one spec twice; json.loads would quietly keep the last.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_lock_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the lock file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise _lock_error(
            f"{path}:{line}:{column}", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})"
        ) from None
    if "\n<<<<<<< " in f"\n{text}":
        raise _lock_error(path, "it holds git merge conflict markers")
    try:
        return json.loads(text, parse_constant=reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise _lock_error(
            f"{path}:{exc.lineno}:{exc.colno}", f"not valid JSON ({exc.msg})"
        ) from None
    except RecursionError:
        raise _lock_error(path, f"nesting is deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # our hooks, and json's cap on the digits of an integer
        raise _lock_error(path, f"not valid JSON ({exc})") from None


def _lock_from_json(path: Path, data: Any) -> Lock:
    try:
        top = _mapping(data, ())
        version = top.get("lock_version")
        # `true == 1` in Python: check the type, not only the value.
        if type(version) is not int or version != LOCK_VERSION:
            raise _LockFieldError(
                ("lock_version",),
                f"must be {LOCK_VERSION}, not {_shown(version)}: this exportspec reads lock "
                f"format {LOCK_VERSION} only",
            )
        for key in ("tool_version", "schema_sha256"):
            if key in top and not isinstance(top[key], str):
                raise _LockFieldError((key,), f"must be a string, not {_kind(top[key])}")
        environment = top.get("environment")
        if environment is not None and not (isinstance(environment, str) and environment):
            raise _LockFieldError(
                ("environment",), f"must be an environment name or null, not {_kind(environment)}"
            )
        now = _lock_now(top.get("now"))
        specs = _mapping(_required(top, "specs", ()), ("specs",))
        entries = {name: _lock_entry(name, entry) for name, entry in specs.items()}
    except _LockFieldError as exc:
        field_ = format_json_path(exc.where) if exc.where else "the top level"
        raise _lock_error(path, f"{field_} {exc.problem}") from None
    return Lock(path, True, now, environment, entries)


def _lock_now(value: Any) -> str | None:
    """The pinned moment: an ISO 8601 string, as `--now` takes it."""
    if value is None:
        return None
    if isinstance(value, str):
        from exportspec.spec.variables import parse_now

        try:
            parse_now(value)  # what `--now` accepts, or `lock` could not reuse it
        except UsageError:
            pass
        else:
            return value
    raise _LockFieldError(
        ("now",), f'must be an ISO 8601 date-time like "2026-01-31T00:00:00Z", not {_shown(value)}'
    )


def _lock_entry(name: str, entry: Any) -> LockEntry:
    where: JsonPath = ("specs", name)
    if not _SPEC_NAME.fullmatch(name):
        raise _LockFieldError(where, "is not a spec name (lower-case letters, digits, '_' and '-')")
    fields = _mapping(entry, where)
    spec_path = _required(fields, "path", where)
    if not isinstance(spec_path, str) or not spec_path:
        raise _LockFieldError((*where, "path"), f"must be a file path, not {_kind(spec_path)}")
    digests = {}
    for key in ("spec_sha256", "body_sha256"):
        digest = _required(fields, key, where)
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise _LockFieldError(
                (*where, key), f"must be a sha256 digest (64 hex digits), not {_shown(digest)}"
            )
        digests[key] = digest
    body = _mapping(_required(fields, "body", where), (*where, "body"))
    variables = _mapping(_required(fields, "variables", where), (*where, "variables"))
    for key, value in (("body", body), ("variables", variables)):
        if deeper_than(value, MAX_DEPTH):
            raise _LockFieldError((*where, key), f"is nested deeper than {MAX_DEPTH} levels")
    return LockEntry(
        name, spec_path, digests["spec_sha256"], digests["body_sha256"], body, variables
    )


_SPEC_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _mapping(value: Any, where: JsonPath) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _LockFieldError(where, f"must be a JSON object, not {_kind(value)}")
    return value


def _required(fields: Mapping[str, Any], key: str, where: JsonPath) -> Any:
    if key not in fields:
        raise _LockFieldError((*where, key), "is missing")
    return fields[key]


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A short JSON spelling of a bad value (the lock holds no secrets)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else _kind(value)


def split_lock(
    lock: Lock,
    roots: Sequence[Path],
    results: Sequence[SpecResult],
    project_spec_files: Callable[[], Iterable[Path]],
) -> tuple[Lock, dict[str, LockEntry]]:
    """The lock narrowed to the specs under `roots` (PATH arguments: files or folders), and
    the entries left out, so that `plan specs/a.yaml` does not call every other locked spec
    removed and `lock specs/a.yaml` does not drop them. Without roots, the whole lock.

    `results` are the specs found under the roots. An entry belongs to them when its file
    is one of theirs (symlinks resolved), or when its file is gone and either a spec of the
    same name is among them (moved in) or it lay under a root and no spec elsewhere in the
    project (`project_spec_files`) has its name (removed, not moved out). A locked spec
    elsewhere that still has the name of one of `results` is a duplicate name: exit 1.
    """
    if not roots:
        return lock, {}
    chosen = {r.path.resolve(): r for r in results}
    here = {r.compiled.name: r for r in results if r.compiled is not None}
    wanted = [root.resolve() for root in roots]

    @functools.cache
    def elsewhere() -> dict[Path, object]:
        """The current name of each project spec outside the roots (loaded on first use)."""
        files = (f.resolve() for f in project_spec_files())
        return {f: _spec_name(f) for f in files if f not in chosen}

    inside: dict[str, LockEntry] = {}
    outside: dict[str, LockEntry] = {}
    clashes: list[Diagnostic] = []
    for name, entry in lock.entries.items():
        file = (lock.path.parent / entry.path).resolve()
        if file in chosen:
            belongs = True
        elif file.exists():
            belongs = False
            if name in here and elsewhere().get(file) == name:
                clashes.append(_duplicate_name(here[name], entry))
        elif name in here:
            belongs = True  # moved in from elsewhere
        else:
            under = any(file == root or root in file.parents for root in wanted)
            belongs = under and name not in elsewhere().values()  # else moved out
        (inside if belongs else outside)[name] = entry
    if clashes:
        raise SpecInvalidError(clashes)
    return replace(lock, entries=inside), outside


def _spec_name(path: Path) -> object:
    from exportspec.spec.load import LoadError, load_document

    try:
        data = load_document(path).data
    except LoadError:
        return None
    return data.get("name")


def _duplicate_name(result: SpecResult, entry: LockEntry) -> Diagnostic:
    position = result.document.source_map.value_position(("name",)) if result.document else None
    return Diagnostic(
        str(result.path),
        f"name {entry.name!r} is also the name of {entry.path}, which is locked and still "
        "has it: spec names must be unique in the project",
        position or Position(1, 1),
        ("name",),
        rule="duplicate-name",
    )


def build_lock(
    results: Sequence[SpecResult],
    project: Project,
    *,
    environment: str | None,
    now: str,
    kept: Mapping[str, LockEntry] | None = None,
) -> tuple[Lock, str]:
    """The lock for these (valid) results plus the `kept` entries of specs not compiled this
    time (a narrower `lock PATH...`), and its stable, diff-friendly JSON text. A result
    replaces a kept entry of the same name."""
    path = lock_path(project)
    entries: dict[str, LockEntry] = dict(kept or {})
    for result in results:
        compiled = result.compiled
        assert compiled is not None, "lock only valid specs"
        entries[compiled.name] = LockEntry(
            compiled.name,
            _relative(compiled.spec_path, path.parent),
            compiled.spec_sha256,
            compiled.sha256,
            json.loads(compiled.body),
            dict(compiled.variables),
        )
    document = {
        "lock_version": LOCK_VERSION,
        "tool_version": __version__,
        "schema_sha256": schema_sha256(),
        "environment": environment,
        "now": now,
        "specs": {name: entries[name].as_json() for name in sorted(entries)},
    }
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return Lock(path, True, now, environment, entries), text


def write_lock(path: Path, text: str) -> None:
    """Replace the lock atomically, so a crash never leaves half a lock."""
    from exportspec.run.output import write_file

    write_file(path, text.encode("utf-8"))


def diff_values(old: Any, new: Any, path: JsonPath = ()) -> list[Change]:
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
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            c
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for c in diff_values(a, b, (*path, i))
        ]
    if old == new and type(old) is type(new):
        return []
    return [Change(path, old, new, "changed")]


def compute_plan(results: Sequence[SpecResult], lock: Lock) -> Plan:
    """Compare today's compiled bodies with the lock: added, removed, renamed, changed."""
    current = {r.compiled.name: r for r in results if r.compiled is not None}
    base = lock.path.parent
    entries: list[PlanEntry] = []
    gone = {name: e for name, e in lock.entries.items() if name not in current}
    for name in sorted(current):
        compiled = current[name].compiled
        assert compiled is not None
        path = _relative(compiled.spec_path, base)
        body = json.loads(compiled.body)
        old = lock.entries.get(name)
        old_name = None
        if old is None:
            old = _rename_source(gone, path, compiled.sha256)
            if old is not None:
                old_name = old.name
                del gone[old.name]
        if old is None:
            entries.append(PlanEntry("added", name, path))
            continue
        body_changes = tuple(diff_values(old.body, body))
        variable_changes = tuple(diff_values(dict(old.variables), dict(compiled.variables)))
        if old_name is not None:
            status: Status = "renamed"
        elif body_changes or old.body_sha256 != compiled.sha256:
            status = "changed"
        elif old.path != path:
            # The same body from another file: the lock needs the new path, but nothing new
            # would be sent (the workflow runs only specs whose body differs).
            status = "moved"
        else:
            status = "unchanged"
        entries.append(
            PlanEntry(status, name, path, old_name, old.path, body_changes, variable_changes)
        )
    entries += [
        PlanEntry("removed", name, e.path, None, e.path) for name, e in sorted(gone.items())
    ]
    # Every plan path is relative to the lock's folder, the lock's own included.
    return Plan(tuple(entries), lock.path.name)


def _rename_source(gone: Mapping[str, LockEntry], path: str, sha: str) -> LockEntry | None:
    """A locked spec that vanished under its old name: same file, or else the same body."""
    for entry in gone.values():
        if entry.path == path:
            return entry
    for entry in gone.values():
        if entry.body_sha256 == sha:
            return entry
    return None


def stale_lock_results(results: list[SpecResult], lock: Lock, project: Project) -> list[SpecResult]:
    """Add a located error to each spec whose body differs from the lock (`validate --locked`)."""
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
        if entry is None or entry.status == "unchanged":
            updated.append(result)
            continue
        detail = "; ".join(
            f"{c.path_text}: {_short(c.old)} -> {_short(c.new)}" for c in entry.body_changes[:3]
        )
        what = {
            "added": f"spec is not in {lock.path.name}",
            "renamed": f"spec was renamed from {entry.old_name!r} since {lock.path.name}",
            "changed": f"compiled body differs from {lock.path.name}",
            "moved": f"spec moved from {entry.old_path} since {lock.path.name}",
        }[entry.status]
        if entry.status == "changed" and entry.old_path != entry.path:
            moved = f"spec moved from {entry.old_path} since {lock.path.name}"
            what = f"{moved} and its compiled body differs" if entry.body_changes else moved
        message = f"{what}{f' ({detail})' if detail else ''}; run `exportspec lock` to update it"
        position = result.document.source_map.value_position(("name",)) if result.document else None
        stale = Diagnostic(
            str(result.path), message, position or Position(1, 1), ("name",), rule="lock-stale"
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


def _short(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."
