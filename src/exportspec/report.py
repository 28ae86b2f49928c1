"""Reporters: diagnostics as text, JSON or GitHub annotations, written to an injected stream."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, TextIO

from exportspec.models import Diagnostic

if TYPE_CHECKING:
    from exportspec.pipeline import SpecResult

#: Version of the `--output-format json` document; bump on incompatible changes.
JSON_REPORT_VERSION = 1


class Reporter(Protocol):
    def __call__(self, results: Sequence[SpecResult], stream: TextIO) -> None: ...


def format_diagnostic(d: Diagnostic) -> str:
    """`PATH:LINE:COLUMN: error: MESSAGE (at $.json.path)`."""
    where = d.file if d.position is None else f"{d.file}:{d.position.line}:{d.position.column}"
    suffix = f" (at {d.json_path_text})" if d.json_path else ""
    return f"{where}: {d.severity}: {d.message}{suffix}"


def _counts(results: Sequence[SpecResult]) -> tuple[int, int, int]:
    errors = sum(d.severity == "error" for r in results for d in r.diagnostics)
    warnings = sum(d.severity == "warning" for r in results for d in r.diagnostics)
    invalid = sum(not r.ok for r in results)
    return errors, warnings, invalid


def text_report(results: Sequence[SpecResult], stream: TextIO) -> None:
    for result in results:
        for d in result.diagnostics:
            stream.write(format_diagnostic(d) + "\n")
    errors, warnings, invalid = _counts(results)
    total = len(results)
    if invalid:
        summary = f"{errors} error(s) in {invalid} of {total} spec(s)"
    else:
        summary = f"{total} spec(s) valid"
    if warnings:
        summary += f", {warnings} warning(s)"
    stream.write(summary + "\n")


def json_report(results: Sequence[SpecResult], stream: TextIO) -> None:
    errors, warnings, invalid = _counts(results)
    document = {
        "version": JSON_REPORT_VERSION,
        "ok": invalid == 0,
        "summary": {
            "specs": len(results),
            "invalid": invalid,
            "errors": errors,
            "warnings": warnings,
        },
        "specs": [
            {
                "path": str(r.path),
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


def _escape_github(text: str, *, property_: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_report(results: Sequence[SpecResult], stream: TextIO) -> None:
    """GitHub Actions workflow commands: annotations shown inline on the pull request."""
    for result in results:
        for d in result.diagnostics:
            props = [f"file={_escape_github(d.file, property_=True)}"]
            if d.position:
                props += [f"line={d.position.line}", f"col={d.position.column}"]
            message = d.message + (f" (at {d.json_path_text})" if d.json_path else "")
            stream.write(f"::{d.severity} {','.join(props)}::{_escape_github(message)}\n")
    text_summary = _counts(results)
    stream.write(
        f"{len(results)} spec(s) checked, {text_summary[2]} invalid, "
        f"{text_summary[0]} error(s), {text_summary[1]} warning(s)\n"
    )


REPORTER_BY_NAME: dict[str, Reporter] = {
    "text": text_report,
    "json": json_report,
    "github": github_report,
}
