"""What a command works on: the project's spec files and the inputs of rendering."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from pathlib import Path

from exportspec.errors import UsageError
from exportspec.gitops.project import Project, load_project
from exportspec.spec.load import iter_spec_files
from exportspec.spec.models import Diagnostic, JsonPath
from exportspec.spec.variables import (
    RenderInputs,
    VariableLayer,
    declared_names,
    load_vars_files,
    parse_now,
    parse_var_assignments,
)


def render_inputs(
    project: Project,
    environment: str | None,
    var_assignments: Sequence[str],
    vars_files: Sequence[Path],
    now: str | None,
) -> RenderInputs:
    """The render options as `RenderInputs`.

    Layers, lowest first: the environment's vars, each vars file, the `--var` flags.
    """
    layers: list[VariableLayer] = []
    selected = project.environment(environment)
    if selected is not None:
        layers.append(
            VariableLayer(
                f"environment {selected.name!r}",
                selected.vars,
                project.document,
                prefix=("environments", selected.name, "vars"),
                strict_names=False,
            )
        )
    layers += load_vars_files(vars_files)
    if var_assignments:
        layers.append(parse_var_assignments(var_assignments))
    return RenderInputs(now=parse_now(now), layers=tuple(layers))


def project_for(paths: Sequence[Path]) -> Project:
    """The project (exportspec.toml) governing the first path, or the working folder."""
    return load_project(paths[0] if paths else Path.cwd())


def _from_working_folder(path: Path) -> Path:
    """`path` relative to the working folder when it lies below it, as diagnostics show it:
    CI annotations (GitHub's `file=`) only attach to repository-relative paths."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _project_roots(project: Project) -> list[Path]:
    """The spec roots of exportspec.toml (relative to it), else `specs/` here."""
    if project.file is None:
        return [Path("specs")]
    return [project.root / root for root in project.spec_roots]


def project_spec_files(project: Project) -> Iterator[Path]:
    """Every spec file of the project: under its spec roots that exist."""
    return iter_spec_files(root for root in _project_roots(project) if root.exists())


def undeclared_environment_vars(project: Project, paths: Sequence[Path] = ()) -> list[Diagnostic]:
    """A warning for each variable an environment of exportspec.toml sets and no spec
    declares (a misspelt name would quietly leave the spec's default in the body).

    Every environment counts, not only the selected one, and every spec under the project's
    spec roots (and under `paths`, which may lie outside them): checking one spec never
    warns about another's variables. Nothing is said while a spec does not load, as it may
    declare them.
    """
    from exportspec.spec.load import LoadError, load_document
    from exportspec.spec.validate import sort_diagnostics

    document = project.document
    settings = [(env.name, env.vars) for env in project.environments.values() if env.vars]
    if document is None or not settings:
        return []
    roots = [root for root in _project_roots(project) if root.exists()]
    try:
        declared = declared_names(load_document(p) for p in iter_spec_files([*roots, *paths]))
    except LoadError:
        return []
    warnings = []
    for environment, values in settings:
        for name in values:
            if name in declared:
                continue
            close = difflib.get_close_matches(name, sorted(declared), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            path: JsonPath = ("environments", environment, "vars", name)
            warnings.append(
                Diagnostic(
                    str(document.path),
                    f"environment {environment!r} sets variable {name!r}, which no spec "
                    f"declares{hint}",
                    document.source_map.key_position(path),
                    path,
                    "warning",
                    rule="undeclared-variable",
                )
            )
    return sort_diagnostics(warnings)


def spec_paths(paths: Sequence[Path], project: Project) -> list[Path]:
    """PATH arguments, else the project's spec roots, else `specs/`; at least one spec file."""
    if paths:  # click has checked that they exist
        return _with_spec_files(list(paths), "")
    if project.file is None:
        if not Path("specs").exists():
            raise UsageError(
                "no PATH given, and the default spec root 'specs' does not exist here "
                "(no exportspec.toml found)"
            )
        return _with_spec_files([Path("specs")], "")
    # Roots are relative to exportspec.toml, which may sit folders above: name it.
    toml = _from_working_folder(project.file)
    settings = project.document.data.get("project", {}) if project.document else {}
    if "spec_roots" in settings:
        source = f"project.spec_roots in {toml}"
    else:
        source = f"the default: project.spec_roots is not set in {toml}"
    for root in project.spec_roots:
        if not (project.root / root).exists():
            raise UsageError(
                f"no PATH given, and spec root {str(root)!r} ({source}) does not exist"
            )
    chosen = [_from_working_folder(root) for root in _project_roots(project)]
    return _with_spec_files(chosen, f" ({source})")


def _with_spec_files(chosen: list[Path], source: str) -> list[Path]:
    """`chosen`, unless no spec file lies under it; `source` says where it came from."""
    if next(iter_spec_files(chosen), None) is None:
        raise UsageError(
            f"no .yaml, .yml or .toml files under {', '.join(map(str, chosen))}{source}"
        )
    return chosen
