"""Validation reports: what `exportspec validate` prints, in every --output-format."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TextIO

from exportspec.spec.models import Diagnostic
from exportspec.terminal import guard_line, json_dumps, printable

if TYPE_CHECKING:
    from xml.etree import ElementTree as ET

    from exportspec.errors import ExportspecError
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
    """`PATH:LINE:COLUMN: error: MESSAGE (at $.json.path)`, one inert line: the file name,
    the message and the values in it may come from anyone (see `exportspec.terminal`)."""
    where = d.file if d.position is None else f"{d.file}:{d.position.line}:{d.position.column}"
    # The line starts with the file name: guarded, it cannot start with `::`.
    return f"{guard_line(where)}: {paint(d.severity, d.severity, colour)}: {_message(d)}"


def _message(d: Diagnostic) -> str:
    """The message with its JSON path, escaped."""
    return printable(d.message + (f" (at {d.json_path_text})" if d.json_path else ""))


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
    others = [printable(str(r.path)) for r in results if r.kind != "spec" and not r.ok]
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
    stream.write(json_dumps(document) + "\n")


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
    """GitHub's workflow-command escaping: `%`, CR and LF in data; also `:` and `,` in a
    property. Escape untrusted text with `printable` first: this keeps our own line breaks."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_annotation(d: Diagnostic) -> str:
    """`::error file=PATH,line=L,col=C::MESSAGE`, file and message escaped."""
    props = [f"file={escape_github(printable(d.file), property_=True)}"]
    if d.position:
        props += [f"line={d.position.line}", f"col={d.position.column}"]
    return f"::{d.severity} {','.join(props)}::{escape_github(_message(d))}"


def github_report(results: Sequence[SpecResult], stream: TextIO) -> None:
    """GitHub Actions workflow commands: annotations shown inline on the pull request."""
    for result in results:
        for d in result.diagnostics:
            stream.write(github_annotation(d) + "\n")
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
        # Escaped, names and messages included: a control character is no XML character.
        shown = printable(str(result.path))
        case = ET.SubElement(suite, "testcase", classname="exportspec.validate", name=shown)
        case.set("file", shown)
        failures = [d for d in result.diagnostics if d.severity == "error"]
        if failures:
            failure = ET.SubElement(
                case, "failure", message=_message(failures[0]), type=printable(failures[0].rule)
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
    write_junit(root, stream)


def write_junit(root: ET.Element, stream: TextIO) -> None:
    from xml.etree import ElementTree as ET

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
        # Structured: json_dumps escapes what a terminal or a parser could trip over.
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
    path = Path(file)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def sarif_report(results: Sequence[SpecResult], stream: TextIO) -> None:
    diagnostics = [d for r in results for d in r.diagnostics]
    stream.write(json_dumps(sarif_document(diagnostics)) + "\n")


REPORTER_BY_NAME: dict[str, Reporter] = {
    "text": text_report,
    "json": json_report,
    "github": github_report,
    "junit": junit_report,
    "sarif": sarif_report,
}


# --------------------------------------------------------------------------- early failures

Command = Literal["validate", "plan"]


def failure_diagnostics(error: ExportspecError, where: str) -> list[Diagnostic]:
    """An error that stopped a command before it had results, as report results: its located
    diagnostics, then its message (in the file they name, else at `where`)."""
    from exportspec.errors import ExitCode

    found = list(error.diagnostics)
    if error.message or not found:
        rule = {ExitCode.CONFIG: "config-error", ExitCode.USAGE: "usage-error"}
        found.append(
            Diagnostic(
                found[0].file if found else where,
                error.message or str(error) or type(error).__name__,
                rule=rule.get(error.exit_code, "error"),
            )
        )
    return found


def failure_location(paths: Sequence[Path]) -> str:
    """Where a report places an error that names no file: the project's exportspec.toml
    (relative to the working folder when below it), else where one would be."""
    from exportspec.gitops.project import PROJECT_FILE, find_project_file

    found = find_project_file(paths[0] if paths else Path.cwd())
    if found is None:
        return PROJECT_FILE
    try:
        return str(found.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(found)


def failure_report(
    output_format: str, error: ExportspecError, stream: TextIO, *, command: Command, where: str
) -> None:
    """A complete `--output-format` document for a run that failed before any result (a bad
    exportspec.toml, lock or flag): CI reads the error where it reads the results. Text
    output adds nothing to the error on stderr.

    `where` is the file results without one of their own are placed at (GitHub annotations
    and SARIF results need a file): the project file, as a rule.
    """
    diagnostics = failure_diagnostics(error, where)
    files = " and ".join(printable(file) for file in dict.fromkeys(d.file for d in diagnostics))
    summary = f"exportspec {command} stopped: {len(diagnostics)} error(s) in {files}"
    if output_format == "json":
        stream.write(json_dumps(_failure_json(command, error, diagnostics)) + "\n")
    elif output_format == "sarif":
        stream.write(json_dumps(sarif_document(diagnostics)) + "\n")
    elif output_format == "junit":
        _failure_junit(command, diagnostics, stream)
    elif output_format == "github":
        for d in diagnostics:
            stream.write(github_annotation(d) + "\n")
        stream.write(summary + "\n")
    # text: nothing on stdout; the error is on stderr, where a person reads it once.


def _failure_json(
    command: Command, error: ExportspecError, diagnostics: Sequence[Diagnostic]
) -> dict[str, object]:
    """The command's JSON document with no results, and `error`."""
    failure = {
        "exit_code": int(error.exit_code),
        "message": error.message or None,
        "diagnostics": [diagnostic_json(d) for d in diagnostics],
    }
    if command == "plan":
        from typing import get_args

        from exportspec.gitops.models import Status

        summary = dict.fromkeys(get_args(Status), 0)
        return {
            "version": JSON_REPORT_VERSION,
            "differs": None,
            "summary": summary,
            "specs": [],
            "error": failure,
        }
    return {
        "version": JSON_REPORT_VERSION,
        "ok": False,
        "summary": {"specs": 0, "invalid": 0, "errors": len(diagnostics), "warnings": 0},
        "specs": [],
        "error": failure,
    }


def _failure_junit(command: Command, diagnostics: Sequence[Diagnostic], stream: TextIO) -> None:
    """One failing test case per file the error names."""
    from xml.etree import ElementTree as ET

    by_file = {d.file: [e for e in diagnostics if e.file == d.file] for d in diagnostics}
    count = str(len(by_file))
    root = ET.Element("testsuites", name="exportspec", tests=count, failures=count)
    suite = ET.SubElement(
        root,
        "testsuite",
        name=f"exportspec {command}",
        tests=count,
        failures=count,
        errors="0",
        skipped="0",
    )
    for file, found in by_file.items():
        shown = printable(file)
        case = ET.SubElement(suite, "testcase", classname=f"exportspec.{command}", name=shown)
        case.set("file", shown)
        failure = ET.SubElement(
            case, "failure", message=_message(found[0]), type=printable(found[0].rule)
        )
        failure.text = "\n".join(format_diagnostic(d) for d in found)
    write_junit(root, stream)
