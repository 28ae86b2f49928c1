"""Host names that do not resolve: a name DNS does not know is a configuration error at
once; a resolver that cannot be reached is transient and retried.

The resolver is the one thing emulated here (socket.getaddrinfo), so that no test sends a
DNS query to any host; urllib3 and requests run unchanged on top of it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli
from tests.executor.conftest import assert_no_secret

HOST = "exports.example.test"
URL = f"https://{HOST}"


def resolver(code: int, calls: list[str]) -> Callable[..., Any]:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        if host == HOST:
            calls.append(host)
            raise socket.gaierror(code, f"emulated resolver answer {code}")
        return real(host, *args, **kw)

    return getaddrinfo


def test_unknown_host_is_a_configuration_error_without_retries(
    run_cli: RunCli, spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", resolver(socket.EAI_NONAME, calls))
    result = run_cli(["run", str(spec), "--base-url", URL, "--project-token", "tok"])
    assert_no_secret(result.stdout, result.stderr)
    assert result.exit_code == 3, result.stderr
    assert f"the host '{HOST}' was not found by DNS" in result.stderr
    assert "hint: check the base URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert calls == [HOST]  # asked once: the answer will not change
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [spec.name]


def test_unreachable_resolver_is_transient_and_retried(
    run_cli: RunCli, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", resolver(socket.EAI_AGAIN, calls))
    monkeypatch.setenv("EXPORTSPEC_BACKOFF_FACTOR", "0.01")
    result = run_cli(
        ["run", str(spec), "--base-url", URL, "--project-token", "tok", "--retries", "2"]
    )
    assert result.exit_code == 5, result.stderr
    assert "the host name could not be resolved" in result.stderr
    assert calls == [HOST] * 3
