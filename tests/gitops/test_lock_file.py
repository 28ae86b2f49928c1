"""A broken exportspec.lock is one clear configuration error (exit 3), never a traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli
from tests.gitops.conftest import DATA

Lock = dict[str, Any]


def _set(key: str, value: Any) -> Callable[[Lock], None]:
    def edit(lock: Lock) -> None:
        lock[key] = value

    return edit


def _set_entry(key: str, value: Any) -> Callable[[Lock], None]:
    def edit(lock: Lock) -> None:
        lock["specs"]["segment"][key] = value

    return edit


def _drop_entry_key(key: str) -> Callable[[Lock], None]:
    def edit(lock: Lock) -> None:
        del lock["specs"]["segment"][key]

    return edit


def _deep_body(lock: Lock) -> None:
    nested: Any = 1
    for _ in range(500):
        nested = [nested]
    lock["specs"]["segment"]["body"]["filter"]["segment_index"] = nested


def _rename_entry(lock: Lock) -> None:
    lock["specs"]["Not A Name"] = lock["specs"].pop("segment")


EDITS: dict[str, tuple[Callable[[Lock], None], str]] = {
    "now-int": (_set("now", 1777593600), "$.now must be an ISO 8601 date-time"),
    "now-garbage": (_set("now", "yesterday"), "$.now must be an ISO 8601 date-time"),
    "now-past-9999-in-utc": (
        _set("now", "9999-12-31T23:59:59-01:00"),
        "$.now must be an ISO 8601 date-time",
    ),
    "version-bool": (_set("lock_version", True), "$.lock_version must be 1, not true"),
    "version-2": (_set("lock_version", 2), "$.lock_version must be 1, not 2"),
    "version-missing": (lambda lock: lock.pop("lock_version"), "$.lock_version must be 1"),
    "environment-int": (_set("environment", 7), "$.environment must be an environment name"),
    "tool-version-list": (_set("tool_version", []), "$.tool_version must be a string"),
    "specs-list": (_set("specs", []), "$.specs must be a JSON object, not an array"),
    "specs-missing": (lambda lock: lock.pop("specs"), "$.specs is missing"),
    "entry-number": (
        lambda lock: lock["specs"].update(segment=3),
        "$.specs.segment must be a JSON object, not a number",
    ),
    "entry-name": (_rename_entry, "$.specs['Not A Name'] is not a spec name"),
    "variables-list": (
        _set_entry("variables", ["segment"]),
        "$.specs.segment.variables must be a JSON object, not an array",
    ),
    "variables-missing": (_drop_entry_key("variables"), "$.specs.segment.variables is missing"),
    "body-missing": (_drop_entry_key("body"), "$.specs.segment.body is missing"),
    "body-string": (_set_entry("body", "{}"), "$.specs.segment.body must be a JSON object"),
    "body-too-deep": (_deep_body, "$.specs.segment.body is nested deeper than 64 levels"),
    "path-number": (_set_entry("path", 5), "$.specs.segment.path must be a file path"),
    "digest-number": (
        _set_entry("body_sha256", 5),
        "$.specs.segment.body_sha256 must be a sha256 digest (64 hex digits), not 5",
    ),
    "digest-short": (
        _set_entry("spec_sha256", "abc"),
        '$.specs.segment.spec_sha256 must be a sha256 digest (64 hex digits), not "abc"',
    ),
}

#: Raw files in tests/gitops/data/locks, and the start of the message each gives.
FILES = {
    "nan.lock": "not valid JSON (NaN is not a JSON value)",
    "duplicate-key.lock": "not valid JSON (duplicate key 'specs')",
    "merge-conflict.lock": "it holds git merge conflict markers",
    "truncated.lock": "not valid JSON (Expecting",
    "latin-1.lock": "exportspec.lock:1:66: not valid UTF-8 (byte 0xe9)",
}

COMMANDS = [["plan"], ["validate", "--locked"], ["lock"]]


def _assert_lock_error(result: Any, expected: str) -> None:
    assert result.exit_code == 3, result.explain()
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: exportspec.lock"), line
    assert expected in line, line
    assert "run `exportspec lock`" in line


def _locked(tree: Path, run_cli: RunCli) -> Lock:
    result = run_cli(["lock", "--now", "2026-05-01T08:00:00Z"])
    assert result.exit_code == 0, result.explain()
    lock: Lock = json.loads((tree / "exportspec.lock").read_text())
    return lock


@pytest.mark.parametrize("case", sorted(EDITS))
def test_an_ill_formed_field_names_the_lock_and_the_field(
    case: str, tree: Path, run_cli: RunCli
) -> None:
    edit, expected = EDITS[case]
    lock = _locked(tree, run_cli)
    edit(lock)
    (tree / "exportspec.lock").write_text(json.dumps(lock, indent=2))
    for command in COMMANDS:
        _assert_lock_error(run_cli(command), expected)


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_lock_that_is_not_json_names_the_lock(name: str, tree: Path, run_cli: RunCli) -> None:
    shutil.copyfile(DATA / "locks" / name, tree / "exportspec.lock")
    _assert_lock_error(run_cli(["plan"]), FILES[name])


def test_a_json_syntax_error_is_located(tree: Path, run_cli: RunCli) -> None:
    shutil.copyfile(DATA / "locks" / "truncated.lock", tree / "exportspec.lock")
    result = run_cli(["validate", "--locked"])
    assert "Error: exportspec.lock:4:1: not valid JSON" in result.stderr


def test_nesting_too_deep_for_the_json_parser(tree: Path, run_cli: RunCli) -> None:
    (tree / "exportspec.lock").write_text("[" * 100_000)
    _assert_lock_error(run_cli(["plan"]), "nesting is deeper than 64 levels")


def test_a_lock_written_by_lock_reads_back(tree: Path, run_cli: RunCli) -> None:
    _locked(tree, run_cli)
    result = run_cli(["plan", "--detailed-exitcode"])
    assert result.exit_code == 0, result.explain()
