"""Consent and recommendation columns: what the synthetic project serves (docs/sandbox.md)."""

from __future__ import annotations

from typing import Any

from exportspec.sandbox import Sandbox, running_sandbox
from exportspec.sandbox.personal import CATALOG

from .conftest import DATA, JUNE_EVENING, PERSONAL_PICKS, csv_rows, post

MODES = ("valid", "message", "source", "timestamp", "until")


def _rows(sandbox: Sandbox, items: list[dict[str, Any]], **extra: Any) -> list[list[Any]]:
    body = {"format": "table_json", "attributes": {"type": "some", "list": items}, **extra}
    response = post(sandbox, body)
    assert response.status_code == 200, response.text
    rows: list[list[Any]] = response.json()["rows"]
    return rows


def _consent(category: str, mode: str) -> dict[str, str]:
    return {"type": "consent", "category": category, "mode": mode}


def _picks(**options: Any) -> dict[str, Any]:
    return {"type": "recommendation", "id": PERSONAL_PICKS, "fillWithRandom": False, **options}


def test_describe_lists_consent_categories_and_the_recommendation_model(
    sandbox: Sandbox,
) -> None:
    attributes = sandbox.describe()["attributes"]
    assert {"type": "recommendation", "id": PERSONAL_PICKS, "name": "personal_picks"} in attributes
    consents = [a for a in attributes if a["type"] == "consent"]
    assert consents == [
        {"type": "consent", "category": "newsletter"},
        {"type": "consent", "category": "sms"},
    ]


def test_consent_columns_are_named_and_typed_by_mode(sandbox: Sandbox) -> None:
    body = {
        "format": "table_json",
        "execution_time": JUNE_EVENING,
        "attributes": {"type": "some", "list": [_consent("newsletter", m) for m in MODES]},
    }
    response = post(sandbox, body)
    assert response.json()["header"] == [f"newsletter ({m})" for m in MODES]
    rows = response.json()["rows"]
    assert len(rows) == sandbox.project.customers
    kinds: set[str] = set()
    for valid, message, source, timestamp, until in rows:
        assert isinstance(valid, bool)
        if timestamp is None:  # no consent event by then: nothing but "not valid"
            assert (valid, message, source, until) == (False, None, None, None)
            kinds.add("none")
            continue
        assert isinstance(message, str) and isinstance(source, str)
        assert isinstance(timestamp, int) and timestamp <= JUNE_EVENING
        accepted = message == "I want to receive the weekly newsletter"
        assert accepted or (message == "No newsletter, thank you" and until is None)
        assert valid == (accepted and (until is None or until > JUNE_EVENING))
        kinds.add("valid" if valid else "expired" if accepted else "rejected")
    assert kinds == {"none", "valid", "expired", "rejected"}


def test_a_consent_exists_only_from_its_event_on(sandbox: Sandbox) -> None:
    items = [_consent("sms", "timestamp"), _consent("sms", "valid")]
    early = _rows(sandbox, items, execution_time=1546300800)  # 2019-01-01: none registered
    assert {tuple(row) for row in early} == {(None, False)}
    late = _rows(sandbox, items, execution_time=JUNE_EVENING)
    assert any(timestamp is not None for timestamp, _ in late)


def test_two_categories_differ(sandbox: Sandbox) -> None:
    rows = _rows(
        sandbox, [_consent("newsletter", "timestamp"), _consent("sms", "timestamp")],
        execution_time=JUNE_EVENING,
    )  # fmt: skip
    assert any(a != b for a, b in rows)


def test_recommendations_honour_size_and_fill_with_random(sandbox: Sandbox) -> None:
    model_only, filled, three = zip(
        *_rows(sandbox, [_picks(), _picks(fillWithRandom=True), _picks(size=3)]), strict=True
    )
    assert {len(r) for r in model_only} == set(range(8))  # the model knows 0 to 7 items
    assert {len(r) for r in filled} == {10}  # the default size, filled up
    assert all(len(r) == min(3, len(m)) for r, m in zip(three, model_only, strict=True))
    for mine, padded in zip(model_only, filled, strict=True):
        assert padded[: len(mine)] == mine  # the model's picks first, then the filling
        assert len({item["item_id"] for item in padded}) == len(padded)  # never twice
        assert all(item in CATALOG for item in padded)


def test_fill_with_random_stops_at_the_catalog(sandbox: Sandbox) -> None:
    rows = _rows(sandbox, [_picks(fillWithRandom=True, size=2147483647)])
    assert {len(r) for (r,) in rows} == {len(CATALOG)}


def test_the_whitelist_picks_catalog_attributes(sandbox: Sandbox) -> None:
    rows = _rows(
        sandbox,
        [_picks(fillWithRandom=True, size=2, catalogAttributesWhitelist=["title", "item_id"])],
    )
    assert all(set(item) == {"item_id", "title"} for (items,) in rows for item in items)


def test_native_json_fields_echo_the_items_as_sent(sandbox: Sandbox) -> None:
    items = [
        _consent("newsletter", "valid"),
        _picks(fillWithRandom=True, size=2, items={"sku-001": 1}, no_track=True),
    ]
    body = {"format": "native_json", "attributes": {"type": "some", "list": items}}
    assert post(sandbox, body).json()["fields"] == items


def test_csv_cells_are_json_text(sandbox: Sandbox) -> None:
    body = {
        "format": "csv",
        "execution_time": JUNE_EVENING,
        "attributes": {
            "type": "some",
            "list": [_consent("newsletter", "valid"), _picks(fillWithRandom=True, size=1)],
        },
    }
    rows = csv_rows(post(sandbox, body))
    assert rows[0] == ["newsletter (valid)", "personal_picks"]
    assert {valid for valid, _ in rows[1:]} == {"true", "false"}
    assert all(picks.startswith('[{"item_id":"sku-') for _, picks in rows[1:])


def test_the_same_seed_serves_the_same_consents() -> None:
    items = [_consent("sms", m) for m in MODES] + [_picks(fillWithRandom=True)]
    with running_sandbox(customers=50, seed=3) as one, running_sandbox(customers=50, seed=3) as two:
        assert _rows(one, items, execution_time=JUNE_EVENING) == _rows(
            two, items, execution_time=JUNE_EVENING
        )


def test_a_data_file_has_no_consents_or_recommendations() -> None:
    with running_sandbox(data=DATA / "customers.jsonl") as sb:
        body = {
            "format": "csv",
            "attributes": {"type": "some", "list": [_consent("newsletter", "valid"), _picks()]},
        }
        response = post(sb, body)
        assert response.status_code == 400
        assert response.json()["errors"] == [
            "$.attributes.list[0].category: consent category 'newsletter' does not exist "
            "(this project has none)",
            f"$.attributes.list[1].id: recommendation '{PERSONAL_PICKS}' does not exist",
        ]
