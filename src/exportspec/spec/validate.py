"""Stage 3, validate: the spec and body schemas plus the rules JSON Schema cannot express.

Every problem becomes a `Diagnostic` at the position the user wrote; nothing is raised
and nothing is printed here.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import zoneinfo
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from functools import cache
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
    diagnostics = [
        diagnostic
        for diagnostic in schema_diagnostics(spec_validator(), document, data, origins=origins)
        if not any(diagnostic.json_path[: len(p)] == p for p in skip)
    ]
    diagnostics += _semantic_checks(document, data, origins or {}, skip)
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
                f"unknown key {key!r}{_suggest(key, allowed, 'keys')}",
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
    origin = _origin(path, origins)
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
        hint = _suggest(instance, options, "") if isinstance(instance, str) else ""
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


def _suggest(word: str, options: Iterable[str], kind: str) -> str:
    options = list(options)
    by_lower = {option.lower(): option for option in options}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {by_lower[close[0]]!r}?)"
    return f"; allowed {kind}: {', '.join(options)}" if options else ""


def _origin(path: JsonPath, origins: Mapping[JsonPath, TemplateOrigin]) -> TemplateOrigin | None:
    for depth in range(len(path), 0, -1):
        origin = origins.get(path[:depth])
        if origin is not None:
            return origin
    return None


# --------------------------------------------------------------------------- semantic rules


def _semantic_checks(
    document: LoadedDocument,
    data: Mapping[str, Any],
    origins: Mapping[JsonPath, TemplateOrigin],
    skip: set[JsonPath],
) -> list[Diagnostic]:
    body = data.get("export")
    if not isinstance(body, dict):
        return []
    shown = str(document.path)
    source_map = document.source_map
    found: list[Diagnostic] = []

    def report(path: JsonPath, message: str, rule: str, severity: str = "error") -> None:
        if path in skip:
            return
        origin = _origin(path, origins)
        if origin is not None:
            message += f" ({origin.describe()})"
        found.append(
            Diagnostic(
                shown,
                message,
                source_map.value_position(path),
                path,
                "warning" if severity == "warning" else "error",
                rule,
            )
        )

    timezone = body.get("timezone")
    if isinstance(timezone, str) and timezone and not _is_zone(timezone):
        close = difflib.get_close_matches(timezone, _zones(), n=1, cutoff=0.6)
        hint = (
            f"did you mean {close[0]!r}?" if close else "use an IANA name like 'Europe/Bratislava'"
        )
        report(("export", "timezone"), f"unknown time zone {timezone!r}: {hint}", "timezone")

    if body.get("format") == "native_json":
        report(
            ("export", "format"),
            "'native_json' is not documented by Bloomreach (the official Python SDK uses it); "
            "prefer 'csv' or 'table_json'",
            "undocumented-format",
            "warning",
        )
    output = data.get("output")
    mismatch = _extension_mismatch(body, output) if isinstance(output, dict) else None
    if mismatch is not None:
        report(("output", "path"), mismatch, "output-extension", "warning")
    written = output.get("path") if isinstance(output, dict) else None
    if isinstance(written, str) and (problem := output_path_problem(written)) is not None:
        report(("output", "path"), problem, "output-path")

    # JSON Schema counts 2.0 as an integer; the API wants it written without a fraction.
    # (1.5 already fails the schema's `type: integer`.)
    for key in ("execution_time",):
        value = body.get(key)
        if isinstance(value, float) and value.is_integer():
            report(("export", key), f"{value!r} must be an integer: write {int(value)}", "integer")
    flt = body.get("filter")
    index = flt.get("segment_index") if isinstance(flt, dict) else None
    if isinstance(index, float) and index.is_integer():
        report(
            ("export", "filter", "segment_index"),
            f"{index!r} must be an integer: write {int(index)}",
            "integer",
        )
    for path, message, rule in body_value_problems(body):
        report(("export", *path), message, rule)

    attributes = body.get("attributes")
    columns = attributes.get("list") if isinstance(attributes, dict) else None
    if isinstance(columns, list):
        seen: dict[tuple[str, Hashable], int] = {}
        for index, item in enumerate(columns):
            if not isinstance(item, dict):
                continue
            # The whole item names the column: two consent modes of one category differ.
            column = (str(item.get("type")), _column_key(item))
            if column in seen:
                name = str(item.get("property", item.get("id", item.get("category"))))
                name += f" ({item['mode']})" if "mode" in item else ""
                report(
                    ("export", "attributes", "list", index),
                    f"duplicate column {column[0]} {name!r}: already listed as item {seen[column]}",
                    "duplicate-column",
                )
            else:
                seen[column] = index
    return found


def _column_key(value: Any) -> Hashable:
    """A comparable form of an attribute item (no text conversion: ints may be huge)."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _column_key(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("[]", tuple(_column_key(v) for v in value))
    return (type(value).__name__, value if isinstance(value, Hashable) else id(value))


#: 9999-12-31T23:59:59Z: the last second of the year 9999, where the sandbox caps it too.
MAX_EXECUTION_TIME = 253_402_300_799
#: 10^12 Unix seconds is the year 33658: a value this large is milliseconds, mostly.
MILLISECONDS_FROM = 10**12


def body_value_problems(body: Mapping[str, Any]) -> list[tuple[JsonPath, str, str]]:
    """(path in the body, message, rule) for values the body schema allows but the API
    does not: an `execution_time` past the year 9999, worded for the usual mistake
    (milliseconds). Shared with the sandbox, so both refuse the same bodies, alike."""
    value = body.get("execution_time")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= MAX_EXECUTION_TIME:
        return []
    # Beyond Python's 4300-digit limit for int-to-text, str() itself would fail.
    shown = str(value) if value.bit_length() < 9000 else "this number"
    if value < MILLISECONDS_FROM:
        message = (
            f"{shown} is after the end of the year 9999: execution_time is Unix seconds, "
            f"at most {MAX_EXECUTION_TIME} (9999-12-31T23:59:59Z)"
        )
    else:
        digits = len(shown) if shown != "this number" else 0
        unit = (
            "13 digits, as JavaScript's Date.now() gives"
            if digits == 13
            else f"{digits or 'thousands of'} digits; JavaScript's Date.now() gives 13"
        )
        seconds = value // 1000
        fix = (
            f"write {seconds}"
            if seconds <= MAX_EXECUTION_TIME
            else f"at most {MAX_EXECUTION_TIME} (9999-12-31T23:59:59Z)"
        )
        message = f"{shown} looks like milliseconds ({unit}): execution_time is Unix seconds, {fix}"
    return [(("execution_time",), message, "execution-time")]


#: `C:\\` or `C:/`: absolute on Windows, and never meant as a folder named `C:`.
_DRIVE = re.compile(r"[A-Za-z]:[/\\]")


def output_path_problem(path: str) -> str | None:
    """Why a rendered `output.path` cannot name a file under the output root, or None.

    Lexical only (the run checks the folders it resolves to): no NUL byte, not absolute, no
    `..` segment, and a file name at the end. `\\` counts as a separator too.
    """
    elsewhere = "(to write elsewhere, give `run -o PATH`)"
    if not path:
        return None  # the schema's minLength says so
    if "\0" in path:
        return f"output.path {path!r} holds a NUL byte, which no file name can"
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        return (
            f"output.path {path!r} is absolute: it is relative to the output root and stays "
            f"inside it {elsewhere}"
        )
    parts = re.split(r"[/\\]", path)
    if ".." in parts:
        return (
            f"output.path {path!r} has a '..' segment: it must stay inside the output root "
            f"{elsewhere}"
        )
    if parts[-1] in ("", "."):
        return f"output.path {path!r} does not end in a file name"
    return None


#: The file extension each body format's export is written as.
_EXTENSION_OF = {"csv": ".csv", "table_json": ".json", "native_json": ".json"}


def _extension_mismatch(body: Mapping[str, Any], output: Mapping[str, Any]) -> str | None:
    """A rendered `output.path` whose extension says CSV for a JSON export or the reverse."""
    fmt, path = body.get("format"), output.get("path")
    if not isinstance(fmt, str) or fmt not in _EXTENSION_OF or not isinstance(path, str):
        return None
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, written = name.rpartition(".")
    wanted = _EXTENSION_OF[fmt]
    if not (stem and dot) or f".{written.lower()}" not in _EXTENSION_OF.values():
        return None  # no extension, or one that says nothing about the format (.txt)
    if f".{written.lower()}" == wanted:
        return None
    holds = "CSV" if wanted == ".csv" else "JSON"
    return (
        f"output.path {path!r} ends in '.{written}', but export.format is {fmt!r}: "
        f"the file will hold {holds}; name it {wanted!r}"
    )


@cache
def _is_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))
