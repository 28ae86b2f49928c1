"""`--data FILE`: a user's own customers, segmentations and computed attributes."""

from __future__ import annotations

from pathlib import Path

import pytest

from exportspec.errors import ConfigError, ExitCode
from exportspec.sandbox import DataFileError, running_sandbox
from exportspec.sandbox.datafile import load_data_file

from .conftest import DATA, csv_rows, post

CUSTOMERS = DATA / "customers.jsonl"
SPEND = "5a0000000000000000000001"
NEWCOMERS = "5a0000000000000000000002"
INVALID = sorted((DATA / "invalid").glob("*.jsonl"))


def test_describe_lists_what_the_file_defines() -> None:
    with running_sandbox(data=CUSTOMERS) as sb:
        described = sb.describe()
    assert described["customers"] == 4
    assert described["data_file"] == str(CUSTOMERS)
    assert described["seed"] is None
    assert described["ids"] == ["registered", "cookie", "email_id"]
    assert described["soft_ids"] == ["cookie"]
    assert described["properties"] == [
        "first_name",
        "total_spent",
        "country",
        "newsletter",
        "signed_up",
        "tags",
    ]
    assert described["segmentations"] == [
        {"id": SPEND, "name": "Spend", "segments": ["Big", "Small"]},
        {"id": NEWCOMERS, "name": "Newcomers", "segments": ["This week", "Nordic"]},
    ]
    assert described["attributes"] == [
        {"type": "aggregate", "id": "orders", "name": "order_count"},
        {"type": "prediction", "id": "ltv", "name": "lifetime_value"},
    ]


def test_file_customers_in_every_format() -> None:
    with running_sandbox(data=CUSTOMERS) as sb:
        table = post(sb, {"format": "table_json"}).json()
        rows = csv_rows(post(sb, {"format": "csv"}))
    assert table["header"][:3] == ["registered", "cookie", "email_id"]
    assert table["rows"][0][:3] == ["ann@example.com", ["c-1", "c-2"], None]
    assert table["rows"][1][1] == [], "a soft id nobody set is an empty array"
    assert table["rows"][2][:2] == [None, ["anon-3"]], "a soft id given as a string is wrapped"
    assert table["rows"][2][-1] == ["a", "b"]
    # CSV quoting of commas, quotes, arrays; nulls as empty cells.
    assert rows[2][3] == "Bob, Jr."
    assert rows[3][3] == 'Zoë "Z"'
    assert rows[3][-1] == '["a","b"]'
    assert rows[4][:3] == ["dee@example.com", "[]", "dee-hash"]


def test_file_segments_and_attributes() -> None:
    body = {
        "format": "table_json",
        "execution_time": 1750000000 + 3 * 86400,
        "attributes": {
            "type": "some",
            "list": [
                {"type": "property", "property": "first_name"},
                {"type": "segmentation", "id": SPEND},
                {"type": "segmentation", "id": NEWCOMERS},
                {"type": "aggregate", "id": "orders"},
                {"type": "prediction", "id": "ltv"},
            ],
        },
    }
    with running_sandbox(data=CUSTOMERS) as sb:
        payload = post(sb, body).json()
        nordic = post(
            sb,
            {
                **body,
                "filter": {"type": "segment", "segmentation_id": NEWCOMERS, "segment_index": 1},
            },
        ).json()
        unknown = post(
            sb,
            {
                **body,
                "filter": {
                    "type": "segment",
                    "segmentation_id": "606488856f8cf6f848b20af8",
                    "segment_index": 0,
                },
            },
        )
    assert payload["header"] == [
        "first_name",
        "Spend",
        "Newcomers",
        "order_count",
        "lifetime_value",
    ]
    assert payload["rows"] == [
        ["Ann", "Big", "This week", 7, 0.9],
        ["Bob, Jr.", "Small", "Nordic", 1, None],
        ['Zoë "Z"', None, "This week", None, None],
        ["Dee", None, None, None, None],
    ]
    assert [r[0] for r in nordic["rows"]] == ["Bob, Jr."]
    assert unknown.status_code == 400, "the synthetic segmentations are not served with --data"


def test_days_since_uses_the_request_timezone() -> None:
    # Zoë signed up at 1749900000 = 2025-06-14T11:20Z; 6 days later, just before midnight UTC...
    execution_time = 1750464000 - 60  # 2025-06-20T23:59Z
    body = {
        "format": "table_json",
        "execution_time": execution_time,
        "attributes": {"type": "some", "list": [{"type": "segmentation", "id": NEWCOMERS}]},
    }
    with running_sandbox(data=CUSTOMERS) as sb:
        utc = post(sb, {**body, "timezone": "UTC"}).json()["rows"][2]
        # ...which is already 2025-06-21 in Tokyo: 7 calendar days, no longer "this week".
        tokyo = post(sb, {**body, "timezone": "Asia/Tokyo"}).json()["rows"][2]
    assert (utc, tokyo) == (["This week"], [None])


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_data_files_name_the_line_and_problem(path: Path) -> None:
    expected = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect: ")
    with pytest.raises(DataFileError) as caught:
        load_data_file(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.exit_code == ExitCode.CONFIG


def test_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="cannot read data file"):
        load_data_file(tmp_path / "absent.jsonl")


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo"])
def test_timestamps_without_a_date_count_as_missing(zone: str) -> None:
    body = {
        "format": "table_json",
        "execution_time": 1750000000 + 86400,
        "timezone": zone,
        "attributes": {
            "type": "some",
            "list": [
                {"type": "id", "id": "registered"},
                {"type": "segmentation", "id": "5a00000000000000000000fd"},
            ],
        },
    }
    with running_sandbox(data=DATA / "far-dates.jsonl") as sb:
        rows = post(sb, body).json()["rows"]
    assert dict(rows) == {
        "now": "Past",
        "year-9999": "Future",
        "year-10000": "Never",
        "far-future": "Never",
        "year-1": "Past",
        "far-past": "Never",
        "huge-int": "Never",
        "none": "Never",
    }
