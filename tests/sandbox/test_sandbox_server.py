"""The in-process API: loopback only, clean shutdown, the returned object."""

from __future__ import annotations

import socket

import pytest
import requests

from exportspec.errors import ConfigError, UsageError
from exportspec.run.settings import is_loopback
from exportspec.sandbox import running_sandbox

from .conftest import post


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_non_loopback_host_is_refused() -> None:
    with pytest.raises(UsageError, match="--allow-remote"), running_sandbox(host="0.0.0.0"):
        pass


def test_ipv6_loopback_works() -> None:
    with running_sandbox(host="::1", customers=2) as sb:
        assert sb.base_url.startswith("http://[::1]:")
        assert post(sb, {"format": "csv"}).status_code == 200


def test_returned_object_describes_itself() -> None:
    with running_sandbox(customers=3, seed=5) as sb:
        described = sb.describe()
        assert sb.base_url.startswith("http://127.0.0.1:")
        assert sb.export_url == f"{sb.base_url}/data/v2/projects/sandbox/customers/export"
        assert (sb.project_token, sb.api_key_id, sb.api_secret) == ("sandbox",) * 3
        assert described["base_url"] == sb.base_url
        assert described["export_url"] == sb.export_url
        assert (described["customers"], described["seed"]) == (3, 5)
        assert sb.request_count == 0


def test_exit_closes_keep_alive_connections_and_frees_the_port() -> None:
    session = requests.Session()
    with running_sandbox(customers=3) as sb:
        assert post(sb, {"format": "csv"}, session=session).status_code == 200
        port = int(sb.base_url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        # SO_REUSEADDR tolerates TIME_WAIT leftovers but not a live listener on the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()
    with pytest.raises(requests.exceptions.ConnectionError):
        post(sb, {"format": "csv"}, session=session)
    session.close()


def test_port_in_use_is_a_config_error() -> None:
    with running_sandbox(customers=1) as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        with (
            pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"),
            running_sandbox(port=port),
        ):
            pass
