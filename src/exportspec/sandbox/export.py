"""Check an export request body like the API does, and render the export as byte chunks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exportspec.sandbox.model import (
    Batch,
    ColumnKind,
    ConsentMode,
    EvalContext,
    Project,
    RecommendationOptions,
    Segmentation,
    encode_csv_cells,
    segment_indexes,
)
from exportspec.schemas import body_validator
from exportspec.spec.rules import MAX_EXECUTION_TIME, body_value_problems

__all__ = ["MAX_EXECUTION_TIME", "BodyError", "Column", "ExportRequest", "parse_request", "render"]

Format = Literal["csv", "table_json", "native_json"]
#: Output chunks are gathered to at least this size before they are written.
MIN_CHUNK = 256 * 1024


class BodyError(Exception):
    """The request body breaks a documented rule; `errors` become the 400 response."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Column:
    """One output column: what it reads, its header and its native_json field descriptor
    (the request's attribute item, as sent)."""

    kind: ColumnKind
    key: str
    header: str
    field: dict[str, Any]
    segmentation: Segmentation | None = None
    consent_mode: ConsentMode = "valid"
    recommendation: RecommendationOptions | None = None


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """A checked request: columns in output order, the optional segment filter, the context."""

    format: Format
    columns: tuple[Column, ...]
    ctx: EvalContext
    segmentation: Segmentation | None = None
    segment_index: int | None = None


def parse_request(body: Any, project: Project, *, now: int | None = None) -> ExportRequest:
    """Check `body` as `exportspec validate` does (the body schema, then the shared value
    rules), then against the project's data (ids, segmentations, attributes it has).

    Raises BodyError listing every problem as `$.json.path: message`.
    """
    errors = [
        f"{err.json_path}: {err.message}"
        for err in sorted(body_validator().iter_errors(body), key=lambda e: list(map(str, e.path)))
    ]
    if errors:
        raise BodyError(errors)
    errors = [
        "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) + f": {message}"
        for path, message, _ in body_value_problems(body)
    ]
    zone_name = body.get("timezone", "UTC")
    zone: ZoneInfo | None = None
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"$.timezone: {zone_name!r} is not an IANA time zone name")
    columns = _columns(body.get("attributes", {}), project, errors)
    segmentation: Segmentation | None = None
    segment_index: int | None = None
    body_filter = body.get("filter", {})
    if body_filter.get("type") == "segment":
        segmentation = project.segmentation(body_filter["segmentation_id"])
        segment_index = body_filter["segment_index"]
        if segmentation is None:
            errors.append(
                f"$.filter.segmentation_id: segmentation "
                f"{body_filter['segmentation_id']!r} does not exist in this project"
            )
        elif segment_index >= (count := len(segmentation.segments)):
            errors.append(
                f"$.filter.segment_index: segmentation {segmentation.id!r} has {count} segments "
                f"(indexes 0..{count - 1}, or -1 for none); got {segment_index}"
            )
    execution_time = body.get("execution_time")
    if errors or zone is None:
        raise BodyError(errors)
    if execution_time is None:
        execution_time = int(time.time()) if now is None else now
    return ExportRequest(
        format=cast(Format, body["format"]),
        columns=columns,
        ctx=EvalContext(execution_time, zone),
        segmentation=segmentation,
        segment_index=segment_index,
    )


def _columns(attributes: dict[str, Any], project: Project, errors: list[str]) -> tuple[Column, ...]:
    if attributes.get("type", "properties_and_ids") == "properties_and_ids":
        return tuple(
            [Column("id", i, i, {"type": "id", "id": i}) for i in project.ids]
            + [
                Column("property", p, p, {"type": "property", "property": p})
                for p in project.properties
            ]
        )
    columns: list[Column] = []
    for index, item in enumerate(attributes["list"]):
        kind: ColumnKind = item["type"]
        where = f"$.attributes.list[{index}]"
        field = dict(item)
        if kind == "consent":
            category, mode = item["category"], item["mode"]
            if project.consent(category) is None:
                known = ", ".join(c.category for c in project.consents) or "none"
                errors.append(
                    f"{where}.category: consent category {category!r} does not exist "
                    f"(this project has {known})"
                )
            columns.append(Column(kind, category, f"{category} ({mode})", field, consent_mode=mode))
        elif kind == "recommendation":
            model = project.attribute(kind, item["id"])
            if model is None:
                errors.append(f"{where}.id: recommendation {item['id']!r} does not exist")
            options = RecommendationOptions(
                size=item.get("size", 10),
                fill_with_random=item["fillWithRandom"],
                catalog_attributes=tuple(item.get("catalogAttributesWhitelist", ())),
            )
            header = model.name if model else item["id"]
            columns.append(Column(kind, item["id"], header, field, recommendation=options))
        elif kind == "property":
            # Properties are schemaless: one no customer has is simply an empty column.
            columns.append(Column(kind, item["property"], item["property"], field))
        elif kind == "id":
            if item["id"] not in project.ids:
                errors.append(
                    f"{where}.id: unknown customer id {item['id']!r} "
                    f"(this project has {', '.join(project.ids) or 'none'})"
                )
            columns.append(Column(kind, item["id"], item["id"], field))
        elif kind == "segmentation":
            found = project.segmentation(item["id"])
            if found is None:
                errors.append(f"{where}.id: segmentation {item['id']!r} does not exist")
            header = found.name if found else item["id"]
            columns.append(Column(kind, item["id"], header, field, found))
        else:
            attribute = project.attribute(kind, item["id"])
            if attribute is None:
                errors.append(f"{where}.id: {kind} {item['id']!r} does not exist")
            columns.append(
                Column(kind, item["id"], attribute.name if attribute else item["id"], field)
            )
    return tuple(columns)


def render(request: ExportRequest, project: Project) -> Iterator[bytes]:
    """The response body as chunks of at least MIN_CHUNK bytes (the last may be shorter)."""
    return _gather(_render_pieces(request, project))


def _gather(pieces: Iterator[bytes]) -> Iterator[bytes]:
    buffer: list[bytes] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= MIN_CHUNK:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def _render_pieces(request: ExportRequest, project: Project) -> Iterator[bytes]:
    headers = [c.header for c in request.columns]
    if request.format == "csv":
        yield (",".join(encode_csv_cells(headers)) + "\r\n").encode()
        for batch, keep in _selected(request, project):
            cells = [_column_cells(batch, c, request, keep) for c in request.columns]
            if cells and cells[0]:
                yield ("\r\n".join(map(",".join, zip(*cells, strict=True))) + "\r\n").encode()
        return
    if request.format == "table_json":
        yield b'{"success":true,"header":' + _json(headers) + b',"rows":['
    else:
        fields = [c.field for c in request.columns]
        yield b'{"success":true,"fields":' + _json(fields) + b',"data":['
    first = True
    for batch, keep in _selected(request, project):
        columns = [_column_values(batch, c, request, keep) for c in request.columns]
        rows = [list(row) for row in zip(*columns, strict=True)]
        if rows:
            # One dumps call per batch: the C encoder instead of a Python call per row.
            text = _json(rows)[1:-1]
            yield text if first else b"," + text
            first = False
    yield b"]}"


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _selected(request: ExportRequest, project: Project) -> Iterator[tuple[Batch, list[int] | None]]:
    """Each batch with the positions the filter keeps (None: all of them)."""
    for batch in project.source.batches():
        if request.segmentation is None:
            yield batch, None
            continue
        indexes = segment_indexes(batch, request.segmentation, request.ctx)
        wanted = request.segment_index
        yield batch, [i for i, s in enumerate(indexes) if s == wanted]


def _column_values(
    batch: Batch, column: Column, request: ExportRequest, keep: list[int] | None
) -> list[Any]:
    if column.segmentation is not None:
        segmentation = column.segmentation
        names = [s.name for s in segmentation.segments]
        values: list[Any] = [
            names[i] if i >= 0 else None for i in segment_indexes(batch, segmentation, request.ctx)
        ]
    elif column.kind == "consent":
        values = batch.consent_values(column.key, column.consent_mode, request.ctx)
    elif column.recommendation is not None:
        values = batch.recommendation_values(column.key, column.recommendation, request.ctx)
    else:
        values = batch.values(column.kind, column.key, request.ctx)
    return values if keep is None else [values[i] for i in keep]


def _column_cells(
    batch: Batch, column: Column, request: ExportRequest, keep: list[int] | None
) -> list[str]:
    if column.segmentation is not None or column.kind in ("consent", "recommendation"):
        return encode_csv_cells(_column_values(batch, column, request, keep))
    cells = batch.csv_cells(column.kind, column.key, request.ctx)
    return cells if keep is None else [cells[i] for i in keep]
