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
    from exportspec.gitops.models import Change, NowChange, Plan, PlanEntry


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


def _now_change_line(change: NowChange) -> str:
    """`now $.execution_time: + reads now`: a body path that started or stopped depending
    on `now`."""
    sign = "+ reads now" if change.kind == "added" else "- no longer reads now"
    return printable(f"now {change.path}: {sign}")


RELOCK = (
    "the lock entry is lock format 1: it records no output path and no body paths that depend "
    "on now; run `exportspec lock` and commit the lock"
)


def now_warning(path: str) -> str:
    """The time bomb: a template reading `now` that yields a whole object or array."""
    return (
        f"{path} comes from a template that reads now and yields an object or array: what is "
        "sent there can change with the date, unseen in this plan (run --locked refuses it "
        "when it does); keep `now` in scalar values such as execution_time"
    )


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
    relock = sum(e.needs_relock for e in plan.entries)
    if relock:  # a format 1 lock: it cannot say where data lands or what reads now
        parts.append(f"{relock} to relock")
    return "Plan: " + ", ".join(parts) + "."


def plan_text(plan: Plan, stream: TextIO) -> None:
    colour = use_colour(stream)
    for entry in plan.entries:
        if entry.status == "unchanged" and not entry.needs_relock:
            continue
        sign = _SIGN[entry.status] if entry.status != "unchanged" else "!"
        stream.write(f"{paint(sign, sign, colour)} {_plan_title(entry)}\n")
        for line in _detail_lines(entry):
            stream.write(guard_line(f"    {line}") + "\n")
    _now_text(plan, stream, colour)
    if not plan.differs:
        stream.write("No changes: every compiled body matches the lock.\n")
    stream.write(plan_summary(plan) + "\n")


def _detail_lines(entry: PlanEntry) -> list[str]:
    """The diff under a spec's title: body, output path, `now` paths, variables, relock."""
    lines = [_change_line(c) for c in (*entry.body_changes, *entry.output_changes)]
    lines += [_now_change_line(c) for c in entry.now_changes]
    lines += [_variable_line(c) for c in entry.variable_changes]
    if entry.needs_relock:
        lines.append(RELOCK)
    return lines


def _now_text(plan: Plan, stream: TextIO, colour: bool) -> None:
    """Per spec, the body paths that depend on `now` (they may differ at run time), and a
    warning for each that yields an object or array."""
    dependent = [e for e in plan.entries if e.now_paths]
    if not dependent:
        return
    stream.write("Depends on now (may differ when run):\n")
    for entry in dependent:
        paths = ", ".join(entry.now_paths)
        stream.write(guard_line(printable(f"    {entry.name} ({entry.path}): {paths}")) + "\n")
    for entry in dependent:
        for path in entry.now_structures:
            warning = printable(f"{entry.name} ({entry.path}): {now_warning(path)}")
            stream.write(f"{paint('warning:', '!', colour)} {warning}\n")


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
                "output_path": e.output_path,
                "output_changes": [_change_json(c) for c in e.output_changes],
                "now_paths": list(e.now_paths),
                "now_changes": [{"path": c.path, "kind": c.kind} for c in e.now_changes],
                "now_warnings": [{"path": p, "message": now_warning(p)} for p in e.now_structures],
                "needs_relock": e.needs_relock,
            }
            for e in plan.entries
        ],
    }
    stream.write(json_dumps(document) + "\n")


def _plan_detail(entry: PlanEntry) -> str:
    return "\n".join(_detail_lines(entry))


def plan_github(plan: Plan, stream: TextIO) -> None:
    for entry in plan.entries:
        file = escape_github(printable(_plan_file(plan, entry)), property_=True)
        for path in entry.now_structures:
            message = f"exportspec plan: {printable(entry.name)}: {printable(now_warning(path))}"
            stream.write(f"::warning file={file},line=1,col=1::{escape_github(message)}\n")
        if entry.status == "unchanged" and not entry.needs_relock:
            continue
        detail = _plan_detail(entry)
        message = f"exportspec plan: {_plan_title(entry)}" + (f"\n{detail}" if detail else "")
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
        if e.status != "unchanged" or e.needs_relock
    ]
    diagnostics += [
        Diagnostic(
            e.path,
            f"{printable(e.name)}: {now_warning(p)}",
            None,
            severity="warning",
            rule="plan-now-structure",
        )
        for e in plan.entries
        for p in e.now_structures
    ]
    stream.write(json_dumps(sarif_document(diagnostics)) + "\n")


PLAN_REPORTER_BY_NAME: dict[str, PlanReporter] = {
    "text": plan_text,
    "json": plan_json,
    "github": plan_github,
    "junit": plan_junit,
    "sarif": plan_sarif,
}
