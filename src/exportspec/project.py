"""The optional project file `exportspec.toml`: spec roots, environments, the lock file's place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exportspec.errors import ConfigError
from exportspec.models import Diagnostic, LoadedDocument

PROJECT_FILE = "exportspec.toml"
DEFAULT_LOCKFILE = "exportspec.lock"


class ProjectFileError(ConfigError):
    """`exportspec.toml` is unreadable or invalid; holds located diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__(f"{self.diagnostics[0].file} is invalid")


@dataclass(frozen=True, slots=True)
class Environment:
    """One `[environments.NAME]` table."""

    name: str
    base_url: str | None = None
    project_token: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Project:
    """A project: its root folder and settings (all defaults when there is no file)."""

    root: Path
    file: Path | None = None
    document: LoadedDocument | None = None
    environments: Mapping[str, Environment] = field(default_factory=dict)
    default_environment: str | None = None
    spec_roots: tuple[Path, ...] = (Path("specs"),)
    lockfile: Path = Path(DEFAULT_LOCKFILE)

    def environment(self, name: str | None) -> Environment | None:
        """The selected environment (`--env`, else the default); unknown names are errors."""
        chosen = name or self.default_environment
        if chosen is None:
            return None
        if chosen not in self.environments:
            known = ", ".join(sorted(self.environments)) or "none defined"
            where = f" in {self.file}" if self.file else " (no exportspec.toml found)"
            raise ConfigError(f"unknown environment {chosen!r}{where}; known: {known}")
        return self.environments[chosen]


def find_project_file(start: Path) -> Path | None:
    """Walk up from `start` (a file or folder) to the filesystem root looking for the file."""
    folder = start.resolve()
    if not folder.is_dir():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        path = candidate / PROJECT_FILE
        if path.is_file():
            return path
    return None


def load_project(start: Path) -> Project:
    """The project governing `start`; without a file, a default project in the working
    folder (so `lock specs/` and `plan` agree on where exportspec.lock is)."""
    path = find_project_file(start)
    if path is None:
        return Project(root=Path.cwd())
    from exportspec.loader import LoadError, load_document
    from exportspec.schemas import PROJECT_SCHEMA, validator
    from exportspec.validation import schema_diagnostics

    try:
        document = load_document(path)
    except LoadError as exc:
        raise ProjectFileError([exc.diagnostic]) from None
    problems = schema_diagnostics(validator(PROJECT_SCHEMA), document, document.data)
    if problems:
        raise ProjectFileError(problems)
    data = document.data
    settings = data.get("project", {})
    environments = {
        name: Environment(name, env.get("base_url"), env.get("project_token"), env.get("vars", {}))
        for name, env in data.get("environments", {}).items()
    }
    project = Project(
        root=path.parent,
        file=path,
        document=document,
        environments=environments,
        default_environment=settings.get("default_environment"),
        spec_roots=tuple(Path(p) for p in settings.get("spec_roots", ["specs"])),
        lockfile=Path(settings.get("lockfile", DEFAULT_LOCKFILE)),
    )
    if project.default_environment is not None:
        project.environment(None)  # an unknown default is an error now, not at first use
    return project
