"""Validation reports: what `exportspec validate` prints, in every --output-format."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, TextIO

from exportspec.spec.models import Diagnostic

if TYPE_CHECKING:
    from exportspec.spec.models import SpecResult

#: Version of the `--output-format json` document; bump on incompatible changes.
JSON_REPORT_VERSION = 1


class Reporter(Protocol):
    def __call__(self, results: Sequence[SpecResult], stream: TextIO) -> None: ...


_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "+": "\x1b[32m", "-": "\x1b[31m"}
_COLOURS |= {"~": "\x1b[33m", ">": "\x1b[36m"}
_RESET = "\x1b[0m"


def use_colour(stream: TextIO) -> bool:
    """Colour only on terminals, never with NO_COLOR set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, key: str, colour: bool) -> str:
    return f"{_COLOURS[key]}{text}{_RESET}" if colour else text


def format_diagnostic(d: Diagnostic, *, colour: bool = False) -> str:
    """`PATH:LINE:COLUMN: error: MESSAGE (at $.json.path)`."""
    where = d.file if d.position is None else f"{d.file}:{d.position.line}:{d.position.column}"
    suffix = f" (at {d.json_path_text})" if d.json_path else ""
    return f"{where}: {paint(d.severity, d.severity, colour)}: {d.message}{suffix}"


def _counts(results: Sequence[SpecResult]) -> tuple[int, int, int]:
    """Errors and warnings in every file; invalid specs (the lock or a vars file is no spec)."""
    errors = sum(d.severity == "error" for r in results for d in r.diagnostics)
    warnings = sum(d.severity == "warning" for r in results for d in r.diagnostics)
    invalid = sum(not r.ok for r in results if r.kind == "spec")
    return errors, warnings, invalid


def text_report(results: Sequence[SpecResult], stream: TextIO) -> None:
    colour = use_colour(stream)
    for result in results:
        for d in result.diagnostics:
            stream.write(format_diagnostic(d, colour=colour) + "\n")
    errors, warnings, invalid = _counts(results)
    total = sum(r.kind == "spec" for r in results)
    others = [str(r.path) for r in results if r.kind != "spec" and not r.ok]
    if invalid or others:
        where = [f"{invalid} of {total} spec(s)"] if invalid or not others else []
        summary = f"{errors} error(s) in " + " and ".join([*where, *others])
    else:
        summary = f"{total} spec(s) valid"
    if warnings:
        summary += f", {warnings} warning(s)"
    stream.write(summary + "\n")


def json_report(results: Sequence[SpecResult], stream: TextIO) -> None:
    errors, warnings, invalid = _counts(results)
    document = {
        "version": JSON_REPORT_VERSION,
        "ok": all(r.ok for r in results),
        "summary": {
            "specs": sum(r.kind == "spec" for r in results),
            "invalid": invalid,
            "errors": errors,
            "warnings": warnings,
        },
        "specs": [
            {
                "path": str(r.path),
                "kind": r.kind,
                "name": r.compiled.name if r.compiled else _name(r),
                "ok": r.ok,
                "body_sha256": r.compiled.sha256 if r.compiled else None,
                "diagnostics": [diagnostic_json(d) for d in r.diagnostics],
            }
            for r in results
        ],
    }
    json.dump(document, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def diagnostic_json(d: Diagnostic) -> dict[str, object]:
    return {
        "file": d.file,
        "line": d.position.line if d.position else None,
        "column": d.position.column if d.position else None,
        "severity": d.severity,
        "rule": d.rule,
        "message": d.message,
        "json_path": d.json_path_text,
    }


def _name(result: SpecResult) -> str | None:
    if result.document is None:
        return None
    name = result.document.data.get("name")
    return name if isinstance(name, str) else None


def escape_github(text: str, *, property_: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_report(results: Sequence[SpecResult], stream: TextIO) -> None:
    """GitHub Actions workflow commands: annotations shown inline on the pull request."""
    for result in results:
        for d in result.diagnostics:
            props = [f"file={escape_github(d.file, property_=True)}"]
            if d.position:
                props += [f"line={d.position.line}", f"col={d.position.column}"]
            message = d.message + (f" (at {d.json_path_text})" if d.json_path else "")
            stream.write(f"::{d.severity} {','.join(props)}::{escape_github(message)}\n")
    errors, warnings, invalid = _counts(results)
    checked = sum(r.kind == "spec" for r in results)
    stream.write(
        f"{checked} spec(s) checked, {invalid} invalid, {errors} error(s), {warnings} warning(s)\n"
    )


def junit_report(results: Sequence[SpecResult], stream: TextIO) -> None:
    """JUnit XML: one test case per spec, failing with its errors."""
    from xml.etree import ElementTree as ET

    # One case per file, the lock or a vars file included: each can fail the build.
    invalid = sum(not r.ok for r in results)
    suite = ET.Element(
        "testsuite",
        name="exportspec validate",
        tests=str(len(results)),
        failures=str(invalid),
        errors="0",
        skipped="0",
    )
    for result in results:
        case = ET.SubElement(
            suite, "testcase", classname="exportspec.validate", name=str(result.path)
        )
        case.set("file", str(result.path))
        failures = [d for d in result.diagnostics if d.severity == "error"]
        if failures:
            failure = ET.SubElement(
                case, "failure", message=failures[0].message, type=failures[0].rule
            )
            failure.text = "\n".join(format_diagnostic(d) for d in failures)
        warnings = [d for d in result.diagnostics if d.severity == "warning"]
        if warnings:
            ET.SubElement(case, "system-out").text = "\n".join(
                format_diagnostic(d) for d in warnings
            )
    root = ET.Element("testsuites", name="exportspec", tests=str(len(results)))
    root.set("failures", str(invalid))
    root.append(suite)
    ET.indent(root)
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(ET.tostring(root, encoding="unicode") + "\n")


def sarif_document(diagnostics: Sequence[Diagnostic]) -> dict[str, object]:
    """A SARIF 2.1.0 log: code scanning shows each diagnostic inline at its region."""
    from exportspec import __version__

    rules = sorted({d.rule for d in diagnostics})
    results = []
    for d in diagnostics:
        location: dict[str, object] = {"artifactLocation": {"uri": _uri(d.file)}}
        if d.position is not None:
            location["region"] = {"startLine": d.position.line, "startColumn": d.position.column}
        text = d.message + (f" (at {d.json_path_text})" if d.json_path else "")
        results.append(
            {
                "ruleId": d.rule,
                "ruleIndex": rules.index(d.rule),
                "level": "error" if d.severity == "error" else "warning",
                "message": {"text": text},
                "locations": [{"physicalLocation": location}],
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "exportspec",
                        "version": __version__,
                        "informationUri": "https://github.com/exportspec/exportspec",
                        "rules": [
                            {"id": rule, "shortDescription": {"text": rule.replace("-", " ")}}
                            for rule in rules
                        ],
                    }
                },
                "results": results,
            }
        ],
    }


def _uri(file: str) -> str:
    from pathlib import Path

    path = Path(file)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def sarif_report(results: Sequence[SpecResult], stream: TextIO) -> None:
    diagnostics = [d for r in results for d in r.diagnostics]
    json.dump(sarif_document(diagnostics), stream, indent=2, ensure_ascii=False)
    stream.write("\n")


REPORTER_BY_NAME: dict[str, Reporter] = {
    "text": text_report,
    "json": json_report,
    "github": github_report,
    "junit": junit_report,
    "sarif": sarif_report,
}
