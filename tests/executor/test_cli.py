"""Dry run, secrets, configuration and usage errors, and one test per exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.executor.conftest import (
    BASIC,
    DATA,
    KEY_ID,
    SECRET,
    Reply,
    ScriptServer,
    assert_no_secret,
    copy_spec,
    subprocess_env,
)


def test_dry_run_prints_the_request_and_sends_nothing(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    result = run_cli(
        ["run", str(spec), "--dry-run", "--base-url", server.base_url, "--project-token", "tok"]
    )
    assert result.exit_code == 0, result.explain()
    assert server.count == 0
    assert not (tmp_path / "exports").exists()
    assert_no_secret(result.stdout_bytes, result.stderr)
    assert KEY_ID not in result.stdout
    body = run_cli(["compile", str(spec)]).stdout.strip()
    lines = result.stdout.splitlines()
    assert lines[0] == f"POST {server.base_url}/data/v2/projects/tok/customers/export"
    assert "Authorization: Basic <redacted>" in lines
    assert "Content-Type: application/json" in lines
    assert body in lines
    assert '-u "$EXPORTSPEC_API_KEY_ID:$EXPORTSPEC_API_SECRET"' in result.stdout
    assert f"--data-binary '{body}'" in result.stdout
    assert "--create-dirs -o exports/contacts.csv" in result.stdout


def test_dry_run_curl_command_sends_the_same_bytes(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    """The printed curl command, run by a shell, makes the request `run` would make."""
    result = run_cli(
        ["run", str(spec), "--dry-run", "-o", "new/curl.csv", "--base-url", server.base_url]
    )
    assert result.exit_code == 0, result.explain()
    command = result.stdout.split("# The same request with curl", 1)[1].split("\n", 1)[1]
    env = subprocess_env(EXPORTSPEC_PROJECT_TOKEN="tok")
    subprocess.run(["sh", "-c", command], env=env, cwd=tmp_path, check=True, timeout=10)
    assert (tmp_path / "new" / "curl.csv").read_bytes() == Reply().body
    (seen,) = server.requests
    assert seen.path == "/data/v2/projects/tok/customers/export"
    assert seen.headers["Authorization"] == f"Basic {BASIC}"
    assert seen.body == run_cli(["compile", str(spec)]).stdout_bytes.rstrip(b"\n")
    # curl decodes what it asks to be compressed, as exportspec does: the file is the CSV
    assert "gzip" in seen.headers.get("Accept-Encoding", "")


def test_sandbox_dry_run_targets_the_sandbox_command_and_starts_nothing(run_cli: RunCli) -> None:
    result = run_cli(["run", str(DATA / "csv.yaml"), "--sandbox", "--dry-run"])
    assert result.exit_code == 0, result.explain()
    assert result.stdout.startswith(
        "POST http://127.0.0.1:8787/data/v2/projects/sandbox/customers/export\n"
    )
    assert "started by `exportspec sandbox`" in result.stdout
    assert "-u sandbox:sandbox" in result.stdout
    assert "sandbox serving" not in result.stderr


def test_secrets_never_reach_output_records_or_errors(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    # A hostile or buggy server echoing the Authorization header and the secret back.
    echo = json.dumps({"success": False, "error": f"bad auth Basic {BASIC} / {SECRET}"})
    server.script(Reply(body=b"id\n1\n"), Reply(401, echo.encode()), Reply(503, echo.encode()))
    args = [
        "run",
        str(spec),
        "-o",
        "out.csv",
        "--base-url",
        server.base_url,
        "--project-token",
        "t",
    ]
    ok = run_cli(args)
    refused = run_cli(args)
    transient = run_cli([*args, "--retries", "0"])
    dry = run_cli([*args, "--dry-run"])
    assert [r.exit_code for r in (ok, refused, transient, dry)] == [0, 4, 5, 0]
    assert "bad auth Basic ***" in refused.stderr
    for result in (ok, refused, transient, dry):
        assert_no_secret(result.stdout_bytes, result.stderr)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert_no_secret(path.read_bytes())


def test_missing_credentials_exit_3_before_sending(
    run_cli: RunCli, server: ScriptServer, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXPORTSPEC_API_SECRET")
    result = run_cli(["run", str(spec), "--base-url", server.base_url, "--project-token", "t"])
    assert result.exit_code == 3, result.explain()
    assert "set EXPORTSPEC_API_SECRET" in result.stderr
    assert server.count == 0


def test_missing_token_exits_3(run_cli: RunCli, server: ScriptServer, spec: Path) -> None:
    result = run_cli(["run", str(spec), "--base-url", server.base_url])
    assert result.exit_code == 3
    assert "EXPORTSPEC_PROJECT_TOKEN" in result.stderr
    assert server.count == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://api.exponea.com", "plain http://"),
        ("https//api.exponea.com", "not an http(s) URL"),
    ],
)
def test_bad_base_url_exits_3(run_cli: RunCli, spec: Path, url: str, message: str) -> None:
    result = run_cli(["run", str(spec), "--base-url", url, "--project-token", "t"])
    assert result.exit_code == 3
    assert message in result.stderr and "--base-url" in result.stderr
    assert "Traceback" not in result.stderr


def test_environment_variables_configure_the_connection(
    run_cli: RunCli, server: ScriptServer, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTSPEC_BASE_URL", server.base_url)
    monkeypatch.setenv("EXPORTSPEC_PROJECT_TOKEN", "from-env")
    result = run_cli(["run", str(spec), "-q"])
    assert result.exit_code == 0, result.explain()
    assert server.requests[0].path == "/data/v2/projects/from-env/customers/export"


def test_exportspec_toml_environment_supplies_url_and_token(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    (tmp_path / "exportspec.toml").write_text(
        f'[environments.local]\nbase_url = "{server.base_url}"\nproject_token = "from-toml"\n'
    )
    result = run_cli(["run", str(spec), "--env", "local", "-q"])
    assert result.exit_code == 0, result.explain()
    assert server.requests[0].path == "/data/v2/projects/from-toml/customers/export"


@pytest.mark.parametrize(
    "args",
    [
        ["--retries", "-1"],
        ["--timeout", "0"],
        ["--deadline", "soon"],
        ["--timeout", "nan"],
        ["--connect-timeout", "inf"],
        ["--deadline", "1e300"],
        ["--sandbox", "--base-url", "http://127.0.0.1:1"],
    ],
)
def test_bad_flags_exit_2(run_cli: RunCli, spec: Path, args: list[str]) -> None:
    result = run_cli(["run", str(spec), *args])
    assert result.exit_code == 2, result.explain()


def test_invalid_spec_exits_1_without_sending(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    spec = copy_spec("invalid.yaml", tmp_path)
    result = run_cli(["run", str(spec), "--base-url", server.base_url, "--project-token", "t"])
    assert result.exit_code == 1
    assert "invalid.yaml:4:11: error:" in result.stderr
    assert server.count == 0


def test_help_does_not_import_requests() -> None:
    code = (
        "import sys\n"
        "from exportspec.cli import main\n"
        "for args in (['--help'], ['run', '--help'], ['rerun', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'requests' not in sys.modules, 'requests imported'\n"
        "assert 'urllib3' not in sys.modules, 'urllib3 imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=subprocess_env(),
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"--deadline" in done.stdout and b"--dry-run" in done.stdout
