"""Fault injection: the grammar, and each fault over real HTTP."""

from __future__ import annotations

import io
import threading
import time

import pytest
import requests

from exportspec.errors import UsageError
from exportspec.sandbox import parse_faults, running_sandbox
from exportspec.sandbox.faults import Fault, FaultSpecError, parse_fault

from .conftest import post

BIG = 20_000  # customers: enough for a chunked response


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("429", Fault("429", retry_after="1")),
        ("429x2", Fault("429", count=2, retry_after="1")),
        ("429x2:ra=0", Fault("429", count=2, retry_after="0")),
        ("503x1", Fault("503")),
        ("503:ra=5", Fault("503", retry_after="5")),
        ("500x3", Fault("500", count=3)),
        ("success-false", Fault("success-false")),
        ("truncate", Fault("truncate")),
        ("truncatex2", Fault("truncate", count=2)),
        ("reset", Fault("reset")),
        ("slow=2.5", Fault("slow", seconds=2.5)),
        ("slow=1x3:at=body", Fault("slow", count=3, seconds=1.0, at_body=True)),
        ("503:ra=007", Fault("503", retry_after="7")),
        ("500x" + "0" * 30 + "2", Fault("500", count=2)),
    ],
)
def test_fault_grammar(spec: str, expected: Fault) -> None:
    assert parse_fault(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["", "418", "429x", "429x0", "slow", "slow=", "reset=1", "429:at=body", "slow=1:ra=1", "500:x",
     "slow=99999999999999999999", "slow=86401", "429x" + "9" * 19, "429x" + "9" * 5000,
     "slow=1x" + "9" * 5000, "503:ra=" + "9" * 19, "503:ra=" + "9" * 5000, "slow=" + "9" * 5000],
)  # fmt: skip
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(FaultSpecError, match="bad fault") as caught:
        parse_fault(spec)
    assert len(str(caught.value)) < 200, "a long spec is not echoed back whole"
    with pytest.raises(UsageError):
        parse_faults([spec])


def test_429_twice_with_retry_after_then_normal() -> None:
    with running_sandbox(customers=5, fail=["429x2"]) as sb, requests.Session() as s:
        for _ in range(2):
            response = post(sb, {"format": "csv"}, session=s)
            assert response.status_code == 429
            assert response.headers["Retry-After"] == "1"
            assert response.json()["success"] is False
        assert post(sb, {"format": "csv"}, session=s).status_code == 200
        assert sb.request_count == 3


def test_a_huge_count_is_counted_not_expanded() -> None:
    plan = parse_faults(["429x99999999999999", "500"])
    assert plan.remaining == 99999999999999 + 1
    assert plan.take() == Fault("429", count=99999999999999, retry_after="1")
    assert plan.remaining == 99999999999999


def test_retry_after_is_configurable() -> None:
    with running_sandbox(customers=5, fail=["429:ra=0", "503:ra=7"]) as sb:
        assert post(sb, {"format": "csv"}).headers["Retry-After"] == "0"
        assert post(sb, {"format": "csv"}).headers["Retry-After"] == "7"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_then_normal(status: int) -> None:
    with running_sandbox(customers=5, fail=[f"{status}x2"]) as sb:
        first, second, third = (post(sb, {"format": "csv"}) for _ in range(3))
        assert (first.status_code, second.status_code, third.status_code) == (status, status, 200)
        assert "Retry-After" not in first.headers
        assert first.json()["success"] is False


def test_status_faults_answer_before_auth() -> None:
    with running_sandbox(customers=5, fail=["503"]) as sb:
        assert post(sb, {"format": "csv"}, auth=("x", "y")).status_code == 503
        assert post(sb, {"format": "csv"}, auth=("x", "y")).status_code == 401


def test_success_false_is_http_200() -> None:
    with running_sandbox(customers=5, fail=["success-false"]) as sb:
        response = post(sb, {"format": "csv"})
        assert response.status_code == 200
        assert response.json()["success"] is False
        assert "error" in response.json()
        assert post(sb, {"format": "csv"}).content.startswith(b"registered,")


def test_faults_run_in_order() -> None:
    with running_sandbox(customers=5, fail=["429", "500x2", "success-false"]) as sb:
        statuses = [post(sb, {"format": "csv"}).status_code for _ in range(5)]
    assert statuses == [429, 500, 500, 200, 200]


def test_truncate_small_response_breaks_its_content_length() -> None:
    with running_sandbox(customers=5, fail=["truncate"]) as sb:
        with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
            post(sb, {"format": "csv"})
        assert post(sb, {"format": "csv"}).status_code == 200


def test_truncate_big_response_breaks_its_chunked_framing() -> None:
    with running_sandbox(customers=BIG, fail=["truncatex2"]) as sb:
        for _ in range(2):
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                post(sb, {"format": "csv"})
        assert post(sb, {"format": "csv"}).status_code == 200


def test_truncate_is_visible_at_the_socket_level() -> None:
    # requests hides how the body ended; a raw read shows the close before the promised end.
    import http.client

    with running_sandbox(customers=5, fail=["truncate"]) as sb:
        host, port = sb.base_url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request(
            "POST",
            sb.export_url.removeprefix(sb.base_url),
            body=b'{"format": "csv"}',
            headers={
                "Content-Type": "application/json",
                "Authorization": "Basic c2FuZGJveDpzYW5kYm94",
            },
        )
        response = connection.getresponse()
        promised = int(response.headers["Content-Length"])
        with pytest.raises(http.client.IncompleteRead) as caught:
            response.read()
        assert 0 < len(caught.value.partial) < promised
        connection.close()


@pytest.mark.parametrize("customers", [5, BIG])
def test_reset_mid_body(customers: int) -> None:
    with running_sandbox(customers=customers, fail=["reset"]) as sb:
        broken = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
        with pytest.raises(broken, match="Connection reset by peer"):
            post(sb, {"format": "csv"})
        assert post(sb, {"format": "csv"}).status_code == 200


def test_slow_before_headers_hits_a_read_timeout() -> None:
    with running_sandbox(customers=5, fail=["slow=5"]) as sb:
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(
                sb.export_url, json={"format": "csv"}, auth=("sandbox", "sandbox"), timeout=0.5
            )
        assert post(sb, {"format": "csv"}).status_code == 200


def test_slow_at_body_stalls_after_the_headers() -> None:
    # Generous margins: the headers must arrive within the timeout even on a busy machine.
    with running_sandbox(customers=BIG, fail=["slow=10:at=body"]) as sb:
        response = requests.post(
            sb.export_url,
            json={"format": "csv"},
            auth=("sandbox", "sandbox"),
            timeout=1.5,
            stream=True,
        )
        assert response.status_code == 200
        with pytest.raises(requests.exceptions.ConnectionError, match="timed out"):
            for _ in response.iter_content(1 << 20):
                pass
        response.close()


def test_slow_response_finishes_when_waited_for() -> None:
    with running_sandbox(customers=5, fail=["slow=0.3"]) as sb:
        started = time.monotonic()
        assert post(sb, {"format": "csv"}).status_code == 200
        assert time.monotonic() - started >= 0.3
        assert sb.server.stalls == 1


@pytest.mark.parametrize("at", ["start", "body"])
def test_slow_waits_once(at: str) -> None:
    # A body of several chunks: a stall per chunk would be counted more than once.
    with running_sandbox(customers=BIG, fail=[f"slow=0.3:at={at}"]) as sb:
        started = time.monotonic()
        response = post(sb, {"format": "csv"})
        assert response.status_code == 200
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert len(response.content.splitlines()) == BIG + 1
        assert time.monotonic() - started >= 0.3
        assert sb.server.stalls == 1  # counted before the stall, so before the body ended


class _Log(io.StringIO):
    """A sandbox request log that says when a whole line has arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.line = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if text.endswith("\n"):
            self.line.set()
        return written


def test_shutdown_drops_a_slow_response_instead_of_waiting_for_it() -> None:
    log = _Log()
    with running_sandbox(customers=5, fail=["slow=30"], log=log) as sb:
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(
                sb.export_url, json={"format": "csv"}, auth=("sandbox", "sandbox"), timeout=0.2
            )
        assert sb.server.stalled.wait(60), "the request never reached the slow fault"
    # The shutdown woke the stalled handler: it logged the request with nothing sent
    # (status 0). One left to sleep out its 30 s would log a 200, after the client left.
    assert log.line.wait(60), "the stalled request was never logged"
    (line,) = log.getvalue().splitlines()
    assert '" 0 0B ' in line and line.endswith(" fault=slow"), line
    assert sb.server.stalls == 1
