"""Shared fixtures: one in-process sandbox per session, and a helper to call it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from exportspec.sandbox import Sandbox, running_sandbox

DATA = Path(__file__).parent / "data"
SPEND_TIER = "606488856f8cf6f848b20af8"
HOME_MARKET = "6064889b6f8cf6f848b20b12"
TENURE = "606488a46f8cf6f848b20b3c"
PURCHASE_COUNT = "592ff585fb60094e02bfaf6a"
REGISTERED_WEEKDAY = "5f0c3a9e2b1d4c0012a7e441"
TENURE_DAYS = "5f0c3aa72b1d4c0012a7e45d"
CHURN = "5f0c3ab12b1d4c0012a7e47f"
PERSONAL_PICKS = "5f0c3ac02b1d4c0012a7e4a3"
#: 2025-06-15T22:30:00Z: already 2025-06-16 in Tokyo, still the 15th in New York.
JUNE_EVENING = 1750026600


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with running_sandbox(customers=300, seed=7) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def post(
    sandbox: Sandbox,
    body: Any,
    *,
    session: requests.Session | None = None,
    auth: tuple[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """POST a JSON body to the sandbox's export URL with its credentials."""
    sender = session or requests
    return sender.post(
        sandbox.export_url,
        json=body,
        auth=auth or (sandbox.api_key_id, sandbox.api_secret),
        timeout=10,
        **kwargs,
    )


def csv_rows(response: requests.Response) -> list[list[str]]:
    """The CSV body parsed, header row first."""
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
