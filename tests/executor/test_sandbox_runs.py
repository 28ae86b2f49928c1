"""`run --sandbox`, and `run` against the sandbox's fault injection."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from exportspec.sandbox import running_sandbox
from tests.conftest import RunCli
from tests.executor.conftest import assert_no_secret, copy_spec


def test_run_sandbox_end_to_end(run_cli: RunCli, tmp_path: Path) -> None:
    spec = copy_spec("csv.yaml", tmp_path)
    result = run_cli(["run", str(spec), "--sandbox"])
    assert result.exit_code == 0, result.explain()
    out = tmp_path / "exports" / "contacts.csv"
    rows = list(csv.reader(io.StringIO(out.read_text(), newline="")))
    assert rows[0] == ["registered", "email"]
    record = json.loads(out.with_name("contacts.csv.run.json").read_text())
    assert record["output"]["rows"] == len(rows) - 1 == 1000
    assert record["request"]["url"].startswith("http://127.0.0.1:")
    assert "sandbox serving http://127.0.0.1:" in result.stderr


@pytest.mark.parametrize("spec_name", ["table.yaml", "native.yaml", "with-output.yaml"])
def test_every_format_against_the_sandbox(run_cli: RunCli, tmp_path: Path, spec_name: str) -> None:
    result = run_cli(["run", str(copy_spec(spec_name, tmp_path)), "--sandbox", "-q"])
    assert result.exit_code == 0, result.explain()
    (record_path,) = tmp_path.rglob("*.run.json")
    record = json.loads(record_path.read_text())
    output = Path(record["output"]["path"]).read_bytes()
    assert record["output"]["bytes"] == len(output)
    if record["output"]["format"] == "csv":
        expected = len(list(csv.reader(io.StringIO(output.decode(), newline="")))) - 1
    else:
        document = json.loads(output)
        expected = len(document.get("rows", document.get("data", [])))
    assert record["output"]["rows"] == expected > 0


def test_sandbox_ignores_exportspec_connection_variables(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTSPEC_BASE_URL", "https://api.exponea.com")
    monkeypatch.setenv("EXPORTSPEC_PROJECT_TOKEN", "real-project")
    result = run_cli(["run", str(copy_spec("csv.yaml", tmp_path)), "--sandbox", "-q"])
    assert result.exit_code == 0, result.explain()


@pytest.mark.parametrize(
    ("faults", "code", "requests_made"),
    [
        (["429x2:ra=0"], 0, 3),
        (["503x1"], 0, 2),
        (["truncate"], 0, 2),
        (["reset"], 0, 2),
        (["truncate", "reset", "503x1"], 5, 3),
        (["success-false"], 4, 1),
    ],
)
def test_faults_of_the_sandbox(
    run_cli: RunCli, tmp_path: Path, faults: list[str], code: int, requests_made: int
) -> None:
    spec = copy_spec("csv.yaml", tmp_path)
    with running_sandbox(customers=3000, fail=faults) as sandbox:
        result = run_cli(
            ["run", str(spec), "-o", "out.csv", "--retries", "2", "--base-url", sandbox.base_url,
             "--project-token", sandbox.project_token],
            env={"EXPORTSPEC_API_KEY_ID": sandbox.api_key_id,
                 "EXPORTSPEC_API_SECRET": sandbox.api_secret},
        )  # fmt: skip
        assert result.exit_code == code, result.explain()
        assert sandbox.request_count == requests_made
    assert (tmp_path / "out.csv").exists() == (code == 0)
    assert not list(tmp_path.glob(".*.part"))
    if code == 0:
        record = json.loads((tmp_path / "out.csv.run.json").read_text())
        assert record["output"]["rows"] == 3000
        assert record["response"]["attempts"] == requests_made


def test_sandbox_wrong_secret_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    spec = copy_spec("csv.yaml", tmp_path)
    with running_sandbox() as sandbox:
        result = run_cli(
            ["run", str(spec), "--base-url", sandbox.base_url, "--project-token", "sandbox"],
            env={"EXPORTSPEC_API_KEY_ID": "sandbox", "EXPORTSPEC_API_SECRET": "wrong-secret"},
        )
    assert result.exit_code == 4, result.explain()
    assert "HTTP 403" in result.stderr and "hint:" in result.stderr
    assert_no_secret(result.stderr)
