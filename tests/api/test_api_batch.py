"""`exportspec.api.run_specs` and `exportspec.api.apply`: the CLI's batches in-process."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from exportspec import api
from exportspec.sandbox import running_sandbox
from tests.api.conftest import example
from tests.conftest import RunCli, commit, git

NOW = "2026-01-31T00:00:00Z"
EXAMPLES = ("all-customers.yaml", "vip-segment.yaml")


def _specs(folder: Path) -> Path:
    specs = folder / "specs"
    specs.mkdir()
    for name in EXAMPLES:
        example(name, specs)
    return specs


def test_run_specs_exports_what_exportspec_run_exports(tmp_path: Path, run_cli: RunCli) -> None:
    specs = _specs(tmp_path)
    cli = run_cli(
        [
            "run",
            "specs",
            "--sandbox",
            "-q",
            "--now",
            NOW,
            "--output-root",
            "cli",
            "--batch-record",
            "cli.batch.json",
        ]
    )
    assert cli.exit_code == 0, cli.explain()
    result = api.run_specs([specs], now=NOW, sandbox=True, output_root="api", jobs=2)
    assert result.ok and result.exit_code == 0
    assert result.failed == ()
    assert result.record is not None and result.record.parent == tmp_path / "api" / "batches"
    cli_record = json.loads(Path("cli.batch.json").read_text())
    api_record = json.loads(result.record.read_text())
    assert [s["body_sha256"] for s in api_record["specs"]] == [
        s["body_sha256"] for s in cli_record["specs"]
    ]
    for outcome, cli_spec in zip(result.specs, cli_record["specs"], strict=True):
        assert outcome.status == "succeeded"
        assert isinstance(outcome.output, Path) and outcome.output.is_relative_to("api")
        assert outcome.sha256 == cli_spec["sha256"]
        assert outcome.rows == cli_spec["rows"] > 0
        assert isinstance(outcome.record, Path) and outcome.record.is_file()
        assert outcome.output.read_bytes() == Path(cli_spec["output"]).read_bytes()


def test_a_failing_spec_is_in_the_result_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = _specs(tmp_path)
    with running_sandbox(customers=20, fail=["success-false"]) as sandbox:
        monkeypatch.setenv("EXPORTSPEC_API_KEY_ID", sandbox.api_key_id)
        monkeypatch.setenv("EXPORTSPEC_API_SECRET", sandbox.api_secret)
        result = api.run_specs(
            specs, jobs=1, base_url=sandbox.base_url, project_token=sandbox.project_token
        )
        assert sandbox.request_count == 2
    assert result.exit_code == 4 and not result.ok
    assert [o.status for o in result.specs] == ["failed", "succeeded"]
    assert result.failed[0].exit_code == 4 and result.failed[0].error


def test_run_specs_works_off_the_main_thread(tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    results: list[api.BatchResult] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(api.run_specs([specs], sandbox=True, now=NOW))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=120)
    assert not errors
    assert [o.status for o in results[0].specs] == ["succeeded", "succeeded"]


def test_apply_runs_what_changed_since_a_revision(tmp_path: Path, run_cli: RunCli) -> None:
    git(tmp_path, "init", "-q")
    Path("exportspec.toml").write_text("")
    _specs(tmp_path)
    assert run_cli(["lock"]).exit_code == 0
    commit(tmp_path, "one")
    spec = tmp_path / "specs" / "all-customers.yaml"
    spec.write_text(spec.read_text().replace("name: all-customers", "name: everyone"))
    assert run_cli(["lock"]).exit_code == 0
    commit(tmp_path, "two")

    result = api.apply(since="HEAD~1", sandbox=True)
    assert [(o.path.name, o.status) for o in result.specs] == [("all-customers.yaml", "succeeded")]
    assert isinstance(result.record, Path)
    assert json.loads(result.record.read_text())["command"] == "apply"
    again = api.apply(since="HEAD", sandbox=True)
    assert again.specs == () and again.record is None and again.ok


def test_bad_arguments_raise_usage_errors(tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    with pytest.raises(api.UsageError):
        api.run_specs([specs], jobs=0, sandbox=True)
    with pytest.raises(api.UsageError):
        api.run_specs([specs], rate=-1, sandbox=True)
    with pytest.raises(api.UsageError):
        api.run_specs([tmp_path / "missing"], sandbox=True)
    with pytest.raises(api.UsageError):
        api.apply(since="", sandbox=True)
