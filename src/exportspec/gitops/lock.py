"""`exportspec.lock`: reading it back (checked against schemas/lock.schema.json) and writing it.

The lock records, per spec, the compiled body and its sha256, the variables used, the
inputs' hashes, the rendered output path and which body paths depend on `now`. It also
pins `now`, so bodies that depend on the time of day do not show up as changes every day:
`plan` renders with the lock's `now` unless `--now` is given. Scoping a lock to PATH
arguments is in `scope`, comparing against it in `plan`, `validate --locked` in `stale`,
and `run --locked` in `locked`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from exportspec import __version__
from exportspec.errors import ConfigError, UsageError, abridged
from exportspec.gitops.models import (
    JsonObject,
    JsonValue,
    Lock,
    LockedPart,
    LockEntry,
)
from exportspec.gitops.project import Project
from exportspec.spec.models import Diagnostic, JsonPath, LoadedDocument, Position, SpecResult

#: The lock format this exportspec writes. 2 added each entry's `output_path` and
#: `now_paths`; a format 1 lock is still read, and its entries are reported as needing a
#: relock (`validate --locked` fails, `plan` says so, `run --locked` refuses them).
LOCK_VERSION = 2
READABLE_VERSIONS = (1, 2)
_FIX = "fix it, or delete it and run `exportspec lock` to write it again"
_SPEC_NAME_RULE = "use lower-case letters, digits, '_' and '-', starting with a letter or digit"


class LockFileError(ConfigError):
    """The lock file is unreadable or not what `exportspec lock` writes; holds located
    diagnostics (exit 3)."""

    def __init__(self, path: Path, diagnostics: Sequence[Diagnostic], message: str = "") -> None:
        super().__init__(message or f"{path} is invalid; {_FIX}")
        self.diagnostics = tuple(diagnostics)
        self.path = path

    @classmethod
    def about(cls, error: LockFileError, message: str) -> LockFileError:
        """The same problems, another message (a lock that cannot be fixed in place)."""
        return cls(error.path, error.diagnostics, message)


def schema_sha256() -> str:
    from exportspec.schemas import BODY_SCHEMA, SPEC_SCHEMA, schema_text

    digest = hashlib.sha256()
    for name in (SPEC_SCHEMA, BODY_SCHEMA):
        digest.update(schema_text(name).encode("utf-8"))
    return digest.hexdigest()


def lock_path(project: Project) -> Path:
    """Where the project's lock is, relative to the working folder when below it (as
    diagnostics and CI annotations show it)."""
    path = project.root / project.lockfile
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def relative_path(path: Path, root: Path) -> str:
    """`path` relative to the lock's folder, with `../` for specs outside it: never absolute,
    so every checkout of the repository computes the same lock."""
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


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


# --------------------------------------------------------------------------- reading


def read_lock(project: Project) -> Lock:
    """Read the project's lock file; an absent file is an empty lock."""
    path = lock_path(project)
    if not path.exists():
        return Lock(path, exists=False)
    return load_lock(path)


def load_lock(path: Path, raw: bytes | None = None) -> Lock:
    """Read a lock file, `path` as diagnostics show it (`raw`: its content, when it comes
    from elsewhere than that path, such as an older commit).

    The file is checked against schemas/lock.schema.json, then for what a schema cannot say
    (merge conflict markers, `now` being a moment `--now` accepts, each body matching its
    sha256): a hand-edited or half-merged lock is a LockFileError naming the file, the line
    and the field, never a traceback or a silently wrong plan.
    """
    from exportspec.schemas import LOCK_SCHEMA, schema_problems
    from exportspec.spec.load import InputReadError, LoadError, read_bounded
    from exportspec.spec.load_json import load_json_bytes

    if raw is None:
        try:
            raw = read_bounded(path)
        except InputReadError as exc:
            raise ConfigError(f"{path}: cannot read the lock file: {exc.reason}") from None
    if (conflict := _conflict_marker(raw, path)) is not None:
        raise LockFileError(path, [conflict])
    try:
        document = load_json_bytes(raw, path)
    except LoadError as exc:
        raise LockFileError(path, [exc.diagnostic]) from None
    problems = [_in_lock_terms(d) for d in schema_problems(LOCK_SCHEMA, document)]
    if not problems:
        problems = _beyond_the_schema(document)
    if problems:
        raise LockFileError(path, problems)
    data = document.data
    entries = {
        name: LockEntry(
            name,
            entry["path"],
            entry["spec_sha256"],
            entry["body_sha256"],
            entry["body"],
            entry["variables"],
            entry.get("output_path"),
            tuple(entry["now_paths"]) if "now_paths" in entry else None,
            tuple(entry["split"]["segments"]) if "split" in entry else None,
            tuple(
                LockedPart(part["segment"], part["body"], part["body_sha256"])
                for part in entry.get("parts", ())
            ),
        )
        for name, entry in data["specs"].items()
    }
    digest = hashlib.sha256(raw).hexdigest()
    return Lock(path, True, data["now"], data["environment"], entries, data["lock_version"], digest)


def _conflict_marker(raw: bytes, path: Path) -> Diagnostic | None:
    """A merge left unresolved: said as such, not as the JSON error it also is."""
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.startswith(b"<<<<<<< "):
            return Diagnostic(
                str(path),
                "git merge conflict markers: resolve the conflict first",
                Position(number, 1),
                rule="merge-conflict",
            )
    return None


def _in_lock_terms(diagnostic: Diagnostic) -> Diagnostic:
    """The spec-name rule for the keys of `specs` (the generic message states another), and
    which lock format this exportspec reads."""
    path = diagnostic.json_path
    if diagnostic.rule == "bad-key" and len(path) == 2 and path[0] == "specs":
        message = f"spec name {path[1]!r} is not allowed: {_SPEC_NAME_RULE}"
        return replace(diagnostic, message=message)
    if path == ("lock_version",) and diagnostic.rule in ("schema-const", "schema-enum"):
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        message = f"{diagnostic.message}: this exportspec reads lock formats {readable} only"
        return replace(diagnostic, message=message)
    return diagnostic


def _beyond_the_schema(document: LoadedDocument) -> list[Diagnostic]:
    """What the schema cannot say: `now` is a moment, each body is the one its sha256 names."""
    from exportspec.spec.compile import canonical_json
    from exportspec.spec.variables import parse_now

    shown = str(document.path)
    source_map = document.source_map
    problems: list[Diagnostic] = []
    now = document.data["now"]
    if now is not None:
        try:
            parse_now(now)  # what `--now` accepts, or `lock` could not reuse it
        except UsageError:
            problems.append(
                Diagnostic(
                    shown,
                    f"{_shown(now)} is not an ISO 8601 date-time that --now takes, like "
                    '"2026-01-31T00:00:00Z"',
                    source_map.value_position(("now",)),
                    ("now",),
                    rule="lock-now",
                )
            )
    version = document.data["lock_version"]
    for name, entry in document.data["specs"].items():
        problems += _version_fields(document, name, entry, version)
        bodies: list[tuple[JsonPath, JsonValue, JsonValue]] = [
            (("specs", name), entry["body"], entry["body_sha256"])
        ]
        bodies += [
            (("specs", name, "parts", i), part["body"], part["body_sha256"])
            for i, part in enumerate(entry.get("parts", ()))
        ]
        for at, body, sha256 in bodies:
            if hashlib.sha256(canonical_json(body)).hexdigest() != sha256:
                where = (*at, "body_sha256")
                problems.append(
                    Diagnostic(
                        shown,
                        "body_sha256 is not the sha256 of the body: the lock was edited",
                        source_map.value_position(where),
                        where,
                        rule="lock-digest",
                    )
                )
        problems += _split_problems(document, name, entry)
    return problems


def _split_problems(
    document: LoadedDocument, name: str, entry: Mapping[str, Any]
) -> list[Diagnostic]:
    """A split entry lists one part per segment, in the split's order (the schema makes
    `split` and `parts` come together)."""
    if "split" not in entry:
        return []
    if [part["segment"] for part in entry["parts"]] == entry["split"]["segments"]:
        return []
    where: JsonPath = ("specs", name, "parts")
    return [
        Diagnostic(
            str(document.path),
            "split and parts disagree: an entry lists one part per segment of its split, in "
            "order; the lock was edited",
            document.source_map.value_position(where),
            where,
            rule="lock-split",
        )
    ]


_NEW_FIELDS = ("output_path", "now_paths")


def _version_fields(
    document: LoadedDocument, name: str, entry: Mapping[str, JsonValue], version: int
) -> list[Diagnostic]:
    """Format 2 entries record where data lands and what reads `now`; format 1 entries
    cannot (a hand-made mix would be trusted for what it never checked)."""
    shown = str(document.path)
    source_map = document.source_map
    problems: list[Diagnostic] = []
    for key in _NEW_FIELDS:
        where = ("specs", name, key)
        if version >= 2 and key not in entry:
            problems.append(
                Diagnostic(
                    shown,
                    f"missing required key {key!r} in {name!r} (lock_version {version})",
                    source_map.value_position(("specs", name)),
                    ("specs", name),
                    rule="schema-required",
                )
            )
        elif version < 2 and key in entry:
            problems.append(
                Diagnostic(
                    shown,
                    f"{key!r} is a lock_version 2 field, but this lock says lock_version {version}",
                    source_map.key_position(where),
                    where,
                    rule="lock-version-field",
                )
            )
    return problems


def _shown(value: JsonValue) -> str:
    """A short JSON spelling of a bad value."""
    return abridged(json.dumps(value, ensure_ascii=False), 40)


# --------------------------------------------------------------------------- writing


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
    from exportspec.gitops.locked import now_dependence

    path = lock_path(project)
    entries: dict[str, LockEntry] = dict(kept or {})
    old_format = sorted(name for name, entry in entries.items() if entry.needs_relock)
    if old_format and not {r.compiled.name for r in results if r.compiled} >= set(old_format):
        raise UsageError(
            f"{path} is lock format 1, without output paths and `now` paths: lock every spec "
            "(no PATH) once to write format 2"
        )
    for result in results:
        compiled = result.compiled
        assert compiled is not None, "lock only valid specs"
        body: JsonObject = json.loads(compiled.body)
        entries[compiled.name] = LockEntry(
            compiled.name,
            relative_path(compiled.spec_path, path.parent),
            compiled.spec_sha256,
            compiled.sha256,
            body,
            dict(compiled.variables),
            compiled.output_path,
            now_dependence(result).paths,
            compiled.segments or None,
            tuple(
                LockedPart(part.segment, json.loads(part.body), part.sha256)
                for part in compiled.parts
            ),
        )
    document: dict[str, JsonValue] = {
        "lock_version": LOCK_VERSION,
        "tool_version": __version__,
        "schema_sha256": schema_sha256(),
        "environment": environment,
        "now": now,
        "specs": {name: entries[name].as_json() for name in sorted(entries)},
    }
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Lock(path, True, now, environment, entries, LOCK_VERSION, digest), text


def write_lock(path: Path, text: str) -> None:
    """Replace the lock atomically, so a crash never leaves half a lock."""
    from exportspec.run.output import write_file

    write_file(path, text.encode("utf-8"))
