"""Property: for every segmentation, the segment exports partition the full export."""

from __future__ import annotations

from collections import Counter

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportspec.sandbox import running_sandbox

ZONES = ["UTC", "Europe/Bratislava", "Asia/Tokyo", "America/Los_Angeles", "Pacific/Kiritimati"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.integers(min_value=0, max_value=120),
    seed=st.integers(min_value=0, max_value=2**32),
    execution_time=st.integers(min_value=1546300800 - 86400 * 30, max_value=1800000000),
    timezone=st.sampled_from(ZONES),
)
def test_segments_partition_the_customers(
    customers: int, seed: int, execution_time: int, timezone: str
) -> None:
    with running_sandbox(customers=customers, seed=seed) as sb, requests.Session() as session:
        session.auth = (sb.api_key_id, sb.api_secret)
        base = {"format": "csv", "execution_time": execution_time, "timezone": timezone}

        def lines(body: dict[str, object]) -> list[bytes]:
            response = session.post(sb.export_url, json={**base, **body}, timeout=10)
            assert response.status_code == 200, response.text
            return response.content.split(b"\r\n")[1:-1]

        everyone = Counter(lines({}))
        assert sum(everyone.values()) == customers
        for segmentation in sb.describe()["segmentations"]:
            parts = Counter[bytes]()
            for index in [*range(len(segmentation["segments"])), -1]:
                segment = lines(
                    {
                        "filter": {
                            "type": "segment",
                            "segmentation_id": segmentation["id"],
                            "segment_index": index,
                        }
                    }
                )
                # Disjoint: no customer is in two segments (Counter would count it twice).
                parts.update(segment)
            assert parts == everyone, segmentation["name"]
