"""`exportspec apply --since BASE` against git repositories made in the test and a loopback
server that records every request."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from exportspec.errors import ExitCode
from exportspec.schemas import validator
from tests.conftest import RunCli, commit, git
from tests.executor.conftest import Reply, ScriptServer, assert_no_secret, leftovers

NOW_DATA = Path(__file__).parents[1] / "gitops" / "data" / "now"
LOCKED_AT = "2026-05-01T08:00:00Z"

SPEC = (Path(__file__).parent / "data" / "named.yaml.template").read_text()


def lock(run_cli: RunCli, *args: str) -> None:
    result = run_cli(["lock", *args])
    assert result.exit_code == 0, result.stderr


def apply(run_cli: RunCli, server: ScriptServer, *args: str) -> tuple[int, str, str]:
    connection = ("--base-url", server.base_url, "--project-token", "tok")
    result = run_cli(["apply", *args, *connection])
    assert_no_secret(result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def repo(tmp_path: Path, run_cli: RunCli) -> Path:
    """A repository whose first commit locks specs a, b, c and d."""
    git(tmp_path, "init", "-q")
    (tmp_path / "exportspec.toml").write_text("")
    (tmp_path / "specs").mkdir()
    for name in "abcd":
        (tmp_path / "specs" / f"{name}.yaml").write_text(SPEC.format(name=name))
    lock(run_cli)
    commit(tmp_path, "one")
    return tmp_path


def batch_records(root: Path) -> list[Path]:
    return sorted((root / "batches").glob("*.batch.json"))


def change(spec: Path) -> None:
    spec.write_text(spec.read_text() + "      - {type: property, property: email}\n")


def test_apply_runs_the_added_changed_and_renamed_specs_only(
    repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    change(repo / "specs" / "b.yaml")  # changed
    (repo / "specs" / "d.yaml").write_text(SPEC.format(name="d2"))  # renamed
    git(repo, "mv", "specs/c.yaml", "specs/c-moved.yaml")  # moved: the same body
    (repo / "specs" / "e.yaml").write_text(SPEC.format(name="e"))  # added
    lock(run_cli)
    commit(repo, "two")

    code, _, err = apply(run_cli, server, "--since", "HEAD~1", "--jobs", "1")
    assert code == 0, err
    assert server.count == 3
    assert sorted(p.name for p in (repo / "exports").glob("*.csv")) == ["b.csv", "d2.csv", "e.csv"]
    assert "specs/c-moved.yaml: moved since HEAD~1" in err
    assert "1 spec(s) unchanged since HEAD~1" in err
    (record,) = batch_records(repo)
    data = json.loads(record.read_text())
    assert list(validator("batch-record.schema.json").iter_errors(data)) == []
    assert data["command"] == "apply"
    assert data["git_commit"] == git(repo, "rev-parse", "HEAD")
    assert data["lock_sha256"] is not None
    assert data["settings"]["since"] == "HEAD~1"
    assert [s["path"] for s in data["specs"]] == ["specs/b.yaml", "specs/d.yaml", "specs/e.yaml"]


def test_a_spec_merged_without_relocking_stops_everything(
    repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    change(repo / "specs" / "b.yaml")
    lock(run_cli)
    change(repo / "specs" / "a.yaml")  # not relocked
    commit(repo, "two")
    code, _, err = apply(run_cli, server, "--since", "HEAD~1")
    assert code == ExitCode.SPEC_INVALID
    assert "specs/a.yaml:2:7: error: compiled body differs from exportspec.lock" in err
    assert server.count == 0
    assert not (repo / "exports").exists()


def test_an_unknown_revision_is_a_configuration_error(
    repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    code, _, err = apply(run_cli, server, "--since", "no-such-branch")
    assert code == ExitCode.CONFIG
    assert "--since no-such-branch: no such revision" in err
    assert server.count == 0


def test_a_shallow_checkout_says_how_to_fetch_the_base(
    repo: Path,
    run_cli: RunCli,
    server: ScriptServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    change(repo / "specs" / "b.yaml")
    lock(run_cli)
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, "two")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    monkeypatch.chdir(shallow)
    code, _, err = apply(run_cli, server, "--since", base)
    assert code == ExitCode.CONFIG
    assert "this checkout is shallow" in err and f"git fetch origin {base}" in err
    assert server.count == 0


def test_a_base_without_a_lock_runs_every_spec(
    tmp_path: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "exportspec.toml").write_text("")
    commit(tmp_path, "empty")
    (tmp_path / "specs").mkdir()
    for name in "ab":
        (tmp_path / "specs" / f"{name}.yaml").write_text(SPEC.format(name=name))
    lock(run_cli)
    commit(tmp_path, "specs")
    code, _, err = apply(run_cli, server, "--since", "HEAD~1")
    assert code == 0, err
    assert server.count == 2
    assert "specs/a.yaml: added since HEAD~1" in err


def test_the_base_may_be_a_lock_file(repo: Path, run_cli: RunCli, server: ScriptServer) -> None:
    shutil.copy(repo / "exportspec.lock", repo / "base.lock")
    change(repo / "specs" / "c.yaml")
    lock(run_cli)
    code, _, err = apply(run_cli, server, "--since", "base.lock")
    assert code == 0, err
    assert server.count == 1
    assert (repo / "exports" / "c.csv").is_file()


def test_nothing_changed_runs_nothing(repo: Path, run_cli: RunCli, server: ScriptServer) -> None:
    code, _, err = apply(run_cli, server, "--since", "HEAD")
    assert code == 0, err
    assert "Nothing to apply" in err
    assert server.count == 0
    assert batch_records(repo) == []


def test_apply_again_at_the_same_commit_runs_only_what_failed(
    repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    for name in "abc":
        change(repo / "specs" / f"{name}.yaml")
    lock(run_cli)
    commit(repo, "two")
    refused = Reply(status=400, body=b'{"success": false, "errors": ["no"]}')
    server.script(Reply(), refused, Reply())
    code, _, err = apply(run_cli, server, "--since", "HEAD~1", "--jobs", "1")
    assert code == ExitCode.REFUSED, err
    (record,) = batch_records(repo)
    failed_body = server.requests[1].body

    server.script(Reply())
    code, _, err = apply(run_cli, server, "--since", "HEAD~1", "--jobs", "1")
    assert code == 0, err
    assert server.count == 4  # b only, with the body the first attempt stored
    assert server.requests[3].body == failed_body
    assert batch_records(repo) == [record]
    data = json.loads(record.read_text())
    assert [s["status"] for s in data["specs"]] == ["succeeded"] * 3

    commit(repo, "three: another commit is another apply")
    code, _, err = apply(run_cli, server, "--since", "HEAD~2", "--jobs", "1")
    assert code == 0, err
    assert server.count == 7
    assert len(batch_records(repo)) == 2


def test_dry_run_prints_each_body_and_sends_nothing(
    repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    change(repo / "specs" / "b.yaml")
    lock(run_cli)
    commit(repo, "two")
    code, out, err = apply(run_cli, server, "--since", "HEAD~1", "--dry-run")
    assert code == 0, err
    assert out.startswith("# specs/b.yaml: changed since HEAD~1")
    assert '"property":"email"' in out and "curl " in out
    assert server.count == 0
    assert batch_records(repo) == []


@pytest.fixture
def now_repo(tmp_path: Path, run_cli: RunCli) -> Path:
    """A repository whose second commit adds the `now` specs, locked at LOCKED_AT."""
    git(tmp_path, "init", "-q")
    (tmp_path / "exportspec.toml").write_text("")
    commit(tmp_path, "empty")
    (tmp_path / "specs").mkdir()
    for name in ("daily.yaml", "time-bomb.yaml"):
        shutil.copy(NOW_DATA / name, tmp_path / "specs" / name)
    lock(run_cli, "--now", LOCKED_AT)
    commit(tmp_path, "now specs")
    return tmp_path


def test_the_time_bomb_stops_apply_before_anything_is_sent(
    now_repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    code, _, err = apply(run_cli, server, "--since", "HEAD~1")  # today is after 2026-06-01
    assert code == ExitCode.SPEC_INVALID
    assert "nothing was sent" in err
    assert '$.body.filter.type: "segment" -> "all"' in err
    assert server.count == 0
    assert leftovers(now_repo) == []


def test_a_body_reading_now_only_in_execution_time_is_applied_after_the_locks_now(
    now_repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    code, _, err = apply(run_cli, server, "--since", "HEAD~1", "specs/daily.yaml")
    assert code == 0, err
    assert server.count == 1
    assert json.loads(server.requests[0].body)["filter"]["segment_index"] == 1
    assert (now_repo / "exports" / "daily.csv").is_file()


def test_narrowing_a_split_spec_s_segments_is_a_change_apply_runs(
    repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    split = repo / "specs" / "split.yaml"
    shutil.copy(Path(__file__).parents[2] / "specs" / "spend-tiers-split.yaml", split)
    lock(run_cli)
    commit(repo, "two: a split spec")
    split.write_text(split.read_text().replace("segments: [0, 1, 2, -1]", "segments: [0, 1, 2]"))
    lock(run_cli)
    commit(repo, "three: narrowed")
    code, _, err = apply(run_cli, server, "--since", "HEAD~1", "--jobs", "1")
    assert code == 0, err
    assert "specs/split.yaml: changed since HEAD~1" in err
    sent = sorted(json.loads(seen.body)["filter"]["segment_index"] for seen in server.requests)
    assert sent == [0, 1, 2]
    assert (repo / "exports" / "spend-tiers-split.csv").is_file()


def test_a_sandbox_attempt_is_no_earlier_attempt_of_a_real_apply(
    repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    change(repo / "specs" / "a.yaml")
    lock(run_cli)
    commit(repo, "two")
    sandboxed = run_cli(["apply", "--since", "HEAD~1", "--sandbox", "-q"])
    assert sandboxed.exit_code == 0, sandboxed.stderr
    code, _, err = apply(run_cli, server, "--since", "HEAD~1")
    assert code == 0, err
    assert server.count == 1  # the sandbox's success does not count for the real API
    assert len(batch_records(repo)) == 2


def test_apply_sends_what_the_lock_holds_not_what_an_earlier_record_stored(
    repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    change(repo / "specs" / "a.yaml")
    lock(run_cli)
    commit(repo, "two")
    server.script(Reply(status=400, body=b'{"success": false, "errors": ["no"]}'))
    code, _, _ = apply(run_cli, server, "--since", "HEAD~1")
    assert code == ExitCode.REFUSED
    (record,) = batch_records(repo)
    data = json.loads(record.read_text())
    entry = data["specs"][0]
    entry["request"]["body"]["filter"] = {"type": "all"}  # edited by someone with access
    entry["body_sha256"] = hashlib.sha256(
        json.dumps(entry["request"]["body"], sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    entry["output"] = "specs/b.yaml"
    record.write_text(json.dumps(data))
    server.script(Reply())
    code, _, err = apply(run_cli, server, "--since", "HEAD~1")
    assert code == 0, err
    sent = json.loads(server.requests[-1].body)
    assert "filter" not in sent  # the locked body, not the edited one
    assert (repo / "specs" / "b.yaml").read_text() == SPEC.format(name="b")
    assert (repo / "exports" / "a.csv").is_file()


def test_an_invalid_lock_at_the_base_and_a_folder_as_base_are_configuration_errors(
    repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    (repo / "exportspec.lock").write_text('{"lock_version": 2}')
    commit(repo, "a broken lock")
    (repo / "exportspec.lock").unlink()
    lock(run_cli)
    commit(repo, "fixed")
    code, _, err = apply(run_cli, server, "--since", "HEAD~1")
    assert code == ExitCode.CONFIG
    assert "HEAD~1:exportspec.lock:1:1: error: missing required key" in err
    assert "the lock at --since HEAD~1 is invalid" in err
    code, _, err = apply(run_cli, server, "--since", "specs")
    assert code == ExitCode.CONFIG
    assert "--since specs: a folder" in err
    assert server.count == 0


def test_a_format_1_base_compares_bodies_only(
    repo: Path, run_cli: RunCli, server: ScriptServer
) -> None:
    """Upgrading the lock (format 1 at BASE, 2 now) does not export every spec again."""
    old = json.loads((repo / "exportspec.lock").read_text())
    old["lock_version"] = 1
    for entry in old["specs"].values():
        del entry["output_path"], entry["now_paths"]
    (repo / "base.lock").write_text(json.dumps(old))
    change(repo / "specs" / "b.yaml")
    lock(run_cli)
    code, _, err = apply(run_cli, server, "--since", "base.lock")
    assert code == 0, err
    assert server.count == 1
    assert "3 spec(s) unchanged since base.lock" in err
