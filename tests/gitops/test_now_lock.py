"""The lock covers where data lands and what depends on `now` (lock format 2), plan shows
both, flags a template that reads `now` and yields an object (the time bomb), and a format 1
lock is read and reported as needing a relock. Specs and the old lock: tests/gitops/data/now.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from exportspec.gitops.locked import LockedRunRefused, check_now_changes
from exportspec.gitops.models import JsonValue, LockEntry
from exportspec.spec.compile import canonical_json
from exportspec.spec.models import CompiledBody, SpecResult
from tests.conftest import RunCli
from tests.gitops.conftest import DATA

NOW_DATA = DATA / "now"
LOCKED_AT = "2026-05-01T08:00:00Z"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty exportspec.toml and specs/daily.yaml, specs/time-bomb.yaml."""
    root = tmp_path / "repo"
    (root / "specs").mkdir(parents=True)
    (root / "exportspec.toml").write_text("")
    for name in ("daily.yaml", "time-bomb.yaml"):
        shutil.copy(NOW_DATA / name, root / "specs" / name)
    monkeypatch.chdir(root)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return root


def _lock(run_cli: RunCli) -> dict[str, Any]:
    result = run_cli(["lock", "--now", LOCKED_AT])
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(Path("exportspec.lock").read_text())
    return document


def _plan_json(run_cli: RunCli, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(["plan", "--output-format", "json", "--detailed-exitcode", *args])
    return result.exit_code, json.loads(result.stdout)


def _spec(plan: dict[str, Any], name: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(s for s in plan["specs"] if s["name"] == name)
    return entry


def test_the_lock_records_output_paths_and_what_reads_now(project: Path, run_cli: RunCli) -> None:
    lock = _lock(run_cli)
    assert lock["lock_version"] == 2
    daily, bomb = lock["specs"]["daily"], lock["specs"]["time-bomb"]
    assert (daily["output_path"], daily["now_paths"]) == ("exports/daily.csv", ["$.execution_time"])
    assert (bomb["output_path"], bomb["now_paths"]) == ("exports/time-bomb.csv", ["$.filter"])
    # Rendered before the bomb's date, it locks as a segment export.
    assert bomb["body"]["filter"]["type"] == "segment"


def test_plan_lists_what_depends_on_now_and_flags_the_time_bomb(
    project: Path, run_cli: RunCli
) -> None:
    _lock(run_cli)
    code, plan = _plan_json(run_cli)
    assert code == 0  # nothing differs yet: the bomb has not gone off at the lock's now
    daily, bomb = _spec(plan, "daily"), _spec(plan, "time-bomb")
    assert daily["now_paths"] == ["$.execution_time"]
    assert daily["now_warnings"] == []
    assert bomb["now_paths"] == ["$.filter"]
    (warning,) = bomb["now_warnings"]
    assert warning["path"] == "$.filter"
    assert "reads now and yields an object or array" in warning["message"]
    assert (daily["output_path"], daily["needs_relock"]) == ("exports/daily.csv", False)

    text = run_cli(["plan"]).stdout
    assert "daily (specs/daily.yaml): $.execution_time" in text
    assert "time-bomb (specs/time-bomb.yaml): $.filter" in text
    assert "warning: time-bomb (specs/time-bomb.yaml): $.filter comes from a template" in text
    github = run_cli(["plan", "--output-format", "github"]).stdout
    assert "::warning file=specs/time-bomb.yaml,line=1,col=1::" in github


def test_plan_shows_a_moved_output_like_a_body_change(project: Path, run_cli: RunCli) -> None:
    _lock(run_cli)
    shutil.copy(NOW_DATA / "moved-output.yaml", project / "specs" / "daily.yaml")
    code, plan = _plan_json(run_cli)
    assert code == 6
    daily = _spec(plan, "daily")
    assert daily["status"] == "changed"
    assert daily["body_changes"] == []
    assert daily["output_changes"] == [
        {
            "path": "$.output.path",
            "kind": "changed",
            "old": "exports/daily.csv",
            "new": "elsewhere/daily.csv",
        }
    ]
    text = run_cli(["plan"]).stdout
    assert '~ daily (specs/daily.yaml): changed\n    $.output.path: "exports/daily.csv" -> ' in text
    locked = run_cli(["validate", "--locked"])
    assert locked.exit_code == 1
    assert "output path differs from exportspec.lock" in locked.stdout + locked.stderr


def test_plan_shows_a_value_that_starts_reading_now(project: Path, run_cli: RunCli) -> None:
    (project / "specs" / "time-bomb.yaml").unlink()
    daily = project / "specs" / "daily.yaml"
    _lock(run_cli)
    # The same value at the lock's now, but now it comes from `now`.
    daily.write_text(
        daily.read_text().replace(
            "segment_index: 1",
            "segment_index: \"{{ 1 if now < to_datetime('2027-01-01') else 2 }}\"",
        )
    )
    code, plan = _plan_json(run_cli)
    assert code == 6
    entry = _spec(plan, "daily")
    assert entry["status"] == "changed"
    assert entry["body_changes"] == []
    assert entry["now_changes"] == [{"path": "$.filter.segment_index", "kind": "added"}]
    assert "now $.filter.segment_index: + reads now" in run_cli(["plan"]).stdout


def test_a_format_1_lock_is_read_and_needs_a_relock(project: Path, run_cli: RunCli) -> None:
    shutil.copy(NOW_DATA / "format-1.lock", project / "exportspec.lock")
    code, plan = _plan_json(run_cli)
    assert code == 6
    assert plan["differs"] is True
    assert {s["name"]: (s["status"], s["needs_relock"]) for s in plan["specs"]} == {
        "daily": ("unchanged", True),
        "time-bomb": ("unchanged", True),
    }
    text = run_cli(["plan"]).stdout
    assert "! daily (specs/daily.yaml): unchanged\n    the lock entry is lock format 1" in text
    assert text.endswith("2 unchanged, 2 to relock.\n")

    locked = run_cli(["validate", "--locked"])
    assert locked.exit_code == 1
    out = locked.stdout + locked.stderr
    assert (
        "specs/daily.yaml:3:7: error: exportspec.lock is lock format 1: it does not record this "
        "spec's output path or which body paths depend on now; run `exportspec lock`" in out
    )
    # Relocking only some specs would leave a mix of formats: lock them all once.
    partial = run_cli(["lock", "specs/daily.yaml"])
    assert partial.exit_code == 2
    assert "lock every spec (no PATH) once" in partial.stderr
    assert _lock(run_cli)["lock_version"] == 2
    assert run_cli(["validate", "--locked"]).exit_code == 0


def _today(body: dict[str, Any]) -> SpecResult:
    raw = canonical_json(body)
    compiled = CompiledBody(
        spec_path=Path("specs/x.yaml"),
        spec_sha256="0" * 64,
        name="x",
        body=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        variables={},
        now=dt.datetime(2026, 7, 2, tzinfo=dt.UTC),
        output_path=None,
        format="csv",
    )
    return SpecResult(Path("specs/x.yaml"), compiled, ())


@pytest.mark.parametrize(
    ("today", "refusal"),
    [
        ({"format": "csv", "execution_time": 2, "note": "a"}, None),
        ({"format": "csv", "execution_time": 1.5, "note": "a"}, None),  # still a number
        ({"format": "csv", "execution_time": "2", "note": "a"}, "was a number, now a string"),
        ({"format": "csv", "execution_time": True, "note": "a"}, "was a number, now a boolean"),
        ({"format": "csv", "execution_time": 1, "note": "b"}, "not a value whose template reads"),
        ({"format": "csv", "note": "a"}, "yields no scalar here"),
        ({"format": "table_json", "execution_time": 1, "note": "a"}, "not a value whose"),
    ],
)
def test_at_the_real_now_only_scalars_read_from_now_may_differ(
    today: dict[str, Any], refusal: str | None
) -> None:
    locked: dict[str, JsonValue] = {"format": "csv", "execution_time": 1, "note": "a"}
    entry = LockEntry(
        "x", "specs/x.yaml", "0" * 64, "0" * 64, locked, {}, None, ("$.execution_time",)
    )
    if refusal is None:
        check_now_changes(locked, _today(today), entry)
        return
    with pytest.raises(LockedRunRefused) as caught:
        check_now_changes(locked, _today(today), entry)
    assert refusal in caught.value.message
    assert caught.value.exit_code == 1
