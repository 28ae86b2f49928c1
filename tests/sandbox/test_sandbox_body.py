"""Request checks: content type, JSON, the body schema and the rules it cannot express."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from exportspec.sandbox import Sandbox

from .conftest import CHURN, PURCHASE_COUNT, SPEND_TIER, csv_rows, post


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


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({}, "$: 'format' is a required property", id="format-required"),
        pytest.param([], "$: [] is not of type 'object'", id="not-an-object"),
        pytest.param({"format": "xml"}, "$.format: 'xml' is not one of", id="format-enum"),
        pytest.param({"format": "csv", "limit": 5}, "$: Additional properties", id="unknown-key"),
        pytest.param(
            {"format": "csv", "execution_time": 10**30, "timezone": "Asia/Tokyo"},
            "$.execution_time: 1000000000000000000000000000000 is after the year 9999",
            id="execution-time-after-9999",
        ),
        pytest.param(
            {"format": "csv", "attributes": {"type": "some"}},
            "$.attributes: 'list' is a required property",
            id="some-needs-list",
        ),
        pytest.param(
            {"format": "csv", "attributes": {"type": "some", "list": []}},
            "$.attributes.list: [] should be non-empty",
            id="list-non-empty",
        ),
        pytest.param(
            {
                "format": "csv",
                "attributes": {"type": "properties_and_ids", "list": [{"type": "id", "id": "x"}]},
            },
            "$.attributes",
            id="list-only-with-some",
        ),
        pytest.param(
            {"format": "csv", "attributes": {"type": "some", "list": [{"type": "id"}]}},
            "$.attributes.list[0]: 'id' is a required property",
            id="item-needs-id",
        ),
        pytest.param(
            {"format": "csv", "attributes": {"type": "some", "list": [{"type": "consent"}]}},
            "$.attributes.list[0].type: 'consent' is not one of",
            id="item-type-enum",
        ),
        pytest.param(
            {"format": "csv", "filter": {"type": "segment", "segment_index": 0}},
            "$.filter: 'segmentation_id' is a required property",
            id="segment-needs-id",
        ),
        pytest.param(
            {"format": "csv", "filter": {"type": "segment", "segmentation_id": SPEND_TIER}},
            "$.filter: 'segment_index' is a required property",
            id="segment-needs-index",
        ),
        pytest.param(
            {
                "format": "csv",
                "filter": {"type": "segment", "segmentation_id": SPEND_TIER, "segment_index": "0"},
            },
            "$.filter.segment_index: '0' is not of type 'integer'",
            id="segment-index-integer",
        ),
        pytest.param(
            {
                "format": "csv",
                "filter": {"type": "segment", "segmentation_id": SPEND_TIER, "segment_index": -2},
            },
            "$.filter.segment_index: -2 is less than the minimum of -1",
            id="segment-index-minimum",
        ),
        pytest.param(
            {"format": "csv", "filter": {"type": "all", "segment_index": 0}},
            "$.filter.segment_index",
            id="index-only-with-segment",
        ),
        pytest.param(
            {"format": "csv", "execution_time": -1},
            "$.execution_time: -1 is less than the minimum of 0",
            id="execution-time-minimum",
        ),
        pytest.param(
            {"format": "csv", "execution_time": 1.5},
            "$.execution_time: 1.5 is not of type 'integer'",
            id="execution-time-integer",
        ),
        pytest.param(
            {"format": "csv", "timezone": "Mars/Olympus_Mons"},
            "$.timezone: 'Mars/Olympus_Mons' is not an IANA time zone name",
            id="timezone-iana",
        ),
        pytest.param(
            {"format": "csv", "timezone": "../../etc/passwd"},
            "$.timezone: '../../etc/passwd' is not an IANA time zone name",
            id="timezone-path",
        ),
        pytest.param(
            {
                "format": "csv",
                "filter": {"type": "segment", "segmentation_id": "nope", "segment_index": 0},
            },
            "$.filter.segmentation_id: segmentation 'nope' does not exist in this project",
            id="unknown-segmentation",
        ),
        pytest.param(
            {
                "format": "csv",
                "filter": {"type": "segment", "segmentation_id": SPEND_TIER, "segment_index": 3},
            },
            "$.filter.segment_index: segmentation '606488856f8cf6f848b20af8' has 3 segments",
            id="segment-index-out-of-range",
        ),
        pytest.param(
            {"format": "csv", "attributes": {"type": "some", "list": [{"type": "id", "id": "x"}]}},
            "$.attributes.list[0].id: unknown customer id 'x'",
            id="unknown-id",
        ),
        pytest.param(
            {
                "format": "csv",
                "attributes": {"type": "some", "list": [{"type": "segmentation", "id": "nope"}]},
            },
            "$.attributes.list[0].id: segmentation 'nope' does not exist",
            id="unknown-segmentation-column",
        ),
        pytest.param(
            {
                "format": "csv",
                "attributes": {"type": "some", "list": [{"type": "aggregate", "id": CHURN}]},
            },
            f"$.attributes.list[0].id: aggregate '{CHURN}' does not exist",
            id="prediction-id-is-not-an-aggregate",
        ),
        pytest.param(
            {
                "format": "csv",
                "attributes": {"type": "some", "list": [{"type": "expression", "id": "e"}]},
            },
            "$.attributes.list[0].id: expression 'e' does not exist",
            id="unknown-expression",
        ),
        pytest.param(
            {
                "format": "csv",
                "attributes": {"type": "some", "list": [{"type": "prediction", "id": "p"}]},
            },
            "$.attributes.list[0].id: prediction 'p' does not exist",
            id="unknown-prediction",
        ),
    ],
)
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
