"""Plan reports: what `exportspec plan` prints, in every --output-format."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Protocol, TextIO, get_args

from exportspec.gitops.report import (
    JSON_REPORT_VERSION,
    escape_github,
    paint,
    sarif_document,
    use_colour,
    write_junit,
)
from exportspec.spec.models import Diagnostic
from exportspec.terminal import guard_line, json_dumps, printable

if TYPE_CHECKING:
    from exportspec.gitops.models import Change, Plan, PlanEntry


class PlanReporter(Protocol):
    def __call__(self, plan: Plan, stream: TextIO) -> None: ...


_SIGN = {
    "added": "+",
    "removed": "-",
    "renamed": ">",
    "changed": "~",
    "moved": "*",
    "unchanged": "=",
}


def _value(value: object) -> str:
    return "(absent)" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _change_line(change: Change) -> str:
    """`$.path: old -> new`, escaped: paths and values come from specs and the lock."""
    if change.kind == "added":
        return printable(f"{change.path_text}: + {_value(change.new)}")
    if change.kind == "removed":
        return printable(f"{change.path_text}: - {_value(change.old)}")
    return printable(f"{change.path_text}: {_value(change.old)} -> {_value(change.new)}")


def _variable_line(change: Change) -> str:
    """`var segment: 0 -> 3`: variable changes are named, not JSON paths."""
    return "var " + _change_line(change).removeprefix("$.").removeprefix("$")


def _plan_title(entry: PlanEntry) -> str:
    """`name (path): status`, escaped: names and paths come from specs and the lock."""
    return printable(_title(entry))


def _title(entry: PlanEntry) -> str:
    if entry.status == "renamed":
        return f"{entry.old_name} -> {entry.name} ({entry.path}): renamed"
    if entry.status == "changed" and entry.old_path and entry.old_path != entry.path:
        return f"{entry.name} ({entry.path}): changed, moved from {entry.old_path}"
    if entry.status == "moved":
        return f"{entry.name} ({entry.path}): moved from {entry.old_path}, same body"
    return f"{entry.name} ({entry.path}): {entry.status}"


def _plan_file(plan: Plan, entry: PlanEntry) -> str:
    """The file a report places an entry at: a removed spec's file is gone, the lock is not."""
    return plan.lock_path if entry.status == "removed" else entry.path


def plan_summary(plan: Plan) -> str:
    parts = [
        f"{plan.count('added')} to add",
        f"{plan.count('changed')} to change",
        f"{plan.count('removed')} to remove",
        f"{plan.count('renamed')} renamed",
        f"{plan.count('moved')} moved",
        f"{plan.count('unchanged')} unchanged",
    ]
    return "Plan: " + ", ".join(parts) + "."


def plan_text(plan: Plan, stream: TextIO) -> None:
    colour = use_colour(stream)
    for entry in plan.entries:
        if entry.status == "unchanged":
            continue
        sign = _SIGN[entry.status]
        stream.write(f"{paint(sign, sign, colour)} {_plan_title(entry)}\n")
        for change in entry.body_changes:
            stream.write(guard_line(f"    {_change_line(change)}") + "\n")
        for change in entry.variable_changes:
            stream.write(guard_line(f"    {_variable_line(change)}") + "\n")
    if not plan.differs:
        stream.write("No changes: every compiled body matches the lock.\n")
    stream.write(plan_summary(plan) + "\n")


def _change_json(change: Change) -> dict[str, object]:
    return {"path": change.path_text, "kind": change.kind, "old": change.old, "new": change.new}


def plan_json(plan: Plan, stream: TextIO) -> None:
    from exportspec.gitops.models import Status  # loaded already: only `plan` reports plans

    document = {
        "version": JSON_REPORT_VERSION,
        "differs": plan.differs,
        "summary": {status: plan.count(status) for status in get_args(Status)},
        "specs": [
            {
                "name": e.name,
                "path": e.path,
                "status": e.status,
                "old_name": e.old_name,
                "old_path": e.old_path,
                "body_changes": [_change_json(c) for c in e.body_changes],
                "variable_changes": [_change_json(c) for c in e.variable_changes],
            }
            for e in plan.entries
        ],
    }
    stream.write(json_dumps(document) + "\n")


def _plan_detail(entry: PlanEntry) -> str:
    lines = [_change_line(c) for c in entry.body_changes]
    lines += [_variable_line(c) for c in entry.variable_changes]
    return "\n".join(lines)


def plan_github(plan: Plan, stream: TextIO) -> None:
    for entry in plan.entries:
        if entry.status == "unchanged":
            continue
        detail = _plan_detail(entry)
        message = f"exportspec plan: {_plan_title(entry)}" + (f"\n{detail}" if detail else "")
        file = escape_github(printable(_plan_file(plan, entry)), property_=True)
        stream.write(f"::notice file={file},line=1,col=1::{escape_github(message)}\n")
    stream.write(plan_summary(plan) + "\n")


def plan_junit(plan: Plan, stream: TextIO) -> None:
    from xml.etree import ElementTree as ET

    differing = sum(e.differs for e in plan.entries)  # a move sends nothing new
    root = ET.Element("testsuites", name="exportspec", tests=str(len(plan.entries)))
    root.set("failures", str(differing))
    suite = ET.SubElement(
        root,
        "testsuite",
        name="exportspec plan",
        tests=str(len(plan.entries)),
        failures=str(differing),
        errors="0",
        skipped="0",
    )
    for entry in plan.entries:
        case = ET.SubElement(
            suite, "testcase", classname="exportspec.plan", name=printable(entry.name)
        )
        case.set("file", printable(_plan_file(plan, entry)))
        if entry.differs:
            failure = ET.SubElement(case, "failure", message=_plan_title(entry), type=entry.status)
            failure.text = _plan_detail(entry)
        elif entry.status == "moved":
            ET.SubElement(case, "system-out").text = _plan_title(entry)
    write_junit(root, stream)


def plan_sarif(plan: Plan, stream: TextIO) -> None:
    diagnostics = [
        Diagnostic(
            _plan_file(plan, e),
            f"{_plan_title(e)}" + (f": {_plan_detail(e)}" if _plan_detail(e) else ""),
            None,
            severity="warning",
            rule=f"plan-{e.status}",
        )
        for e in plan.entries
        if e.status != "unchanged"
    ]
    stream.write(json_dumps(sarif_document(diagnostics)) + "\n")


PLAN_REPORTER_BY_NAME: dict[str, PlanReporter] = {
    "text": plan_text,
    "json": plan_json,
    "github": plan_github,
    "junit": plan_junit,
    "sarif": plan_sarif,
}
