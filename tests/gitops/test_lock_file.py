"""A broken exportspec.lock is one located configuration error (exit 3), never a traceback.

Each file in tests/gitops/data/locks is a bad lock; expected.json holds the start of the
diagnostic each gives after the file name (LINE:COLUMN: error: MESSAGE (at $.field)).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli
from tests.gitops.conftest import DATA

LOCKS = DATA / "locks"
EXPECTED: dict[str, str] = json.loads((LOCKS / "expected.json").read_text(encoding="utf-8"))
FIX = "fix it, or delete it and run `exportspec lock` to write it again"
COMMANDS = [["plan"], ["validate", "--locked"], ["lock"]]


def _assert_lock_error(result: Any, expected: str) -> None:
    assert result.exit_code == 3, result.explain()
    assert "Traceback" not in result.stderr
    *diagnostics, error = result.stderr.splitlines()
    assert error == f"Error: exportspec.lock is invalid; {FIX}"
    assert len(diagnostics) == 1, result.stderr
    assert diagnostics[0].startswith(f"exportspec.lock:{expected}"), diagnostics[0]


def test_every_bad_lock_file_has_an_expectation() -> None:
    assert sorted(p.stem for p in LOCKS.glob("*.lock")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_bad_lock_names_the_file_line_and_field(name: str, tree: Path, run_cli: RunCli) -> None:
    shutil.copyfile(LOCKS / f"{name}.lock", tree / "exportspec.lock")
    for command in COMMANDS:
        _assert_lock_error(run_cli(command), EXPECTED[name])


def test_nesting_too_deep_for_the_json_parser(tree: Path, run_cli: RunCli) -> None:
    (tree / "exportspec.lock").write_text("[" * 100_000)
    _assert_lock_error(run_cli(["plan"]), " error: nesting is deeper than 64 levels")


def test_a_long_value_is_not_echoed(tree: Path, run_cli: RunCli) -> None:
    lock = json.loads((DATA / "valid.lock").read_text(encoding="utf-8"))
    lock["tool_version"] = ["x" * 50]
    (tree / "exportspec.lock").write_text(json.dumps(lock, indent=2))
    result = run_cli(["plan"])
    _assert_lock_error(result, "")
    assert "x" * 50 not in result.stderr
    assert "is not of type 'string' (at $.tool_version)" in result.stderr


def test_a_lock_written_by_lock_reads_back(tree: Path, run_cli: RunCli) -> None:
    assert run_cli(["lock", "--now", "2026-05-01T08:00:00Z"]).exit_code == 0
    result = run_cli(["plan", "--detailed-exitcode"])
    assert result.exit_code == 0, result.explain()
