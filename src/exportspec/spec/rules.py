"""The rules JSON Schema cannot express: real time zones, unique columns, execution_time
in seconds (shared with the sandbox), output paths that stay where they belong."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Hashable, Iterable, Mapping
from functools import cache
from typing import Any

from exportspec.spec.models import Diagnostic, JsonPath, LoadedDocument, TemplateOrigin


def suggest(word: str, options: Iterable[str], kind: str) -> str:
    """ " (did you mean X?)" for a close option, else the allowed ones."""
    options = list(options)
    by_lower = {option.lower(): option for option in options}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {by_lower[close[0]]!r}?)"
    return f"; allowed {kind}: {', '.join(options)}" if options else ""


def origin_of(path: JsonPath, origins: Mapping[JsonPath, TemplateOrigin]) -> TemplateOrigin | None:
    """The template that produced `path` or the nearest templated value above it."""
    for depth in range(len(path), 0, -1):
        origin = origins.get(path[:depth])
        if origin is not None:
            return origin
    return None


def semantic_checks(
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
        origin = origin_of(path, origins)
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
