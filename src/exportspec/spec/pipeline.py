"""Orchestration: load → render → validate → compile for one spec or a whole tree."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exportspec.errors import SpecInvalidError
from exportspec.spec.compile import compile_body
from exportspec.spec.load import LoadError, iter_spec_files, load_document
from exportspec.spec.models import Diagnostic, JsonPath, LoadedDocument, RenderedSpec, SpecResult
from exportspec.spec.render import describe_failure, render_spec
from exportspec.spec.validate import sort_diagnostics, validate_document
from exportspec.spec.variables import RenderInputs, check_undeclared, declared_names

#: What checking a huge or deeply nested value can raise: Python's limits (memory,
#: recursion, its 4,300-digit integer-to-text limit), met in messages and canonical JSON.
_LIMITS = (MemoryError, RecursionError, OverflowError, ValueError)


def check_document(document: LoadedDocument, inputs: RenderInputs) -> SpecResult:
    """Render, validate and compile one loaded document, collecting every problem."""
    rendered, problems = render_spec(document, inputs)
    compiled = None
    try:
        if rendered is None:
            problems += validate_document(document, document.data, rendered=False)
        else:
            problems += validate_document(document, rendered.data, origins=rendered.origins)
            if not any(d.severity == "error" for d in problems):
                compiled = compile_body(rendered)
    except _LIMITS as exc:
        exc.__traceback__ = None  # frees the failed frames, which may hold all the memory
        problems.append(_unchecked(document, rendered, exc))
        compiled = None
    return SpecResult(document.path, compiled, tuple(sort_diagnostics(problems)), document)


def _unchecked(
    document: LoadedDocument, rendered: RenderedSpec | None, exc: BaseException
) -> Diagnostic:
    """A located error for a value too large or deep to check: only a template makes one
    (a loaded file is bounded), so the largest templated value, else `export`, is blamed."""
    path: JsonPath = ("export",)
    if rendered is not None and rendered.origins:
        path = max(rendered.origins, key=lambda p: _size(_at(rendered.data, p)))
    return Diagnostic(
        str(document.path),
        f"this value could not be checked: {describe_failure(exc)}",
        document.source_map.value_position(path),
        path,
        rule="too-large",
    )


def _at(data: Any, path: JsonPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _size(value: Any) -> int:
    """Characters and items in `value`: what makes one value costlier to check than another."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return 1 + sum(len(k) + _size(v) for k, v in value.items())
    if isinstance(value, list):
        return 1 + sum(_size(v) for v in value)
    return 1


def check_specs(paths: Sequence[Path], inputs: RenderInputs) -> list[SpecResult]:
    """Check every spec under `paths` in one process; also flag duplicate names across them."""
    documents: list[LoadedDocument] = []
    results: list[SpecResult] = []
    for path in iter_spec_files(paths):
        try:
            documents.append(load_document(path))
        except LoadError as exc:
            results.append(SpecResult(path, None, (exc.diagnostic,)))
    check_undeclared(inputs, declared_names(documents))
    results += [check_document(document, inputs) for document in documents]
    results = _flag_duplicate_names(results)
    return sorted(results, key=lambda r: str(r.path))


def compile_spec(path: Path, inputs: RenderInputs) -> SpecResult:
    """Compile one spec; raise SpecInvalidError carrying the diagnostics when it is invalid."""
    try:
        document = load_document(path)
    except LoadError as exc:
        raise SpecInvalidError([exc.diagnostic]) from None
    check_undeclared(inputs, declared_names([document]))
    result = check_document(document, inputs)
    if not result.ok:
        raise SpecInvalidError(result.diagnostics)
    return result


def _flag_duplicate_names(results: list[SpecResult]) -> list[SpecResult]:
    first_by_name: dict[str, SpecResult] = {}
    flagged: list[SpecResult] = []
    for result in sorted(results, key=lambda r: str(r.path)):
        document = result.document
        name = document.data.get("name") if document is not None else None
        if document is None or not isinstance(name, str):
            flagged.append(result)
            continue
        first = first_by_name.setdefault(name, result)
        if first is result:
            flagged.append(result)
            continue
        duplicate = Diagnostic(
            str(result.path),
            f"spec name {name!r} is already used by {first.path}; names must be unique",
            document.source_map.value_position(("name",)),
            ("name",),
            rule="duplicate-name",
        )
        flagged.append(
            SpecResult(
                result.path,
                None,
                tuple(sort_diagnostics([*result.diagnostics, duplicate])),
                document,
            )
        )
    return flagged
