"""Orchestration: load → render → validate → compile for one spec or a whole tree."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from exportspec.errors import SpecInvalidError
from exportspec.spec.compile import compile_body
from exportspec.spec.load import LoadError, iter_spec_files, load_document
from exportspec.spec.models import Diagnostic, LoadedDocument, SpecResult
from exportspec.spec.render import render_spec
from exportspec.spec.validate import sort_diagnostics, validate_document
from exportspec.spec.variables import RenderInputs, check_undeclared, declared_names


def check_document(document: LoadedDocument, inputs: RenderInputs) -> SpecResult:
    """Render, validate and compile one loaded document, collecting every problem."""
    rendered, problems = render_spec(document, inputs)
    if rendered is None:
        problems += validate_document(document, document.data, rendered=False)
        return SpecResult(document.path, None, tuple(sort_diagnostics(problems)), document)
    problems += validate_document(document, rendered.data, origins=rendered.origins)
    if any(d.severity == "error" for d in problems):
        return SpecResult(document.path, None, tuple(sort_diagnostics(problems)), document)
    return SpecResult(
        document.path, compile_body(rendered), tuple(sort_diagnostics(problems)), document
    )


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
