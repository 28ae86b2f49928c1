"""Stage 3, validate: the spec and body schemas plus the rules JSON Schema cannot express.

Every problem becomes a `Diagnostic` at the position the user wrote; nothing is raised
and nothing is printed here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator

from exportspec.schemas import spec_validator
from exportspec.spec.models import (
    TEMPLATED_SECTIONS,
    Diagnostic,
    JsonPath,
    LoadedDocument,
    Position,
    TemplateOrigin,
    is_template,
)
from exportspec.spec.rules import origin_of, semantic_checks, suggest
from exportspec.spec.split import schema_view, split_checks

_REQUIRED = re.compile(r"^'(?P<key>.+)' is a required property$")


def validate_document(
    document: LoadedDocument,
    data: Mapping[str, Any],
    *,
    origins: Mapping[JsonPath, TemplateOrigin] | None = None,
    rendered: bool = True,
) -> list[Diagnostic]:
    """Check a (rendered) spec document; when not rendered, skip what templates would decide."""
    skip = set() if rendered else _template_paths(document.data)
    checked = schema_view(data)  # a split spec: its first part, with the segment_index it needs
    diagnostics = [
        diagnostic
        for diagnostic in schema_diagnostics(spec_validator(), document, checked, origins=origins)
        if not any(diagnostic.json_path[: len(p)] == p for p in skip)
    ]
    diagnostics += semantic_checks(document, data, origins or {}, skip)
    diagnostics += split_checks(document, data)
    return sort_diagnostics(diagnostics)


#: Said in place of a value that must not be echoed.
CONCEALED = "the value (not shown: it may be a secret)"
#: Whether the value at a path must not be echoed (it may be a secret).
Conceal = Callable[[JsonPath, Any], bool]


def schema_diagnostics(
    checker: Validator,
    document: LoadedDocument,
    data: Any,
    *,
    origins: Mapping[JsonPath, TemplateOrigin] | None = None,
    conceal: Conceal | None = None,
) -> list[Diagnostic]:
    """Every schema error of `data` as a located diagnostic in `document`; values for which
    `conceal(path, value)` is true are never part of a message."""
    return [
        diagnostic
        for error in checker.iter_errors(data)
        for diagnostic in _diagnostics_for(
            _most_relevant(error), document, origins or {}, conceal or _show_all
        )
    ]


def _show_all(path: JsonPath, value: Any) -> bool:
    return False


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    def key(d: Diagnostic) -> tuple[str, int, int, str]:
        pos = d.position or Position(0, 0)
        return (d.file, pos.line, pos.column, d.message)

    return sorted(diagnostics, key=key)


def _template_paths(data: Any, path: JsonPath = ()) -> set[JsonPath]:
    """Paths under `export`/`output` whose value is a template string."""
    found: set[JsonPath] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if path or key in TEMPLATED_SECTIONS:
                found |= _template_paths(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found |= _template_paths(value, (*path, i))
    elif is_template(data):
        found.add(path)
    return found


def _most_relevant(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures show the best-matching branch's error, not every branch."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        best: ValidationError = best_match(error.context)
        return best
    return error


def _diagnostics_for(
    error: ValidationError,
    document: LoadedDocument,
    origins: Mapping[JsonPath, TemplateOrigin],
    conceal: Conceal,
) -> Iterator[Diagnostic]:
    path: JsonPath = tuple(error.absolute_path)
    source_map = document.source_map
    shown = str(document.path)
    schema = error.schema if isinstance(error.schema, dict) else {}

    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        bad = error.instance
        child = (*path, bad)
        if error.validator == "not":
            reason = f"{bad!r} is a reserved name"
        else:
            reason = "use letters, digits and '_', not starting with a digit"
        what = "variable name" if path == ("vars",) else "key"
        yield Diagnostic(
            shown,
            f"{what} {bad!r} is not allowed: {reason}",
            source_map.key_position(child),
            child,
            rule="bad-key",
        )
        return

    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        for key in error.instance:
            if key in allowed:
                continue
            child = (*path, key)
            yield Diagnostic(
                shown,
                f"unknown key {key!r}{suggest(key, allowed, 'keys')}",
                source_map.key_position(child),
                child,
                rule="unknown-key",
            )
        return

    if error.validator == "unevaluatedProperties" or (
        error.validator == "not" and error.validator_value == {}
    ):
        key = path[-1] if path else ""
        reason = schema.get("description", "not allowed here")
        yield Diagnostic(
            shown,
            f"key {key!r} is not allowed here: {reason}",
            source_map.key_position(path),
            path,
            rule="not-allowed",
        )
        return

    if error.validator == "required":
        match = _REQUIRED.match(error.message)
        missing = match["key"] if match else str(error.validator_value)
        if not path:
            where = "at the top level"
        elif isinstance(path[-1], int):
            where = f"in item {path[-1]} of {path[-2]!r}" if len(path) > 1 else "in this item"
        else:
            where = f"in {path[-1]!r}"
        yield Diagnostic(
            shown,
            f"missing required key {missing!r} {where}",
            source_map.key_position(path) if path else Position(1, 1),
            path,
            rule="required",
        )
        return

    message = _message(error, schema, concealed=conceal(path, error.instance))
    origin = origin_of(path, origins)
    if origin is not None:
        message += f" ({origin.describe()})"
    yield Diagnostic(
        shown,
        message,
        source_map.value_position(path),
        path,
        rule=f"schema-{error.validator}",
    )


def _message(error: ValidationError, schema: Mapping[str, Any], *, concealed: bool) -> str:
    instance = error.instance
    if concealed:  # built here, not cut out of jsonschema's message, which quotes the value
        if error.validator == "type":
            return f"{CONCEALED} is not of type {error.validator_value!r}"
        if error.validator == "pattern" and "description" in schema:
            return f"{CONCEALED} is not valid: {schema['description']}"
        return f"{CONCEALED} is not valid here (schema rule {error.validator!r})"
    if error.validator == "enum":
        options = [str(v) for v in error.validator_value]  # type: ignore[union-attr]
        hint = suggest(instance, options, "") if isinstance(instance, str) else ""
        hint = hint if hint.startswith(" (") else ""
        return f"{_show(instance)} is not one of {', '.join(map(repr, options))}{hint}"
    if error.validator == "const":
        message = f"expected {error.validator_value!r}, got {_show(instance)}"
        if isinstance(instance, str) and _looks_numeric(instance):
            message += "; a quoted number is a string: remove the quotes"
        return message
    if error.validator == "type":
        message = f"{_show(instance)} is not of type {error.validator_value!r}"
        if isinstance(instance, str) and _looks_numeric(instance):
            message += "; a quoted number is a string: remove the quotes"
        elif (
            isinstance(instance, str)
            and error.validator_value == "integer"
            and error.absolute_path
            and error.absolute_path[-1] == "execution_time"
            and _looks_like_date(instance)
        ):
            message += (
                "; execution_time is Unix seconds: write a number, or convert with "
                f'"{{{{ {instance!r} | timestamp }}}}"'
            )
        return message
    if error.validator == "pattern" and "description" in schema:
        return f"{instance!r} is not valid: {schema['description']}"
    return str(error.message)


def _show(value: Any) -> str:
    """A value as the user wrote it: JSON spelling for true, false and null."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return repr(value)


def _looks_like_date(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
