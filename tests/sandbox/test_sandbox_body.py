"""Request checks: content type, JSON, the body schema and the rules it cannot express."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
import requests

from exportspec.sandbox import Sandbox
from exportspec.spec.rules import MAX_EXECUTION_TIME

from .conftest import DATA, PURCHASE_COUNT, TENURE, TENURE_DAYS, csv_rows, post


def _errors(response: requests.Response) -> list[str]:
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["success"] is False
    assert isinstance(payload["errors"], list)
    return list(payload["errors"])


def test_content_type_must_be_json(sandbox: Sandbox) -> None:
    response = requests.post(
        sandbox.export_url,
        data=b'{"format": "csv"}',
        headers={"Content-Type": "text/plain"},
        auth=("sandbox", "sandbox"),
        timeout=10,
    )
    assert response.status_code == 415
    assert response.json() == {
        "success": False,
        "error": "Content-Type must be application/json",
    }


def test_content_type_with_charset_is_fine(sandbox: Sandbox) -> None:
    response = requests.post(
        sandbox.export_url,
        data=b'{"format": "csv"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
        auth=("sandbox", "sandbox"),
        timeout=10,
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"{", id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"format": NaN}', id="nan"),
        pytest.param(b"\xff\xfe{", id="not-utf8"),
        pytest.param(b'{"format": "csv", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                     id="too-deep"),
        pytest.param(b'{"format": "csv", "execution_time": Infinity}', id="infinity"),
        pytest.param(b'{"format": "csv", "execution_time": -Infinity}', id="minus-infinity"),
        pytest.param(b'{"format": "csv", "execution_time": 1e400}', id="float-overflow"),
        pytest.param(b'{"format": "csv", "x": [-1e400]}', id="negative-float-overflow"),
    ],
)  # fmt: skip
def test_invalid_json_is_400(sandbox: Sandbox, raw: bytes) -> None:
    response = requests.post(
        sandbox.export_url,
        data=raw,
        headers={"Content-Type": "application/json"},
        auth=("sandbox", "sandbox"),
        timeout=10,
    )
    errors = _errors(response)
    assert errors[0].startswith("Invalid JSON")


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# Depths just inside the parser's own limit parse, and used to crash the schema check's
# error message (repr) in the server thread: no answer, a traceback on the log.
@pytest.mark.parametrize("depth", [101, 500, 970, 975, 980, 985, 990])
@pytest.mark.parametrize(
    "template",
    [
        pytest.param(b'{"format": %s}', id="format"),
        pytest.param(b'{"format": "csv", "execution_time": %s}', id="execution-time"),
        pytest.param(
            b'{"format": "csv", "attributes": {"type": "some", "list": [{"type": "property", '
            b'"property": %s}]}}',
            id="property",
        ),
    ],
)
def test_deep_nesting_is_400_not_a_crash(sandbox: Sandbox, template: bytes, depth: int) -> None:
    response = requests.post(
        sandbox.export_url,
        data=template % _nested(depth),
        headers={"Content-Type": "application/json"},
        auth=("sandbox", "sandbox"),
        timeout=10,
    )
    # Past the parser's own limit (a RecursionError) the message has no level count.
    [error] = _errors(response)
    assert error.startswith("Invalid JSON: nested too deeply"), error


def test_nesting_up_to_the_limit_reaches_the_schema_check(sandbox: Sandbox) -> None:
    # The body is the first level, so its "format" can hold 99 more.
    response = requests.post(
        sandbox.export_url,
        data=b'{"format": %s}' % _nested(99),
        headers={"Content-Type": "application/json"},
        auth=("sandbox", "sandbox"),
        timeout=10,
    )
    assert _errors(response)[0].startswith("$.format: [[[")


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_the_last_second_of_9999_is_served_in_every_zone(sandbox: Sandbox, zone: str) -> None:
    # 9999-12-31T23:59:59Z is already the year 10000 in Kiritimati (UTC+14), past datetime.
    assert MAX_EXECUTION_TIME == 253_402_300_799
    body = {
        "format": "csv",
        "execution_time": MAX_EXECUTION_TIME,
        "timezone": zone,
        "filter": {"type": "segment", "segmentation_id": TENURE, "segment_index": 2},
        "attributes": {"type": "some", "list": [{"type": "expression", "id": TENURE_DAYS}]},
    }
    rows = csv_rows(post(sandbox, body))
    assert rows[0] == ["tenure_days"] and len(rows) == 301  # every customer is loyal by then
    # Registered 2019-2025: some 2.9 million days before the end of 9999, in any zone.
    assert all(2_910_000 < int(days) < 2_925_000 for (days,) in rows[1:])
    too_late = _errors(post(sandbox, {**body, "execution_time": MAX_EXECUTION_TIME + 1}))
    assert too_late == [
        f"$.execution_time: {MAX_EXECUTION_TIME + 1} is after the end of the year 9999: "
        f"execution_time is Unix seconds, at most {MAX_EXECUTION_TIME} (9999-12-31T23:59:59Z)"
    ]


def test_milliseconds_are_called_milliseconds(sandbox: Sandbox) -> None:
    errors = _errors(post(sandbox, {"format": "csv", "execution_time": 1735689600000}))
    assert errors == [
        "$.execution_time: 1735689600000 looks like milliseconds (13 digits, as JavaScript's "
        "Date.now() gives): execution_time is Unix seconds, write 1735689600"
    ]


def _bad_bodies() -> list[Any]:
    lines = (DATA / "bad-bodies.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip() and not line.startswith("#")]
    return [pytest.param(c["body"], c["error"], id=c["id"]) for c in cases]


@pytest.mark.parametrize(("body", "expected"), _bad_bodies())
def test_body_rules_are_enforced(sandbox: Sandbox, body: Any, expected: str) -> None:
    errors = _errors(post(sandbox, body))
    assert any(e.startswith(expected) for e in errors), errors


def test_every_problem_is_reported_at_once(sandbox: Sandbox) -> None:
    body = {
        "format": "csv",
        "timezone": "Nowhere/Town",
        "filter": {"type": "segment", "segmentation_id": "nope", "segment_index": 0},
        "attributes": {"type": "some", "list": [{"type": "aggregate", "id": "x"}]},
    }
    errors = _errors(post(sandbox, body))
    assert len(errors) == 3
    assert [e.split(":")[0] for e in errors] == [
        "$.timezone",
        "$.attributes.list[0].id",
        "$.filter.segmentation_id",
    ]


def test_unknown_property_is_an_empty_column(sandbox: Sandbox) -> None:
    body = {
        "format": "csv",
        "attributes": {
            "type": "some",
            "list": [{"type": "id", "id": "registered"}, {"type": "property", "property": "shoe"}],
        },
    }
    rows = csv_rows(post(sandbox, body))
    assert rows[0] == ["registered", "shoe"]
    assert {r[1] for r in rows[1:]} == {""}


def test_native_json_is_accepted(sandbox: Sandbox) -> None:
    response = post(sandbox, {"format": "native_json"})
    assert response.status_code == 200
    assert response.json()["success"] is True


def test_execution_time_and_timezone_defaults_are_accepted(sandbox: Sandbox) -> None:
    body = {
        "format": "table_json",
        "attributes": {"type": "some", "list": [{"type": "aggregate", "id": PURCHASE_COUNT}]},
    }
    assert post(sandbox, body).json()["header"] == ["purchase_count"]


def test_unknown_path_is_404_and_other_methods_405(sandbox: Sandbox) -> None:
    missing = requests.post(sandbox.base_url + "/data/v2/nothing", json={}, timeout=10)
    assert missing.status_code == 404
    assert missing.json()["success"] is False
    get = requests.get(sandbox.export_url, timeout=10)
    assert get.status_code == 405
    assert get.headers["Allow"] == "POST"


def test_oversized_body_is_413(sandbox: Sandbox) -> None:
    response = requests.post(
        sandbox.export_url,
        data=b" " * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
        auth=("sandbox", "sandbox"),
        timeout=10,
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "declared",
    ["abc", "-1", "+16", "1_6", " 16x", "9" * 5000],
)
def test_content_length_must_be_digits(sandbox: Sandbox, declared: str) -> None:
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", sandbox.export_url.removeprefix(sandbox.base_url))
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", declared)
    connection.endheaders(b'{"format":"csv"}')
    response = connection.getresponse()
    assert response.status == 400
    assert json.loads(response.read()) == {
        "success": False,
        "error": "Content-Length is not a number of bytes",
    }
    connection.close()
