"""lock, plan and validate --locked on a temporary spec tree."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from exportspec.errors import SpecInvalidError
from exportspec.gitops.lock import build_lock
from exportspec.gitops.models import Change, JsonValue, Lock
from exportspec.gitops.plan import compute_plan, diff_values
from exportspec.gitops.project import Project
from exportspec.gitops.scope import split_lock
from exportspec.gitops.stale import stale_lock_results
from exportspec.spec.models import SpecResult
from tests.conftest import RunCli
from tests.gitops.test_lock_schema import compiled_result


def _lock(run_cli: RunCli, *args: str) -> None:
    result = run_cli(["lock", *args])
    assert result.exit_code == 0, result.explain()


def _plan(run_cli: RunCli, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(["plan", "--detailed-exitcode", "--output-format", "json", *args])
    assert result.exit_code in (0, 6), result.explain()
    return result.exit_code, json.loads(result.stdout)


def _statuses(plan: dict[str, object]) -> dict[str, str]:
    specs = plan["specs"]
    assert isinstance(specs, list)
    return {s["name"]: s["status"] for s in specs}


def test_lock_edit_plan_exits_6_then_lock_again_exits_0(tree: Path, run_cli: RunCli) -> None:
    _lock(run_cli)
    spec = tree / "specs" / "everyone.toml"
    spec.write_text(spec.read_text().replace("table_json", "csv"))
    result = run_cli(["plan", "--detailed-exitcode"])
    assert result.exit_code == 6, result.explain()
    assert "~ everyone (specs/everyone.toml): changed" in result.stdout
    assert '$.format: "table_json" -> "csv"' in result.stdout
    _lock(run_cli)
    again = run_cli(["plan", "--detailed-exitcode"])
    assert again.exit_code == 0, again.explain()
    assert (
        "Plan: 0 to add, 0 to change, 0 to remove, 0 renamed, 0 moved, 3 unchanged." in again.stdout
    )


def test_lock_file_is_stable_and_complete(tree: Path, run_cli: RunCli) -> None:
    _lock(run_cli, "--now", "2026-05-01T08:00:00Z")
    first = (tree / "exportspec.lock").read_bytes()
    _lock(run_cli)  # keeps the pinned now
    assert (tree / "exportspec.lock").read_bytes() == first
    lock = json.loads(first)
    assert list(lock["specs"]) == ["daily", "everyone", "segment"]
    entry = lock["specs"]["segment"]
    assert set(entry) == {
        "path",
        "spec_sha256",
        "body_sha256",
        "body",
        "variables",
        "output_path",
        "now_paths",
    }
    assert entry["path"] == "specs/segment.yaml"
    assert (entry["output_path"], entry["now_paths"]) == (None, [])
    assert lock["specs"]["daily"]["now_paths"] == ["$.execution_time"]
    assert lock["lock_version"] == 2
    assert entry["variables"] == {"segment": 1, "zone": "Europe/Bratislava"}
    assert lock["environment"] == "staging"
    assert lock["now"] == "2026-05-01T08:00:00Z"
    assert {"lock_version", "tool_version", "schema_sha256"} <= set(lock)
    assert lock["specs"]["daily"]["body"]["execution_time"] == 1777593600


def test_plan_catches_changes_from_variable_values_only(tree: Path, run_cli: RunCli) -> None:
    _lock(run_cli)
    code, plan = _plan(run_cli, "--var", "segment=2")
    assert code == 6
    assert _statuses(plan)["segment"] == "changed"
    entry = next(s for s in plan["specs"] if s["name"] == "segment")
    assert entry["body_changes"] == [
        {"path": "$.filter.segment_index", "kind": "changed", "old": 1, "new": 2}
    ]
    assert entry["variable_changes"][0]["old"] == 1
    code, plan = _plan(run_cli, "--env", "production")
    assert code == 6 and _statuses(plan)["segment"] == "changed"


def test_plan_reports_added_removed_and_renamed(tree: Path, run_cli: RunCli) -> None:
    _lock(run_cli)
    (tree / "specs" / "daily.yaml").unlink()
    (tree / "specs" / "new.yml").write_text("version: 1\nname: fresh\nexport: {format: csv}\n")
    everyone = tree / "specs" / "everyone.toml"
    everyone.write_text(everyone.read_text().replace('"everyone"', '"all-of-them"'))
    code, plan = _plan(run_cli)
    assert code == 6
    assert _statuses(plan) == {
        "all-of-them": "renamed",
        "fresh": "added",
        "segment": "unchanged",
        "daily": "removed",
    }
    assert plan["summary"] == {
        "added": 1,
        "removed": 1,
        "renamed": 1,
        "changed": 0,
        "moved": 0,
        "unchanged": 1,
    }
    text = run_cli(["plan"]).stdout
    assert "> everyone -> all-of-them (specs/everyone.toml): renamed" in text
    assert "- daily (specs/daily.yaml): removed" in text


def test_plan_without_detailed_exitcode_exits_0(tree: Path, run_cli: RunCli) -> None:
    result = run_cli(["plan"])  # no lock yet: everything is to add
    assert result.exit_code == 0, result.explain()
    assert "Plan: 3 to add" in result.stdout
    assert "note: no lock file at exportspec.lock: every spec shows as added" in result.stderr


def test_plan_with_a_lock_says_nothing_about_a_missing_one(tree: Path, run_cli: RunCli) -> None:
    _lock(run_cli)
    assert "no lock file" not in run_cli(["plan"]).stderr


def test_plan_keeps_time_dependent_bodies_stable_with_the_pinned_now(
    tree: Path, run_cli: RunCli
) -> None:
    _lock(run_cli, "--now", "2020-01-01T00:00:00Z")
    code, _ = _plan(run_cli)
    assert code == 0
    code, plan = _plan(run_cli, "--now", "2030-01-01T00:00:00Z")
    assert code == 6 and _statuses(plan)["daily"] == "changed"


def test_validate_locked(tree: Path, run_cli: RunCli) -> None:
    missing = run_cli(["validate", "--locked"])
    assert missing.exit_code == 1
    assert "exportspec.lock: error: lock file not found" in missing.stdout.splitlines()[0]
    # The lock is no spec: three specs are valid, the error is in the lock.
    assert missing.stdout.splitlines()[-1] == "1 error(s) in exportspec.lock"
    report = json.loads(run_cli(["validate", "--locked", "--output-format", "json"]).stdout)
    assert report["summary"] == {"specs": 3, "invalid": 0, "errors": 1, "warnings": 0}
    assert report["ok"] is False
    assert [s["kind"] for s in report["specs"]] == ["spec", "spec", "spec", "lock"]
    _lock(run_cli)
    assert run_cli(["validate", "--locked"]).exit_code == 0
    spec = tree / "specs" / "segment.yaml"
    spec.write_text(spec.read_text().replace("format: csv", "format: table_json"))
    stale = run_cli(["validate", "--locked"])
    assert stale.exit_code == 1
    assert "specs/segment.yaml:2:7: error: compiled body differs from exportspec.lock" in (
        stale.stdout
    )


def test_lock_refuses_invalid_specs_and_keeps_the_old_lock(tree: Path, run_cli: RunCli) -> None:
    _lock(run_cli)
    before = (tree / "exportspec.lock").read_bytes()
    (tree / "specs" / "everyone.toml").write_text('version = 1\nname = "everyone"\n')
    result = run_cli(["lock"])
    assert result.exit_code == 1
    assert "missing required key 'export'" in result.stderr
    assert (tree / "exportspec.lock").read_bytes() == before


def test_without_a_project_file_the_lock_is_in_the_working_folder(
    tree: Path, run_cli: RunCli
) -> None:
    (tree / "exportspec.toml").unlink()
    result = run_cli(["lock", "specs/"])
    assert result.exit_code == 0, result.explain()
    assert (tree / "exportspec.lock").is_file()
    assert not (tree / "specs" / "exportspec.lock").exists()
    result = run_cli(["validate", "--locked", "specs/"])
    assert result.exit_code == 0, result.explain()
    result = run_cli(["plan", "--detailed-exitcode", "specs/"])
    assert result.exit_code == 0, result.explain()


def test_plan_warns_when_the_environment_is_not_the_locks(tree: Path, run_cli: RunCli) -> None:
    _lock(run_cli)  # the default environment, staging
    result = run_cli(["plan", "--env", "production"])
    assert result.exit_code == 0, result.explain()
    assert "made with --env staging, this run uses --env production" in result.stderr
    result = run_cli(["validate", "--locked", "--env", "production"])
    assert "made with --env staging" in result.stderr
    assert "warning" not in run_cli(["plan", "--env", "staging"]).stderr


def test_a_moved_spec_is_a_move_in_plan_and_stale_for_validate_locked(
    tree: Path, run_cli: RunCli
) -> None:
    _lock(run_cli)
    (tree / "specs" / "nightly").mkdir()
    (tree / "specs" / "daily.yaml").rename(tree / "specs" / "nightly" / "daily.yaml")
    code, plan = _plan(run_cli)
    assert code == 0 and plan["differs"] is False  # the same body: nothing new to send
    entry = next(s for s in plan["specs"] if s["name"] == "daily")
    assert (entry["status"], entry["path"], entry["old_path"]) == (
        "moved",
        "specs/nightly/daily.yaml",
        "specs/daily.yaml",
    )
    assert entry["body_changes"] == [] and plan["summary"]["moved"] == 1
    text = run_cli(["plan"]).stdout
    assert "* daily (specs/nightly/daily.yaml): moved from specs/daily.yaml, same body" in text
    assert "0 to change, 0 to remove, 0 renamed, 1 moved, 2 unchanged." in text
    stale = run_cli(["validate", "--locked"])  # the lock must learn the new path
    assert stale.exit_code == 1
    assert (
        "specs/nightly/daily.yaml:2:7: error: spec moved from specs/daily.yaml since "
        "exportspec.lock; run `exportspec lock` to update it"
    ) in stale.stdout
    _lock(run_cli)
    code, plan = _plan(run_cli)
    assert code == 0 and plan["summary"]["moved"] == 0


def test_a_moved_spec_whose_body_changed_is_a_change(tree: Path, run_cli: RunCli) -> None:
    _lock(run_cli)
    (tree / "specs" / "everyone.toml").rename(tree / "specs" / "all.toml")
    spec = tree / "specs" / "all.toml"
    spec.write_text(spec.read_text().replace("table_json", "csv"))
    code, plan = _plan(run_cli)
    assert code == 6 and _statuses(plan)["everyone"] == "changed"
    assert "~ everyone (specs/all.toml): changed, moved from specs/everyone.toml" in (
        run_cli(["plan"]).stdout
    )


def test_the_github_annotation_of_a_removed_spec_is_on_the_lock(
    tree: Path, run_cli: RunCli
) -> None:
    _lock(run_cli)
    (tree / "specs" / "daily.yaml").unlink()
    result = run_cli(["plan", "--output-format", "github"])
    assert result.exit_code == 0, result.explain()
    (notice,) = [line for line in result.stdout.splitlines() if line.startswith("::notice")]
    assert notice == (
        "::notice file=exportspec.lock,line=1,col=1::"
        "exportspec plan: daily (specs/daily.yaml): removed"
    )
    _, plan = _plan(run_cli)
    removed = next(s for s in plan["specs"] if s["name"] == "daily")
    assert (removed["path"], removed["old_path"]) == ("specs/daily.yaml", "specs/daily.yaml")


def test_specs_outside_the_locks_folder_lock_the_same_in_every_checkout(
    tree: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The project file lives in a subfolder and reaches up for its specs.
    config = tree / "cfg"
    config.mkdir()
    toml = (tree / "exportspec.toml").read_text().replace('["specs"]', '["../specs"]')
    (config / "exportspec.toml").write_text(toml)
    (tree / "exportspec.toml").unlink()
    monkeypatch.chdir(config)
    _lock(run_cli)
    lock = json.loads((config / "exportspec.lock").read_text())
    assert lock["specs"]["daily"]["path"] == "../specs/daily.yaml"
    copy = tree.parent / "another-checkout"
    shutil.copytree(tree, copy)
    monkeypatch.chdir(copy / "cfg")
    assert _plan(run_cli)[0] == 0


def _locked_bodies(tree: Path) -> dict[str, Any]:
    specs = json.loads((tree / "exportspec.lock").read_text())["specs"]
    return {name: entry["body"] for name, entry in specs.items()}


def test_lock_of_some_paths_relocks_those_and_keeps_the_others(tree: Path, run_cli: RunCli) -> None:
    _lock(run_cli)
    before = _locked_bodies(tree)
    for name in ("segment.yaml", "everyone.toml"):
        spec = tree / "specs" / name
        spec.write_text(spec.read_text().replace("csv", "native_json").replace("table", "native"))
    result = run_cli(["lock", "specs/segment.yaml"])
    assert result.exit_code == 0, result.explain()
    assert "Locked 1 spec(s) in" in result.stderr and "(2 other(s) kept)" in result.stderr
    after = _locked_bodies(tree)
    assert after["segment"]["format"] == "native_json"
    assert after["everyone"] == before["everyone"]  # kept as locked, though it changed since
    assert after["daily"] == before["daily"]
    code, plan = _plan(run_cli)
    assert code == 6
    assert _statuses(plan) == {"daily": "unchanged", "everyone": "changed", "segment": "unchanged"}


def test_plan_and_validate_locked_of_some_paths_compare_only_those(
    tree: Path, run_cli: RunCli
) -> None:
    _lock(run_cli)
    (tree / "specs" / "daily.yaml").unlink()
    code, plan = _plan(run_cli, "specs/segment.yaml")
    assert (code, _statuses(plan)) == (0, {"segment": "unchanged"})
    assert run_cli(["validate", "--locked", "specs/segment.yaml"]).exit_code == 0
    code, plan = _plan(run_cli, "specs")  # a folder: what was locked under it counts
    assert code == 6 and _statuses(plan)["daily"] == "removed"
    assert run_cli(["validate", "--locked", "specs"]).exit_code == 1


@pytest.mark.parametrize(
    "flags", [["--now", "2020-01-01T00:00:00Z"], ["--env", "production"]], ids=["now", "env"]
)
def test_lock_of_some_paths_needs_the_locks_own_inputs(
    flags: list[str], tree: Path, run_cli: RunCli
) -> None:
    _lock(run_cli, "--now", "2026-05-01T08:00:00Z")
    before = (tree / "exportspec.lock").read_bytes()
    result = run_cli(["lock", "specs/segment.yaml", *flags])
    assert result.exit_code == 2, result.explain()
    assert "keeps the other 2 locked spec(s) as they are" in result.stderr
    assert "--env staging and --now 2026-05-01T08:00:00Z" in result.stderr
    assert (tree / "exportspec.lock").read_bytes() == before
    # The same inputs, said explicitly, are fine; so is every spec with new ones.
    _lock(run_cli, "specs/segment.yaml", "--now", "2026-05-01T08:00:00Z", "--env", "staging")
    _lock(run_cli, "specs", *flags)


def test_paths_through_a_symlink_are_the_locked_specs(tree: Path, run_cli: RunCli) -> None:
    _lock(run_cli)
    (tree / "linked").symlink_to(tree / "specs", target_is_directory=True)
    code, plan = _plan(run_cli, "linked")
    assert code == 0 and set(_statuses(plan).values()) == {"unchanged"}, plan
    assert run_cli(["validate", "--locked", "linked"]).exit_code == 0
    code, plan = _plan(run_cli, str(tree / "linked" / "segment.yaml"))
    assert (code, _statuses(plan)) == (0, {"segment": "unchanged"})


@pytest.fixture
def two_roots(tree: Path) -> Path:
    """The tree with a second spec root, `other/`, holding everyone.toml."""
    toml = tree / "exportspec.toml"
    toml.write_text(
        toml.read_text().replace('spec_roots = ["specs"]', 'spec_roots = ["specs", "other"]')
    )
    (tree / "other").mkdir()
    (tree / "specs" / "everyone.toml").rename(tree / "other" / "everyone.toml")
    return tree


def test_a_subset_spec_taking_the_name_of_a_kept_one_is_refused(
    two_roots: Path, run_cli: RunCli
) -> None:
    _lock(run_cli)
    before = (two_roots / "exportspec.lock").read_bytes()
    segment = two_roots / "specs" / "segment.yaml"
    segment.write_text(segment.read_text().replace("name: segment", "name: everyone"))
    for command in (["lock", "specs"], ["plan", "specs"], ["validate", "--locked", "specs"]):
        result = run_cli(command)
        assert result.exit_code == 1, result.explain()
        assert (
            "specs/segment.yaml:2:7: error: name 'everyone' is also the name of other/everyone.toml"
            in result.stdout + result.stderr
        )
    assert (two_roots / "exportspec.lock").read_bytes() == before


def test_specs_moved_across_the_subset_boundary(two_roots: Path, run_cli: RunCli) -> None:
    _lock(run_cli)
    (two_roots / "other" / "everyone.toml").rename(two_roots / "specs" / "everyone.toml")
    (two_roots / "specs" / "daily.yaml").rename(two_roots / "other" / "daily.yaml")
    code, plan = _plan(run_cli, "specs")
    assert code == 0
    assert _statuses(plan) == {"everyone": "moved", "segment": "unchanged"}  # daily: elsewhere
    entry = next(s for s in plan["specs"] if s["name"] == "everyone")
    assert entry["old_path"] == "other/everyone.toml"
    _lock(run_cli, "specs")
    locked = json.loads((two_roots / "exportspec.lock").read_text())["specs"]
    assert locked["everyone"]["path"] == "specs/everyone.toml"
    assert locked["daily"]["path"] == "specs/daily.yaml"  # kept as locked: not ours to judge
    code, plan = _plan(run_cli)
    assert _statuses(plan)["daily"] == "moved"  # the whole plan shows the move


def test_lock_of_some_paths_takes_the_locks_now_in_any_spelling(
    tree: Path, run_cli: RunCli
) -> None:
    _lock(run_cli, "--now", "2026-05-01T08:00:00Z")
    lock_file = tree / "exportspec.lock"
    lock_file.write_text(lock_file.read_text().replace("08:00:00Z", "10:00:00+02:00"))
    _lock(run_cli, "specs/segment.yaml")
    _lock(run_cli, "specs/segment.yaml", "--now", "2026-05-01T08:00:00+00:00")
    data = json.loads(lock_file.read_text())
    data["now"] = None
    lock_file.write_text(json.dumps(data))
    result = run_cli(["lock", "specs/segment.yaml"])
    assert result.exit_code == 2, result.explain()
    assert "no recorded now" in result.stderr and "lock every spec (no PATH)" in result.stderr


def test_a_folder_search_skips_hidden_folders_and_the_project_file(
    tree: Path, run_cli: RunCli
) -> None:
    (tree / ".github" / "workflows").mkdir(parents=True)
    (tree / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    (tree / ".pre-commit-config.yaml").write_text("repos: []\n")
    result = run_cli(["validate", "."])
    assert result.exit_code == 0, result.explain()
    assert "3 spec(s) valid" in result.stdout
    _lock(run_cli, ".")
    code, plan = _plan(run_cli, ".")
    assert code == 0 and len(plan["specs"]) == 3


# --------------------------------------------------------------------------- the modules alone


def _locked(folder: Path, *results: SpecResult) -> Lock:
    """The lock `exportspec lock` would write for these results, in `folder`."""
    lock, _ = build_lock(
        results, Project(root=folder), environment=None, now="2026-05-01T08:00:00Z"
    )
    return lock


def test_diff_values_reports_leaves_in_path_order() -> None:
    old: JsonValue = {"b": {"x": 1, "gone": True}, "a": [1, 2], "n": 1, "s": [1]}
    new: JsonValue = {"b": {"x": 2, "new": None}, "a": [1, 3], "n": 1.0, "s": [1, 2]}
    assert [(c.path_text, c.kind, c.old, c.new) for c in diff_values(old, new)] == [
        ("$.a[1]", "changed", 2, 3),
        ("$.b.gone", "removed", True, None),
        ("$.b.new", "added", None, None),
        ("$.b.x", "changed", 1, 2),
        ("$.n", "changed", 1, 1.0),  # 1 and 1.0 are other JSON texts, other bytes
        ("$.s[1]", "added", None, 2),  # list items are added and removed one by one
    ]
    assert diff_values({"a": [1, {"b": True}]}, {"a": [1, {"b": True}]}) == []
    assert diff_values(1, True) == [Change((), 1, True, "changed")]


def test_compute_plan_names_every_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    csv, table = {"format": "csv"}, {"format": "table_json"}
    lock = _locked(
        tmp_path,
        compiled_result(tmp_path, "same", csv),
        compiled_result(tmp_path, "edited", csv),
        compiled_result(tmp_path, "old-name", csv, file="kept-file"),
        compiled_result(tmp_path, "walker", table, segment=1),
        compiled_result(tmp_path, "gone", {"format": "native_json"}),
    )
    (tmp_path / "specs" / "gone.yaml").unlink()
    (tmp_path / "specs" / "walker.yaml").unlink()
    today = [
        compiled_result(tmp_path, "same", csv),
        compiled_result(tmp_path, "edited", table),
        compiled_result(tmp_path, "new-name", csv, file="kept-file"),
        compiled_result(tmp_path, "walker", table, file="elsewhere", segment=2),
        compiled_result(tmp_path, "fresh", {"format": "csv", "timezone": "UTC"}),
    ]
    plan = compute_plan(today, lock)
    assert [(e.name, e.status, e.path, e.old_path) for e in plan.entries] == [
        ("edited", "changed", "specs/edited.yaml", "specs/edited.yaml"),
        ("fresh", "added", "specs/fresh.yaml", None),
        ("new-name", "renamed", "specs/kept-file.yaml", "specs/kept-file.yaml"),
        ("same", "unchanged", "specs/same.yaml", "specs/same.yaml"),
        ("walker", "moved", "specs/elsewhere.yaml", "specs/walker.yaml"),
        ("gone", "removed", "specs/gone.yaml", "specs/gone.yaml"),
    ]
    by_name = {e.name: e for e in plan.entries}
    assert by_name["new-name"].old_name == "old-name"
    assert [c.path_text for c in by_name["edited"].body_changes] == ["$.format"]
    assert [c.path_text for c in by_name["walker"].variable_changes] == ["$.segment"]
    assert plan.differs and plan.lock_path == "exportspec.lock"
    assert (plan.count("moved"), plan.count("unchanged")) == (1, 1)
    assert not by_name["walker"].differs  # moved: nothing new would be sent


def test_a_renamed_and_moved_spec_is_found_by_its_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lock = _locked(tmp_path, compiled_result(tmp_path, "before", {"format": "table_json"}))
    today = [compiled_result(tmp_path, "after", {"format": "table_json"})]
    (entry,) = compute_plan(today, lock).entries
    assert (entry.status, entry.old_name, entry.old_path) == (
        "renamed",
        "before",
        "specs/before.yaml",
    )


def test_split_lock_keeps_what_lies_outside_the_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    csv = {"format": "csv"}
    results = {
        name: compiled_result(tmp_path, name, csv, file=file)
        for name, file in [
            ("a", "in/a"),
            ("b", "out/b"),
            ("removed", "in/removed"),
            ("left", "in/left"),
            ("arrived", "out/arrived"),
        ]
    }
    lock = _locked(tmp_path, *results.values())
    specs = tmp_path / "specs"
    (specs / "in" / "removed.yaml").unlink()
    (specs / "in" / "left.yaml").rename(specs / "out" / "left.yaml")  # moved out of the root
    (specs / "out" / "arrived.yaml").rename(specs / "in" / "arrived.yaml")  # moved in
    today = [
        results["a"],
        compiled_result(tmp_path, "arrived", csv, file="in/arrived"),
    ]

    def project_files() -> list[Path]:
        return sorted(specs.rglob("*.yaml"))

    inside, outside = split_lock(lock, [Path("specs/in")], today, project_files)
    assert sorted(inside.entries) == ["a", "arrived", "removed"]
    assert sorted(outside) == ["b", "left"]
    assert inside.path == lock.path and inside.now_text == lock.now_text
    assert split_lock(lock, [], today, project_files) == (lock, {})


def test_split_lock_refuses_a_name_a_locked_spec_elsewhere_still_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lock = _locked(tmp_path, compiled_result(tmp_path, "twin", {"format": "csv"}, file="out/twin"))
    copy = compiled_result(tmp_path, "twin", {"format": "csv"}, file="in/twin")
    with pytest.raises(SpecInvalidError) as caught:
        split_lock(lock, [Path("specs/in")], [copy], lambda: sorted(tmp_path.rglob("*.yaml")))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.rule == "duplicate-name"
    assert "'twin' is also the name of specs/out/twin.yaml" in diagnostic.message


def test_stale_lock_results_add_a_located_error_per_stale_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    project = Project(root=tmp_path)
    lock = _locked(tmp_path, compiled_result(tmp_path, "one", {"format": "csv"}))
    today = [compiled_result(tmp_path, "one", {"format": "table_json"})]
    (result,) = stale_lock_results(today, lock, project)
    assert not result.ok
    (diagnostic,) = result.diagnostics
    assert diagnostic.message == (
        'compiled body differs from exportspec.lock ($.format: "csv" -> "table_json"); '
        "run `exportspec lock` to update it"
    )
    assert (diagnostic.rule, diagnostic.json_path) == ("lock-stale", ("name",))
    missing = stale_lock_results(today, replace(lock, exists=False), project)
    assert [r.kind for r in missing] == ["spec", "lock"]
    assert missing[-1].diagnostics[0].rule == "lock-missing"


def test_list_items_are_diffed_one_by_one() -> None:
    def prop(name: str) -> JsonValue:
        return {"type": "property", "property": name}

    old: JsonValue = [{"type": "id", "id": "registered"}, prop("a"), prop("b")]
    new: JsonValue = [{"type": "id", "id": "registered"}, prop("b"), prop("c"), prop("d")]
    changes = [(c.path_text, c.kind, c.old, c.new) for c in diff_values(old, new, ("list",))]
    assert changes == [
        ("$.list[1]", "removed", {"type": "property", "property": "a"}, None),
        ("$.list[2]", "added", None, {"type": "property", "property": "c"}),
        ("$.list[3]", "added", None, {"type": "property", "property": "d"}),
    ]


def test_a_stale_message_never_shows_two_sides_that_read_the_same() -> None:
    from exportspec.gitops.stale import change_text

    prefix = "x" * 80
    text = change_text(Change(("export", "note"), prefix + "old", prefix + "new", "changed"))
    old_side, new_side = text.split(": ", 1)[1].split(" -> ")
    assert old_side != new_side
    assert "old" in old_side and "new" in new_side
