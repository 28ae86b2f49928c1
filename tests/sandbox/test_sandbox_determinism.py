"""Same seed and size give the same bytes; the data is generated, not stored."""

from __future__ import annotations

import hashlib

import requests

from exportspec.sandbox import running_sandbox
from exportspec.sandbox.synthetic import BATCH_SIZE, SyntheticBatch

from .conftest import post

EXPORT = {
    "format": "csv",
    "execution_time": 1735689600,
    "timezone": "Europe/Bratislava",
    "attributes": {
        "type": "some",
        "list": [
            {"type": "id", "id": "registered"},
            {"type": "id", "id": "cookie"},
            {"type": "property", "property": "total_spent"},
            {"type": "segmentation", "id": "606488a46f8cf6f848b20b3c"},
            {"type": "expression", "id": "5f0c3a9e2b1d4c0012a7e441"},
            {"type": "prediction", "id": "5f0c3ab12b1d4c0012a7e47f"},
        ],
    },
}


def _export(customers: int, seed: int, body: dict[str, object]) -> bytes:
    with running_sandbox(customers=customers, seed=seed) as sb:
        response = post(sb, body)
        assert response.status_code == 200
        return response.content


def test_same_seed_and_size_give_the_same_bytes() -> None:
    bodies: list[dict[str, object]] = [EXPORT, {"format": "table_json"}, {"format": "native_json"}]
    for body in bodies:
        assert _export(500, 3, body) == _export(500, 3, body)


def test_another_seed_gives_other_customers() -> None:
    assert _export(50, 3, EXPORT) != _export(50, 4, EXPORT)


def test_a_smaller_project_is_a_prefix_of_a_bigger_one() -> None:
    small = _export(100, 9, EXPORT)
    big = _export(BATCH_SIZE + 100, 9, EXPORT)
    assert big.startswith(small)


def test_pinned_digest_catches_accidental_changes_to_the_generator() -> None:
    # If this fails, the synthetic data changed: users' recorded exports no longer match.
    # Update the digest only on purpose, and say so in the changelog.
    digest = hashlib.sha256(_export(1000, 0, {"format": "csv"})).hexdigest()
    assert digest == PINNED_DEFAULT_CSV_SHA256


def test_batches_are_independent_of_position_in_a_request() -> None:
    whole = SyntheticBatch(1, BATCH_SIZE, BATCH_SIZE)
    short = SyntheticBatch(1, BATCH_SIZE, 10)
    assert whole._registered()[:10] == short._registered()
    assert whole._cookies()[:10] == short._cookies()


def test_default_server_streams_without_holding_customers() -> None:
    # A 10-million customer project costs nothing until it is exported.
    with running_sandbox(customers=10_000_000) as sb, requests.Session() as s:
        body = {**EXPORT, "format": "table_json"}
        response = post(sb, body, session=s, stream=True)
        first = next(response.iter_content(1 << 16))
        response.close()
        assert first.startswith(b'{"success":true,"header":["registered"')


PINNED_DEFAULT_CSV_SHA256 = "40f6916e16546365a24af240ae76dce24837aed2efe45556f5ff1d8b8fd51f57"
