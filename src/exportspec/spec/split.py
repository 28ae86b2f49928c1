"""`split: {segments: [...]}`: one export sent as one request per segment of its filter's
segmentation, each part the spec's body with `filter.segment_index` filled in.

A segmentation partitions customers (segment -1 holds those in none), so the parts of a
split listing every segment and -1 are the whole. Every part must be evaluated at one
moment, so a split spec must render `execution_time`. No I/O here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from exportspec.spec.models import CompiledBody, Diagnostic, JsonPath, LoadedDocument

SPLIT_KEY = "split"
INT32_MAX = 2**31 - 1


def split_segments(data: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The listed segments, in order, when `split.segments` is a list of integers (`1.0`
    counts as 1, as the JSON Schema says); else None."""
    split = data.get(SPLIT_KEY)
    segments = split.get("segments") if isinstance(split, dict) else None
    if not isinstance(segments, list):
        return None
    whole: list[int] = []
    for listed in segments:
        segment = int(listed) if isinstance(listed, float) and listed.is_integer() else listed
        if not isinstance(segment, int) or isinstance(segment, bool):
            return None
        whole.append(segment)
    return tuple(whole)


def part_body(export: Mapping[str, Any], segment: int) -> dict[str, Any]:
    """The body of one part: `export` with `filter.segment_index` set to `segment`."""
    body = copy.deepcopy(dict(export))
    body["filter"] = {**body.get("filter", {}), "segment_index": segment}
    return body


def schema_view(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """What the schemas check for a split spec: its first part's body, since the body schema
    requires the `segment_index` the split supplies. Any other document, unchanged."""
    split = data.get(SPLIT_KEY)
    export = data.get("export")
    flt = export.get("filter") if isinstance(export, dict) else None
    if (
        not isinstance(split, dict)
        or not isinstance(export, dict)
        or not isinstance(flt, dict)
        or flt.get("type") != "segment"
        or "segment_index" in flt
    ):
        return data
    # A listed segment the schema refuses (say -2) is reported at split.segments, not here.
    listed = split.get("segments")
    valid = next(
        (
            s
            for s in (listed if isinstance(listed, list) else [])
            if isinstance(s, int) and not isinstance(s, bool) and -1 <= s <= INT32_MAX
        ),
        0,
    )
    return {**data, "export": part_body(export, valid)}


def split_checks(document: LoadedDocument, data: Mapping[str, Any]) -> list[Diagnostic]:
    """What a split needs beyond its schema: a segment filter without `segment_index`, an
    explicit `execution_time`; and a warning when segment -1 is left out."""
    if SPLIT_KEY not in data:
        return []
    export = data.get("export")
    if not isinstance(export, dict):
        return []
    shown = str(document.path)
    source_map = document.source_map
    found: list[Diagnostic] = []

    def at_split(message: str, rule: str) -> None:
        found.append(
            Diagnostic(
                shown, message, source_map.key_position((SPLIT_KEY,)), (SPLIT_KEY,), rule=rule
            )
        )

    flt = export.get("filter")
    if not isinstance(flt, dict) or flt.get("type") != "segment":
        at_split(
            "split needs export.filter of type 'segment' naming the segmentation_id whose "
            "segments it lists",
            "split-filter",
        )
    elif "segment_index" in flt:
        where: JsonPath = ("export", "filter", "segment_index")
        found.append(
            Diagnostic(
                shown,
                "segment_index cannot be given beside split: each part's segment_index comes "
                "from split.segments; remove it",
                source_map.key_position(where),
                where,
                rule="split-segment-index",
            )
        )
    if "execution_time" not in export:
        at_split(
            "a split spec must set export.execution_time: every part is evaluated at that "
            "one moment (parts sent minutes apart would count a customer twice or miss one)",
            "split-execution-time",
        )
    segments = split_segments(data)
    if segments is not None and -1 not in segments:
        where = (SPLIT_KEY, "segments")
        found.append(
            Diagnostic(
                shown,
                "segment -1 (the customers in no segment) is not listed: the parts do not "
                "cover every customer",
                source_map.value_position(where),
                where,
                severity="warning",
                rule="split-coverage",
            )
        )
    return found


def parts_json(compiled: CompiledBody) -> bytes:
    """A split spec's part bodies as one canonical JSON array, in segment order."""
    return b"[" + b",".join(part.body for part in compiled.parts) + b"]"
