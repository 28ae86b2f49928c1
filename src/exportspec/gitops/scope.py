"""A lock narrowed to the PATH arguments of `lock`, `plan` and `validate --locked`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from exportspec.errors import SpecInvalidError
from exportspec.gitops.models import Lock, LockEntry, LockScope
from exportspec.spec.models import Diagnostic, Position, SpecResult


def split_lock(
    lock: Lock,
    roots: Sequence[Path],
    results: Sequence[SpecResult],
    project_spec_files: Callable[[], Iterable[Path]],
) -> LockScope:
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
        return LockScope(lock, {})
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
    return LockScope(replace(lock, entries=inside), outside)


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
