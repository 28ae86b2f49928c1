"""The optional project file `exportspec.toml`: spec roots, environments, the lock file's place,
the output root."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from exportspec.errors import ConfigError, UsageError
from exportspec.spec.models import Diagnostic, JsonPath, LoadedDocument

PROJECT_FILE = "exportspec.toml"
DEFAULT_LOCKFILE = "exportspec.lock"
ENV_OUTPUT_ROOT = "EXPORTSPEC_OUTPUT_ROOT"

#: The `propertyNames` pattern of `environments` in schemas/project.schema.json, and its words.
ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
ENVIRONMENT_NAME_RULE = "use letters, digits, '_', '.' and '-', starting with a letter or digit"
#: Keys whose values may be secrets: a schema error shows where, never the value.
_SECRET_KEY = re.compile(r"token|secret|passw|api_?key|key_?id|credential|auth", re.IGNORECASE)


class ProjectFileError(ConfigError):
    """`exportspec.toml` is unreadable or invalid; holds located diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"{diagnostics[0].file} is invalid", diagnostics)


@dataclass(frozen=True, slots=True)
class Environment:
    """One `[environments.NAME]` table."""

    name: str
    base_url: str | None = None
    project_token: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    #: `output_root` as written (relative to the project file's folder, or a URL).
    output_root: str | None = None
    #: fsspec options for an object-store destination (`storage_options`), as written.
    storage_options: Mapping[str, Any] = field(default_factory=dict)


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
    #: `project.output_root` as written (relative to the project file's folder).
    output_root: str | None = None

    def environment(self, name: str | None) -> Environment | None:
        """The selected environment (`--env`, else the default); unknown names are errors."""
        if name is not None and not ENVIRONMENT_NAME.fullmatch(name):
            # `--env ''` must not quietly fall back to the default environment.
            raise UsageError(f"--env {name!r} is not an environment name: {ENVIRONMENT_NAME_RULE}")
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
    from exportspec.schemas import PROJECT_SCHEMA, validator
    from exportspec.spec.load import LoadError, load_document
    from exportspec.spec.validate import schema_diagnostics, sort_diagnostics

    try:
        document = load_document(path, allow_empty=True)  # all defaults
    except LoadError as exc:
        raise ProjectFileError([exc.diagnostic]) from None
    problems = [
        _in_project_terms(d)
        for d in schema_diagnostics(
            validator(PROJECT_SCHEMA), document, document.data, conceal=_may_be_secret
        )
    ]
    problems += _token_problems(document)
    if problems:
        raise ProjectFileError(sort_diagnostics(problems))
    data = document.data
    settings = data.get("project", {})
    environments = {
        name: Environment(
            name,
            env.get("base_url"),
            env.get("project_token"),
            env.get("vars", {}),
            env.get("output_root"),
            env.get("storage_options", {}),
        )
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
        output_root=settings.get("output_root"),
    )
    if project.default_environment is not None:
        project.environment(None)  # an unknown default is an error now, not at first use
    from exportspec.run.destinations import check_storage_options

    for env in environments.values():
        where = f"environments.{env.name}.storage_options in {path}"
        check_storage_options(env.storage_options, where)
    return project


def output_root(
    project: Project,
    environment: str | None,
    flag: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The output root of a run: the folder a spec's `output.path` is relative to and must
    stay inside, as an absolute path (symlinks kept: they are followed when checked).

    Precedence, highest first: `--output-root` (`flag`), `EXPORTSPEC_OUTPUT_ROOT`, the
    selected environment's `output_root`, `[project] output_root`, the working folder. The
    flag and the variable are relative to the working folder, the file's values to the
    file's folder. An object-store URL (`s3://bucket/prefix`, docs/destinations.md) is
    checked (a known scheme, a bucket) and returned without a trailing `/`; `file://` is a
    local folder. Nothing here imports fsspec.
    """
    from exportspec.run.destinations import ObjectUrl, is_url, local_path

    env = os.environ if environ is None else environ
    here = Path.cwd()
    file = project.file or PROJECT_FILE
    candidates = [
        (flag, here, "--output-root"),
        (env.get(ENV_OUTPUT_ROOT) or None, here, ENV_OUTPUT_ROOT),
    ]
    if (selected := project.environment(environment)) is not None:
        where = f"environments.{selected.name}.output_root in {file}"
        candidates.append((selected.output_root, project.root, where))
    candidates.append((project.output_root, project.root, f"project.output_root in {file}"))
    for value, base, source in candidates:
        if value is None:
            continue
        error = UsageError if source == "--output-root" else ConfigError
        if not value or "\0" in value:
            raise error(f"{source} must name a folder")
        if is_url(value):
            return str(ObjectUrl.parse(value, source))
        return os.path.normpath(base / local_path(value))  # `base` is absolute; symlinks are kept
    return str(here)


def _may_be_secret(path: JsonPath, value: Any) -> bool:
    """Values not to echo: under a secret-looking key, with `user:password@host` inside, or
    whole tables and arrays (they may hold either)."""
    if isinstance(value, dict | list):
        return True
    return any(_SECRET_KEY.search(str(part)) for part in path) or "@" in str(value)


def _in_project_terms(diagnostic: Diagnostic) -> Diagnostic:
    """The right rule for environment names (the generic message states the variable-name
    rule), and where credentials go instead of exportspec.toml."""
    path = diagnostic.json_path
    if diagnostic.rule == "bad-key" and len(path) == 2 and path[0] == "environments":
        message = f"environment name {path[1]!r} is not allowed: {ENVIRONMENT_NAME_RULE}"
        return replace(diagnostic, message=message)
    if diagnostic.rule == "unknown-key" and _SECRET_KEY.search(str(path[-1] if path else "")):
        message = diagnostic.message + (
            "; credentials never go in exportspec.toml: set EXPORTSPEC_API_KEY_ID and "
            "EXPORTSPEC_API_SECRET in the environment"
        )
        return replace(diagnostic, message=message)
    return diagnostic


def _token_problems(document: LoadedDocument) -> list[Diagnostic]:
    """Project tokens the API could not take; the value itself is not shown."""
    from exportspec.run.settings import PROJECT_TOKEN_RULE, is_project_token

    environments = document.data.get("environments")
    if not isinstance(environments, dict):
        return []
    problems = []
    for name, env in environments.items():
        token = env.get("project_token") if isinstance(env, dict) else None
        if not isinstance(token, str) or not token.strip():
            continue  # the schema reports those
        if is_project_token(token.strip()):
            continue
        path = ("environments", name, "project_token")
        problems.append(
            Diagnostic(
                str(document.path),
                f"environment {name!r}: project_token is not valid: {PROJECT_TOKEN_RULE}",
                document.source_map.value_position(path),
                path,
                rule="project-token",
            )
        )
    return problems
