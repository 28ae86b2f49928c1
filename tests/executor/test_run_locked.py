"""`run --locked`: what runs is what was reviewed, checked before anything is sent.

Specs and the format 1 lock are data in tests/gitops/data/now; each test locks them at
LOCKED_AT in the working folder (an empty exportspec.toml marks the project) and runs one
against a loopback server.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.executor.conftest import ScriptServer, assert_no_secret, leftovers

NOW_DATA = Path(__file__).parents[1] / "gitops" / "data" / "now"
LOCKED_AT = "2026-05-01T08:00:00Z"
#: After the time bomb's date (2026-06-01) and after the lock's now.
LATER = "2026-07-02T10:30:00Z"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "exportspec.toml").write_text("")
    (tmp_path / "specs").mkdir()
    for name in ("daily.yaml", "time-bomb.yaml", "type-change.yaml"):
        shutil.copy(NOW_DATA / name, tmp_path / "specs" / name)
    return tmp_path


def _lock(run_cli: RunCli) -> None:
    result = run_cli(["lock", "--now", LOCKED_AT])
    assert result.exit_code == 0, result.stderr


def _run(run_cli: RunCli, server: ScriptServer, spec: str, *args: str) -> tuple[int, str]:
    connection = ("--base-url", server.base_url, "--project-token", "tok")
    result = run_cli(["run", "--locked", f"specs/{spec}", *args, *connection])
    assert_no_secret(result.stdout, result.stderr)
    return result.exit_code, result.stderr


def test_the_time_bomb_is_refused_with_a_diff_and_nothing_sent(
    project: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    _lock(run_cli)
    code, err = _run(run_cli, server, "time-bomb.yaml", "--now", LATER)
    assert code == 1
    assert server.count == 0
    assert "spec 'time-bomb' would send a body that differs from the locked one" in err
    assert '$.body.filter.type: "segment" -> "all"' in err
    assert "[inside an object or array whose template reads now]" in err
    assert not (project / "exports").exists()
    assert leftovers(project) == []


def test_before_its_date_the_time_bomb_sends_what_was_locked(
    project: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    _lock(run_cli)
    code, err = _run(run_cli, server, "time-bomb.yaml", "--now", "2026-05-20T00:00:00Z")
    assert code == 0, err
    assert json.loads(server.requests[0].body)["filter"]["type"] == "segment"


def test_a_body_that_reads_now_only_in_execution_time_runs_after_the_locks_now(
    project: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    _lock(run_cli)
    code, err = _run(run_cli, server, "daily.yaml", "--now", LATER)
    assert code == 0, err
    assert server.count == 1
    sent = json.loads(server.requests[0].body)
    assert sent["execution_time"] == int(dt.datetime(2026, 7, 2, tzinfo=dt.UTC).timestamp())
    assert sent["filter"]["segment_index"] == 1
    assert (project / "exports" / "daily.csv").exists()


def test_a_spec_edited_after_locking_is_refused(
    project: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    _lock(run_cli)
    shutil.copy(NOW_DATA / "edited-filter.yaml", project / "specs" / "daily.yaml")
    code, err = _run(run_cli, server, "daily.yaml", "--now", LATER)
    assert code == 1
    assert server.count == 0
    assert "spec 'daily' has changed since exportspec.lock was made" in err
    assert "$.body.filter.segment_index: 1 -> 2  [differs from the lock]" in err


def test_a_moved_output_is_refused(project: Path, run_cli: RunCli, server: ScriptServer) -> None:
    _lock(run_cli)
    shutil.copy(NOW_DATA / "moved-output.yaml", project / "specs" / "daily.yaml")
    code, err = _run(run_cli, server, "daily.yaml")
    assert (code, server.count) == (1, 0)
    assert '$.output.path: "exports/daily.csv" -> "elsewhere/daily.csv"' in err


def test_a_scalar_read_from_now_that_changes_its_type_is_refused(
    project: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    _lock(run_cli)
    code, err = _run(run_cli, server, "type-change.yaml", "--now", LATER)
    assert (code, server.count) == (1, 0)
    # The body schema types every field, so the spec check already refuses it; the lock
    # check's own type rule is tested in tests/gitops/test_now_lock.py.
    assert "7 is not of type 'string'" in err
    assert "(at $.export.timezone)" in err


def test_without_a_fresh_lock_nothing_runs(
    project: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    code, err = _run(run_cli, server, "daily.yaml")
    assert (code, server.count) == (1, 0)
    assert "no lock file at exportspec.lock" in err

    shutil.copy(NOW_DATA / "format-1.lock", project / "exportspec.lock")
    code, err = _run(run_cli, server, "daily.yaml")
    assert (code, server.count) == (1, 0)
    assert "exportspec.lock is lock format 1" in err
    assert "run `exportspec lock`" in err

    (project / "specs" / "time-bomb.yaml").unlink()
    (project / "specs" / "type-change.yaml").unlink()
    _lock(run_cli)
    shutil.copy(NOW_DATA / "time-bomb.yaml", project / "specs" / "time-bomb.yaml")
    code, err = _run(run_cli, server, "time-bomb.yaml")
    assert (code, server.count) == (1, 0)
    assert "spec 'time-bomb' is not in exportspec.lock" in err


def test_a_value_that_started_reading_now_after_locking_is_refused(
    project: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    _lock(run_cli)
    daily = project / "specs" / "daily.yaml"
    # The locked value at the lock's now, but from now on it follows the date.
    bomb = "segment_index: \"{{ 1 if now < to_datetime('2027-01-01') else 2 }}\""
    daily.write_text(daily.read_text().replace("segment_index: 1", bomb))
    code, err = _run(run_cli, server, "daily.yaml", "--now", LATER)
    assert (code, server.count) == (1, 0)
    assert (
        "body $.filter.segment_index  [its template reads now, which the lock does not say]" in err
    )
