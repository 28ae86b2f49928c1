"""Where credentials may go: proxies never see loopback traffic, broken TLS or proxy
settings are configuration errors (exit 3) found before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.executor.conftest import Reply, ScriptServer

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


@pytest.fixture
def dead_proxy(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> str:
    """Every proxy variable points at a port nothing listens on; no NO_PROXY."""
    proxy = f"http://127.0.0.1:{closed_port}"
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    return proxy


def test_loopback_traffic_bypasses_the_proxy(
    dead_proxy: str, run_cli: RunCli, server: ScriptServer, spec: Path
) -> None:
    server.script(Reply(body=b"id\n1\n"))
    result = run_cli(
        ["run", str(spec), "-o", "out.csv", "--base-url", server.base_url, "--project-token", "t"]
    )
    assert result.exit_code == 0, result.explain()
    assert server.count == 1  # reached directly


def test_sandbox_runs_with_proxies_set(dead_proxy: str, run_cli: RunCli, spec: Path) -> None:
    result = run_cli(["run", str(spec), "--sandbox", "-o", "out.csv", "-q"])
    assert result.exit_code == 0, result.explain()


@pytest.mark.parametrize(
    ("proxy", "said"),
    [("socks5://127.0.0.1:9", "requests[socks]"), ("ftp://127.0.0.1:9", "unsupported scheme")],
)
def test_an_unusable_proxy_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, run_cli: RunCli, spec: Path, proxy: str, said: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    result = run_cli(
        ["run", str(spec), "--base-url", "https://api.example.invalid", "--project-token", "t",
         "--retries", "3"]
    )  # fmt: skip
    assert result.exit_code == 3, result.explain()
    assert said in result.stderr and "HTTPS_PROXY" in result.stderr
    assert "retrying" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"])
@pytest.mark.parametrize("problem", ["missing", "not-pem"])
def test_a_bad_ca_bundle_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    spec: Path,
    tmp_path: Path,
    variable: str,
    problem: str,
) -> None:
    bundle = tmp_path / "ca.pem"
    if problem == "not-pem":
        bundle.write_text("this is not a certificate\n")
    monkeypatch.setenv(variable, str(bundle))
    result = run_cli(
        ["run", str(spec), "--base-url", "https://api.example.invalid", "--project-token", "t"]
    )
    assert result.exit_code == 3, result.explain()
    assert f"{variable}=" in result.stderr
    assert "Traceback" not in result.stderr


def test_max_bytes_refuses_a_bigger_answer_and_keeps_nothing(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    server.script(Reply(body=b"id\n" + b"1\n" * 50_000))
    result = run_cli(
        ["run", str(spec), "-o", "out.csv", "--base-url", server.base_url, "--project-token", "t",
         "--max-bytes", "1000"]
    )  # fmt: skip
    assert result.exit_code == 4, result.explain()
    assert "larger than --max-bytes (1,000 bytes): not an export we accept" in result.stderr
    assert not (tmp_path / "out.csv").exists()
    assert server.count == 1  # a refusal is not retried


def test_a_small_gzip_body_that_expands_hits_max_bytes(
    run_cli: RunCli,
    server: ScriptServer,
    spec: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gzip

    bomb = gzip.compress(b"id\n" + b"0\n" * 5_000_000)  # 10 MB that travel as a few kB
    server.script(Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    monkeypatch.setenv("EXPORTSPEC_MAX_BYTES", "1000000")
    result = run_cli(
        ["run", str(spec), "-o", "out.csv", "--base-url", server.base_url, "--project-token", "t"]
    )
    assert result.exit_code == 4, result.explain()
    assert server.requests[0].headers["Accept-Encoding"] == "gzip, deflate"
    assert len(bomb) < 1_000_000


def test_success_false_anywhere_in_a_json_answer_to_a_csv_request_is_a_refusal(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    padding = ["x" * 100] * 2000  # past the bytes held back to look at the start
    body = json.dumps({"rows": padding, "error": "No permission", "success": False}).encode()
    server.script(Reply(body=body, headers={"Content-Type": "application/json"}))
    result = run_cli(
        ["run", str(spec), "-o", "out.csv", "--base-url", server.base_url, "--project-token", "t"]
    )
    assert result.exit_code == 4, result.explain()
    assert "HTTP 200 with success: false" in result.stderr and "No permission" in result.stderr
    assert not (tmp_path / "out.csv").exists()
