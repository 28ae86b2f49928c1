"""`--fail truncate` does what its help says: the connection closes after the first half of
the body's bytes, under a promise of all of them, small body or streamed export alike."""

from __future__ import annotations

import socket

import pytest

from exportspec.sandbox import Sandbox, running_sandbox

from .conftest import post


def _raw_answer(sandbox: Sandbox, body: bytes) -> tuple[str, bytes]:
    """Headers and body bytes as they arrived until the server closed the connection.

    Read off the socket: http.client drops the last, partly sent chunk of a chunked body.
    """
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    path = sandbox.export_url.removeprefix(sandbox.base_url)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        "Content-Type: application/json\r\nAuthorization: Basic c2FuZGJveDpzYW5kYm94\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    received = bytearray()
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        while data := connection.recv(1 << 16):
            received += data
    head, _, raw = bytes(received).partition(b"\r\n\r\n")
    return head.decode().lower(), raw


def _unchunked(raw: bytes) -> tuple[bytes, bool]:
    """The body of chunked framing, and whether its framing was complete."""
    body = bytearray()
    while raw:
        size_line, _, raw = raw.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return bytes(body), True
        body += raw[:size]
        if len(raw) < size + 2:
            break
        raw = raw[size + 2 :]
    return bytes(body), False


def _half_sent(sandbox: Sandbox, body: bytes) -> bytes:
    """The body bytes of a truncated answer, checked to promise more than they deliver."""
    head, raw = _raw_answer(sandbox, body)
    if "transfer-encoding: chunked" in head:
        sent, complete = _unchunked(raw)
        assert not complete, "a truncated chunked body must not end with the last chunk"
        return sent
    promised = int(head.split("content-length: ")[1].split("\r\n")[0])
    assert len(raw) < promised
    return raw


@pytest.mark.parametrize("customers", [5, 20_000])
def test_truncate_sends_exactly_the_first_half(customers: int) -> None:
    with running_sandbox(customers=customers, fail=["truncate"]) as sb:
        partial = _half_sent(sb, b'{"format": "csv"}')
        whole = post(sb, {"format": "csv"}).content  # the fault is used up: all of it
    assert len(partial) == len(whole) // 2
    assert partial == whole[: len(partial)]


def test_truncate_halves_a_json_export_and_an_error_answer_too() -> None:
    with running_sandbox(customers=30_000, fail=["truncatex2"]) as sb:
        partial = _half_sent(sb, b'{"format": "table_json"}')
        refused = _half_sent(sb, b'{"format": "xml"}')
        whole = post(sb, {"format": "table_json"}).content
        error = post(sb, {"format": "xml"}).content
    assert len(whole) > 1_000_000, "a streamed export, of several chunks"
    assert partial == whole[: len(whole) // 2]
    assert refused == error[: len(error) // 2]
