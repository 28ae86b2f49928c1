"""The sandbox's answers: the JSON error shape of the real endpoint, and the statuses its
fault injection (`sandbox --fail`) sends."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from exportspec.sandbox.faults import Fault


@dataclass(slots=True)
class Response:
    """An answer: status, body chunks (streamed), type and extra headers."""

    status: int
    chunks: Iterator[bytes]
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    #: The body's whole length, for a streamed body (renders it once more to count).
    measure: Callable[[], int] | None = None


def json_body(status: int, payload: dict[str, Any], *headers: tuple[str, str]) -> Response:
    data = json.dumps(payload, ensure_ascii=False).encode()
    return Response(status, iter([data]), headers=headers)


def error(status: int, message: str, *headers: tuple[str, str]) -> Response:
    return json_body(status, {"success": False, "error": message}, *headers)


def status_fault(fault: Fault) -> Response:
    headers = () if fault.retry_after is None else (("Retry-After", fault.retry_after),)
    if fault.kind == "success-false":
        return error(200, "Injected failure (sandbox --fail success-false)")
    messages = {
        429: "Too many requests",
        500: "Internal server error",
        502: "Bad gateway",
        503: "Service unavailable",
        504: "Gateway timeout",
    }
    text = f"{messages[fault.status]} (injected by sandbox --fail {fault.kind})"
    return error(fault.status, text, *headers)
