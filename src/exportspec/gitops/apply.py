"""`exportspec apply`: which specs a merge changed, and only if what runs is what was reviewed.

The specs to run are those whose lock entry was added, changed or renamed between a base
lock (a file, or `exportspec.lock` at a git revision) and the current lock; a spec that
only moved does not run. Before any of that, the current lock must be fresh for every
spec under the PATHs, as `validate --locked` checks: a spec merged without relocking is an
error, never silently skipped. Each selected spec then runs as `run --locked` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from exportspec.errors import ConfigError, SpecInvalidError
from exportspec.gitops import git
from exportspec.gitops.inputs import project_spec_files, spec_paths
from exportspec.gitops.lock import LockFileError, load_lock, read_lock
from exportspec.gitops.locked import LockedRunRefused
from exportspec.gitops.models import Lock, LockEntry, Status
from exportspec.gitops.project import Project
from exportspec.spec.variables import RenderInputs

#: Lock entry changes that run: the body, the output path or the spec's name is new.
RUNS: frozenset[Status] = frozenset({"added", "changed", "renamed"})


@dataclass(frozen=True, slots=True)
class Selected:
    """One spec of the current lock, and what happened to it since the base."""

    name: str
    status: Status
    spec: Path


@dataclass(frozen=True, slots=True)
class ApplyPlan:
    """What `apply` runs (`run`), and what it leaves alone (`rest`), against which base."""

    base: str
    lock: Lock
    run: tuple[Selected, ...]
    rest: tuple[Selected, ...]


def base_lock(since: str, project: Project) -> tuple[Lock, str]:
    """The lock to compare with, and how to name it: the lock file `since` when one exists,
    else the project's lock at git revision `since` (none there: an empty lock)."""
    as_file = Path(since)
    if as_file.is_file():
        return load_lock(as_file), str(as_file)
    if as_file.is_dir():
        raise ConfigError(f"--since {since}: a folder; give a lock file or a git revision")
    current = project.root / project.lockfile
    root = git.repository_root(project.root)
    if root is None:
        raise ConfigError(
            f"--since {since}: no file by that name, and {project.root} is not in a git "
            "repository: give a lock file or a revision of the repository holding the specs"
        )
    commit = git.resolve_commit(root, since)
    if commit is None:
        hint = (
            f"; this checkout is shallow: fetch the base first (`git fetch origin {since}`, "
            "or fetch-depth: 0 in actions/checkout)"
            if git.is_shallow(root)
            else "; fetch it first (`git fetch origin`) or name a branch, tag or commit"
        )
        raise ConfigError(f"--since {since}: no such revision in {root}{hint}")
    try:
        inside = current.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise ConfigError(
            f"--since {since}: the lock {current} lies outside the repository {root} (a "
            "symlink?), so git has no earlier version of it: give a lock file as BASE"
        ) from None
    shown = f"{since} ({commit[:12]})"
    raw = git.file_at(root, commit, inside)
    if raw is None:  # the lock did not exist yet: every spec is added
        return Lock(Path(f"{since}:{inside}"), exists=False), shown
    try:
        return load_lock(Path(f"{since}:{inside}"), raw), shown
    except LockFileError as exc:
        raise LockFileError.about(
            exc, f"the lock at --since {since} is invalid: compare with another revision"
        ) from None


def compare_locks(base: Lock, current: Lock) -> list[tuple[LockEntry, Status]]:
    """Each entry of `current` with its status against `base`, as `plan` names them."""
    gone = {name: e for name, e in base.entries.items() if name not in current.entries}
    compared: list[tuple[LockEntry, Status]] = []
    for name, entry in sorted(current.entries.items()):
        old = base.entries.get(name)
        status: Status
        if old is None:
            old = next((e for e in gone.values() if e.path == entry.path), None) or next(
                (e for e in gone.values() if e.body_sha256 == entry.body_sha256), None
            )
            if old is not None:
                del gone[old.name]
            status = "added" if old is None else "renamed"
        elif _sent(old, entry) != _sent(entry, old):
            status = "changed"
        else:
            status = "moved" if old.path != entry.path else "unchanged"
        compared.append((entry, status))
    return compared


def _sent(entry: LockEntry, other: LockEntry) -> tuple[object, ...]:
    """What a lock entry says is sent and where it lands: a change to any of it runs. Beside
    a format 1 entry (`other`, which records no output path and no `now` paths), only the
    bodies compare: upgrading the lock alone must not export every spec again."""
    parts = tuple(part.body_sha256 for part in entry.parts)
    if other.needs_relock or entry.needs_relock:
        return (entry.body_sha256, entry.segments, parts)
    return (entry.body_sha256, entry.output_path, entry.now_paths, entry.segments, parts)


def plan_apply(
    paths: Sequence[Path],
    *,
    since: str,
    project: Project,
    inputs_at: Callable[[str | None], RenderInputs],
) -> ApplyPlan:
    """The specs under `paths` (default: the project's) whose lock entry changed since
    `since`. Raises SpecInvalidError (exit 1) when the lock is missing or stale for any
    of them; ConfigError (exit 3) for a base that cannot be read."""
    from exportspec.gitops.scope import split_lock
    from exportspec.gitops.stale import stale_lock_results
    from exportspec.spec.pipeline import check_specs

    lock = read_lock(project)
    if not lock.exists:
        raise LockedRunRefused(
            f"apply: no lock file at {lock.path}: run `exportspec lock`, review the plan and "
            "commit the lock"
        )
    results = check_specs(spec_paths(paths, project), inputs_at(lock.now_text))
    scope = split_lock(lock, paths, results, lambda: project_spec_files(project))
    checked = stale_lock_results(results, scope.inside, project)
    problems = [d for r in checked for d in r.diagnostics if d.severity == "error"]
    if problems:
        raise SpecInvalidError(problems)
    base, shown = base_lock(since, project)
    folder = scope.inside.path.parent
    run: list[Selected] = []
    rest: list[Selected] = []
    for entry, status in compare_locks(base, scope.inside):
        selected = Selected(entry.name, status, folder / entry.path)
        (run if status in RUNS else rest).append(selected)
    return ApplyPlan(shown, scope.inside, tuple(run), tuple(rest))
