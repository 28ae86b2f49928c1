"""Output shapes: csv, table_json and native_json; column order; chunked vs Content-Length."""

from __future__ import annotations

import json
from typing import Any

import requests

from exportspec.sandbox import Sandbox, running_sandbox

from .conftest import (
    CHURN,
    HOME_MARKET,
    JUNE_EVENING,
    PURCHASE_COUNT,
    REGISTERED_WEEKDAY,
    SPEND_TIER,
    TENURE,
    TENURE_DAYS,
    csv_rows,
    post,
)

DEFAULT_COLUMNS = [
    "registered",
    "cookie",
    "email",
    "first_name",
    "last_name",
    "city",
    "country",
    "total_spent",
    "registered_at",
]
MIXED_LIST = [
    {"type": "property", "property": "country"},
    {"type": "segmentation", "id": SPEND_TIER},
    {"type": "id", "id": "cookie"},
    {"type": "aggregate", "id": PURCHASE_COUNT},
    {"type": "expression", "id": REGISTERED_WEEKDAY},
    {"type": "prediction", "id": CHURN},
    {"type": "id", "id": "registered"},
]


def _some(items: list[dict[str, str]], fmt: str = "table_json", **extra: Any) -> dict[str, Any]:
    return {"format": fmt, "attributes": {"type": "some", "list": items}, **extra}


def test_csv_default_is_ids_then_properties(sandbox: Sandbox) -> None:
    response = post(sandbox, {"format": "csv"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"registered,cookie,email,")
    assert b"\r\n" in response.content
    rows = csv_rows(response)
    assert rows[0] == DEFAULT_COLUMNS
    assert len(rows) == 1 + sandbox.project.customers
    assert all(len(r) == len(DEFAULT_COLUMNS) for r in rows)


def test_csv_encodes_soft_ids_as_json_array_text_and_null_as_empty(sandbox: Sandbox) -> None:
    rows = csv_rows(post(sandbox, {"format": "csv"}))[1:]
    cookies = [json.loads(r[1]) for r in rows]
    assert all(isinstance(c, list) for c in cookies)
    assert {len(c) for c in cookies} == {0, 1, 2, 3}
    assert any(r[2] == "" for r in rows), "some customers have no email"


def test_table_json_shape(sandbox: Sandbox) -> None:
    payload = post(sandbox, {"format": "table_json"}).json()
    assert list(payload) == ["success", "header", "rows"]
    assert payload["success"] is True
    assert payload["header"] == DEFAULT_COLUMNS
    assert len(payload["rows"]) == sandbox.project.customers
    first = payload["rows"][0]
    assert isinstance(first[0], str)
    assert isinstance(first[1], list)
    assert isinstance(first[7], float)
    assert isinstance(first[8], int)


def test_native_json_shape_has_field_descriptors(sandbox: Sandbox) -> None:
    payload = post(sandbox, {"format": "native_json"}).json()
    assert list(payload) == ["success", "fields", "data"]
    assert payload["fields"][:3] == [
        {"type": "id", "id": "registered"},
        {"type": "id", "id": "cookie"},
        {"type": "property", "property": "email"},
    ]
    assert len(payload["data"]) == sandbox.project.customers


def test_some_keeps_list_order_in_every_format(sandbox: Sandbox) -> None:
    headers = [
        "country",
        "Spend tier",
        "cookie",
        "purchase_count",
        "registered_weekday",
        "churn_probability",
        "registered",
    ]
    table = post(sandbox, _some(MIXED_LIST)).json()
    assert table["header"] == headers
    native = post(sandbox, _some(MIXED_LIST, "native_json")).json()
    assert native["fields"] == MIXED_LIST
    assert native["data"] == table["rows"]
    rows = csv_rows(post(sandbox, _some(MIXED_LIST, "csv")))
    assert rows[0] == headers


def test_csv_cells_agree_with_json_values(sandbox: Sandbox) -> None:
    table = post(sandbox, {"format": "table_json"}).json()["rows"]
    rows = csv_rows(post(sandbox, {"format": "csv"}))[1:]

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":"))

    assert rows == [[cell(v) for v in row] for row in table]


def test_computed_attribute_values(sandbox: Sandbox) -> None:
    body = _some(
        [
            {"type": "property", "property": "total_spent"},
            {"type": "segmentation", "id": SPEND_TIER},
            {"type": "aggregate", "id": PURCHASE_COUNT},
            {"type": "prediction", "id": CHURN},
        ]
    )
    for spent, tier, purchases, churn in post(sandbox, body).json()["rows"]:
        expected = (
            "VIP"
            if spent >= 1000
            else "Regular"
            if spent >= 100
            else "Occasional"
            if spent
            else None
        )
        assert tier == expected
        assert (purchases == 0) == (spent == 0)
        assert 0 <= churn <= 1


def test_timezone_moves_day_boundaries(sandbox: Sandbox) -> None:
    body = _some([{"type": "expression", "id": TENURE_DAYS}], execution_time=JUNE_EVENING)
    tokyo = post(sandbox, {**body, "timezone": "Asia/Tokyo"}).json()["rows"]
    new_york = post(sandbox, {**body, "timezone": "America/New_York"}).json()["rows"]
    assert tokyo != new_york
    weekday = _some([{"type": "expression", "id": REGISTERED_WEEKDAY}])
    days = {
        zone: post(sandbox, {**weekday, "timezone": zone}).json()["rows"]
        for zone in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago")
    }
    assert days["UTC"] != days["Pacific/Kiritimati"]
    assert days["Pacific/Kiritimati"] != days["Pacific/Pago_Pago"]


def test_execution_time_changes_tenure_segments(sandbox: Sandbox) -> None:
    body = _some(
        [
            {"type": "property", "property": "registered_at"},
            {"type": "segmentation", "id": TENURE},
            {"type": "expression", "id": TENURE_DAYS},
        ]
    )
    early = post(sandbox, {**body, "execution_time": 1577836800}).json()["rows"]  # 2020-01-01
    late = post(sandbox, {**body, "execution_time": 1800000000}).json()["rows"]  # 2027-01-15
    for registered_at, tier, days in early:
        if registered_at > 1577836800:
            assert (tier, days) == (None, None), "not registered yet: in no segment"
        else:
            assert tier in ("New (under 1 year)", "Established (1-3 years)")
    assert {tier for _, tier, _ in late} <= {"Established (1-3 years)", "Loyal (3+ years)"}
    assert any(tier == "Loyal (3+ years)" for _, tier, _ in late)


def test_segment_filter_selects_its_customers(sandbox: Sandbox) -> None:
    home_filter = {"type": "segment", "segmentation_id": HOME_MARKET, "segment_index": 1}
    body = {
        "format": "table_json",
        "attributes": {"type": "some", "list": [{"type": "property", "property": "country"}]},
        "filter": home_filter,
    }
    rows = post(sandbox, body).json()["rows"]
    assert rows
    assert {r[0] for r in rows} == {"CZ"}
    none = post(sandbox, {**body, "filter": {**home_filter, "segment_index": -1}}).json()
    assert "SK" not in {r[0] for r in none["rows"]}


def test_empty_result_still_has_the_header() -> None:
    with running_sandbox(customers=0) as sb:
        assert post(sb, {"format": "csv"}).content == (",".join(DEFAULT_COLUMNS) + "\r\n").encode()
        assert post(sb, {"format": "table_json"}).json()["rows"] == []


def test_small_exports_send_content_length_big_ones_stream_chunked() -> None:
    with running_sandbox(customers=20_000) as sb, requests.Session() as session:
        small = post(sb, {"format": "csv", **_SEGMENT_VIP_ONLY_FEW}, session=session)
        assert "Content-Length" in small.headers
        big = post(sb, {"format": "csv"}, session=session, stream=True)
        assert big.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in big.headers
        size = sum(len(chunk) for chunk in big.iter_content(1 << 20))
        big.close()
        assert size > 2_000_000
        # The keep-alive connection is still usable after a chunked response.
        assert post(sb, {"format": "table_json"}, session=session).status_code == 200


_SEGMENT_VIP_ONLY_FEW = {
    "attributes": {"type": "some", "list": [{"type": "id", "id": "registered"}]},
    "filter": {"type": "segment", "segmentation_id": SPEND_TIER, "segment_index": 0},
}
