"""A split spec in lock, plan and run --locked: the parts are locked and diffed like bodies."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli

DATA = Path(__file__).parent / "data" / "split"


@pytest.fixture
def split_spec(tree: Path) -> Path:
    target = tree / "specs" / "tiers.yaml"
    shutil.copy(DATA / "tiers.yaml", target)
    return target


def _plan(run_cli: RunCli) -> tuple[int, dict[str, Any], str]:
    result = run_cli(["plan", "--detailed-exitcode", "--output-format", "json"])
    text = run_cli(["plan"])
    assert result.exit_code in (0, 6), result.explain()
    return result.exit_code, json.loads(result.stdout), text.stdout


def test_lock_records_split_and_every_part(split_spec: Path, run_cli: RunCli) -> None:
    assert run_cli(["lock"]).exit_code == 0
    entry = json.loads(Path("exportspec.lock").read_text())["specs"]["tiers"]
    assert entry["split"] == {"segments": [0, 1, 2, -1]}
    assert [part["segment"] for part in entry["parts"]] == [0, 1, 2, -1]
    assert "segment_index" not in entry["body"]["filter"]
    compiled = json.loads(run_cli(["compile", str(split_spec)]).stdout_bytes)
    for part, body in zip(entry["parts"], compiled, strict=True):
        assert part["body"] == body
        assert body["filter"]["segment_index"] == part["segment"]
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert part["body_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert _plan(run_cli)[0] == 0


def test_plan_shows_narrowed_segments(split_spec: Path, run_cli: RunCli) -> None:
    assert run_cli(["lock"]).exit_code == 0
    split_spec.write_text(split_spec.read_text().replace("[0, 1, 2, -1]", "[0, 1, 2]"))
    code, plan, text = _plan(run_cli)
    assert code == 6
    (entry,) = [s for s in plan["specs"] if s["name"] == "tiers"]
    assert entry["status"] == "changed"
    assert entry["body_changes"] == [
        {"path": "$.split.segments[3]", "kind": "removed", "old": -1, "new": None}
    ]
    assert "$.split.segments[3]: - -1" in text


def test_run_locked_refuses_a_split_changed_since_the_lock(
    split_spec: Path, run_cli: RunCli
) -> None:
    assert run_cli(["lock"]).exit_code == 0
    split_spec.write_text(split_spec.read_text().replace("[0, 1, 2, -1]", "[0, 2, -1]"))
    result = run_cli(["run", str(split_spec), "--locked", "--dry-run"])
    assert result.exit_code == 1, result.explain()
    assert "$.split.segments" in result.stderr
    assert "part for segment 2" in result.stderr


def test_an_edited_part_is_a_lock_error(split_spec: Path, run_cli: RunCli) -> None:
    assert run_cli(["lock"]).exit_code == 0
    lock = Path("exportspec.lock")
    document = json.loads(lock.read_text())
    document["specs"]["tiers"]["parts"][1]["body"]["filter"]["segment_index"] = 7
    lock.write_text(json.dumps(document, indent=2, sort_keys=True))
    result = run_cli(["plan"])
    assert result.exit_code == 3, result.explain()
    assert "$.specs.tiers.parts[1].body_sha256" in result.stderr


def test_validate_warns_when_minus_one_is_missing(split_spec: Path, run_cli: RunCli) -> None:
    split_spec.write_text(split_spec.read_text().replace("[0, 1, 2, -1]", "[0, 1, 2]"))
    result = run_cli(["validate", str(split_spec), "--output-format", "json"])
    assert result.exit_code == 0, result.explain()
    (diagnostic,) = json.loads(result.stdout)["specs"][0]["diagnostics"]
    assert diagnostic["severity"] == "warning"
    assert (diagnostic["line"], diagnostic["column"]) == (14, 13)
    assert "segment -1" in diagnostic["message"]
