"""`exportspec sandbox` on the command line: --describe, option errors, start and stop."""

from __future__ import annotations

import json
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import requests
from click.testing import CliRunner, Result

from exportspec.cli import main
from exportspec.errors import ExitCode
from tests.conftest import default_sigint

from .conftest import DATA


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["sandbox", *args], catch_exceptions=False)


def test_describe_prints_the_project_as_product_md_says() -> None:
    result = run("--describe")
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert described["project_token"] == "sandbox"
    assert described["credentials"] == {"api_key_id": "sandbox", "api_secret": "sandbox"}
    assert described["customers"] == 1000
    assert described["ids"] == ["registered", "cookie"]
    assert {
        "email",
        "first_name",
        "last_name",
        "city",
        "country",
        "total_spent",
        "registered_at",
    } <= set(described["properties"])
    assert len(described["segmentations"]) >= 2
    for segmentation in described["segmentations"]:
        assert re.fullmatch(r"[0-9a-f]{24}", segmentation["id"])
        assert segmentation["name"]
        assert len(segmentation["segments"]) >= 2
    assert {a["type"] for a in described["attributes"]} == {
        "aggregate",
        "expression",
        "prediction",
        "recommendation",
        "consent",
    }
    assert described["base_url"] == "http://127.0.0.1:8787"


def test_describe_follows_options() -> None:
    described = json.loads(run("--describe", "--customers", "5", "--port", "9000").stdout)
    assert described["customers"] == 5
    assert described["base_url"] == "http://127.0.0.1:9000"
    from_file = json.loads(run("--describe", "--data", str(DATA / "customers.jsonl")).stdout)
    assert from_file["customers"] == 4


def test_help_documents_fault_grammar_data_format_and_exit() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for text in (
        "KIND[=SECONDS][xCOUNT]",
        "429x2",
        "truncate",
        "reset",
        "slow=SECONDS",
        "JSON Lines",
        "days_since:PROPERTY",
        "exits 0",
    ):
        assert text in result.output, text


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--fail", "teapot"], id="bad-fault"),
        pytest.param(["--fail", "429x" + "9" * 5000, "--describe"], id="count-too-long"),
        pytest.param(["--fail", "slow=" + "9" * 400, "--describe"], id="slow-overflows"),
        pytest.param(["--fail", "500:ra=" + "9" * 5000, "--describe"], id="ra-too-long"),
        pytest.param(["--customers", "-1"], id="negative-customers"),
        pytest.param(["--port", "70000"], id="bad-port"),
        pytest.param(["--data", "/nonexistent/file.jsonl"], id="missing-data-file"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr) < 2000, "the usage error is not drowned in the echoed value"


def test_a_huge_fault_count_starts_at_once() -> None:
    result = run("--fail", "429x99999999999999", "--describe")
    assert result.exit_code == 0, result.output


def test_non_loopback_host_is_refused_without_allow_remote() -> None:
    result = run("--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("Usage: exportspec sandbox ")  # like every usage error
    assert "\nError: refusing to listen on '0.0.0.0'" in result.stderr
    assert "--allow-remote" in result.stderr


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("broken-json", ":3: invalid JSON"),
        ("too-deep", ":2: invalid JSON: nested too deeply"),
        ("deep-for-an-export", ":2: invalid JSON: nested too deeply (more than 100 levels)"),
        ("nan-value", ":2: invalid JSON: NaN is not a JSON value"),
        ("number-out-of-range", ":2: invalid JSON: number 1e400 is out of range"),
    ],
)
def test_invalid_data_file_is_a_config_error(name: str, problem: str) -> None:
    result = run("--data", str(DATA / "invalid" / f"{name}.jsonl"), "--describe")
    assert result.exit_code == ExitCode.CONFIG, result.output
    assert result.stderr.startswith("Error: ")
    assert f"{name}.jsonl{problem}" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run("--port", str(taken.getsockname()[1]))
    assert result.exit_code == ExitCode.CONFIG
    assert "cannot listen on 127.0.0.1:" in result.stderr


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m exportspec sandbox --port 0` in a child process, and its base URL."""
    extra: list[str] = getattr(request, "param", [])
    process = subprocess.Popen(
        [sys.executable, "-m", "exportspec", "sandbox", "--port", "0", "--customers", "10", *extra],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,  # noqa: PLW1509 - it only calls signal.signal
    )
    watchdog = threading.Timer(20, process.kill)
    watchdog.start()
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+)", banner)
        assert found, banner
        for _ in range(3):  # the rest of the banner
            process.stderr.readline()
        yield process, found[1]
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stderr is not None
        process.stderr.close()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serves_logs_each_request_and_stops_cleanly(
    served: tuple[subprocess.Popen[str], str], stop: signal.Signals
) -> None:
    process, base_url = served
    url = f"{base_url}/data/v2/projects/sandbox/customers/export"
    response = requests.post(url, json={"format": "csv"}, auth=("sandbox", "sandbox"), timeout=10)
    assert response.status_code == 200
    assert response.content.count(b"\r\n") == 11
    refused = requests.post(url, json={"format": "csv"}, timeout=10)
    assert refused.status_code == 401
    assert process.stderr is not None
    # Each line is written when its response is done; two connections may log in either order.
    lines = sorted(
        [process.stderr.readline(), process.stderr.readline()], key=lambda x: " 401 " in x
    )
    assert re.fullmatch(
        r'127\.0\.0\.1 "POST /data/v2/projects/sandbox/customers/export" 200 \d+B [\d.]+s\n',
        lines[0],
    ), lines
    assert " 401 " in lines[1]
    process.send_signal(stop)
    assert process.wait(timeout=10) == 0
    assert "stopped" in process.stderr.read()


@pytest.mark.parametrize("served", [["--fail", "503x1"]], indirect=True)
def test_faults_from_the_command_line(served: tuple[subprocess.Popen[str], str]) -> None:
    process, base_url = served
    url = f"{base_url}/data/v2/projects/sandbox/customers/export"
    statuses = [
        requests.post(
            url, json={"format": "csv"}, auth=("sandbox", "sandbox"), timeout=10
        ).status_code
        for _ in range(2)
    ]
    assert statuses == [503, 200]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_a_client_resetting_an_idle_connection_is_not_an_error(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    process, base_url = served
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"POST /data/v2/projects/sandbox/customers/export HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Basic c2FuZGJveDpzYW5kYm94\r\nContent-Type: application/json\r\n"
            b'Content-Length: 16\r\n\r\n{"format":"csv"}'
        )
        answer = raw.makefile("rb")
        assert answer.readline().startswith(b"HTTP/1.1 200")
        headers = dict(line.decode().split(": ", 1) for line in iter(answer.readline, b"\r\n"))
        answer.read(int(headers["Content-Length"]))
        answer.close()
        # The whole answer is in; the keep-alive connection idles. Close it with a reset.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    url = f"{base_url}/data/v2/projects/sandbox/customers/export"
    assert requests.post(url, json={"format": "csv"}, auth=("sandbox", "sandbox"), timeout=10).ok
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    assert process.stderr is not None
    log = process.stderr.read()
    assert "Traceback" not in log and "Exception occurred" not in log, log


def test_sandbox_module_does_not_import_requests() -> None:
    code = (
        "import sys; import exportspec.sandbox, exportspec.cli.sandbox_cmd; "
        "from exportspec.sandbox import server, synthetic, export, faults, datafile; "
        "print('requests' in sys.modules, 'urllib3' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_sandbox_help_is_reachable_from_the_group() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "sandbox" in result.output
