"""The emulated project: identifiers, properties, segmentations and computed attributes.

Customers are served in columnar batches so that millions of them never sit in memory
and each column is built by one list comprehension, not one Python call per cell.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

#: Column kinds a request can name; `id` and `property` are stored, the rest are computed.
ColumnKind = Literal[
    "id",
    "property",
    "segmentation",
    "aggregate",
    "expression",
    "prediction",
    "consent",
    "recommendation",
]
#: Definitions addressed by `id` whose column is named after them.
ComputedKind = Literal["aggregate", "expression", "prediction", "recommendation"]
#: The kinds a `--data` file may define.
COMPUTED_KINDS: tuple[ComputedKind, ...] = ("aggregate", "expression", "prediction")
#: What a consent column reads from the category's last consent event.
ConsentMode = Literal["valid", "message", "source", "timestamp", "until"]

#: Comparison operators of a segment rule; comparing a missing value is always false.
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "exists")
#: Operand prefix: whole calendar days from a Unix-seconds property to `execution_time`.
DAYS_SINCE = "days_since:"

_UTC = ZoneInfo("UTC")
#: Unix seconds of 0001-01-01T00:00Z and 10000-01-01T00:00Z: the dates datetime can hold.
_FIRST_SECOND = -62_135_596_800
_END_SECOND = 253_402_300_800


@dataclass(frozen=True, slots=True)
class EvalContext:
    """The moment and zone a request evaluates segments and computed attributes at."""

    execution_time: int
    timezone: ZoneInfo

    @classmethod
    def utc(cls, execution_time: int) -> EvalContext:
        return cls(execution_time, _UTC)


@dataclass(frozen=True, slots=True)
class Condition:
    """`operand op value`, e.g. `total_spent >= 1000` or `days_since:registered_at < 30`."""

    operand: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Segment:
    """A named segment; a customer is in it when every condition holds."""

    name: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Segmentation:
    """Ordered segments; a customer belongs to the first that matches, else to index -1."""

    id: str
    name: str
    segments: tuple[Segment, ...]

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "segments": [s.name for s in self.segments]}


@dataclass(frozen=True, slots=True)
class ComputedAttribute:
    """An aggregate, expression, prediction or recommendation model addressable by id; its
    column is its name."""

    type: ComputedKind
    id: str
    name: str

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "name": self.name}


@dataclass(frozen=True, slots=True)
class ConsentCategory:
    """A consent category (`newsletter`) whose state a `consent` column reads."""

    category: str

    def describe(self) -> dict[str, Any]:
        return {"type": "consent", "category": self.category}


@dataclass(frozen=True, slots=True)
class RecommendationOptions:
    """What a `recommendation` column asks of its model (the keys the sandbox honours)."""

    size: int = 10
    fill_with_random: bool = False
    #: `catalogAttributesWhitelist`: the catalog attributes each item carries; empty: all.
    catalog_attributes: tuple[str, ...] = ()


class Batch(Protocol):
    """A run of consecutive customers, one list per requested column."""

    @property
    def size(self) -> int: ...

    def values(self, kind: ColumnKind, key: str, ctx: EvalContext) -> list[Any]:
        """Native values (JSON types) of an id, property or computed attribute column."""
        ...

    def csv_cells(self, kind: ColumnKind, key: str, ctx: EvalContext) -> list[str]:
        """The same column already encoded as CSV cells (see `encode_csv_cells`)."""
        ...

    def consent_values(self, category: str, mode: ConsentMode, ctx: EvalContext) -> list[Any]:
        """What `mode` says of each customer's consent in `category` at `execution_time`."""
        ...

    def recommendation_values(
        self, model_id: str, options: RecommendationOptions, ctx: EvalContext
    ) -> list[Any]:
        """Each customer's recommended catalog items (a list of objects)."""
        ...


class CustomerSource(Protocol):
    """Where customers come from: the synthetic generator or a `--data` file."""

    def batches(self) -> Iterator[Batch]: ...


@dataclass(frozen=True, slots=True)
class Project:
    """Everything the sandbox knows about the project it emulates."""

    customers: int
    ids: tuple[str, ...]
    soft_ids: frozenset[str]
    properties: tuple[str, ...]
    segmentations: tuple[Segmentation, ...]
    attributes: tuple[ComputedAttribute, ...]
    source: CustomerSource
    seed: int | None = None
    data_file: str | None = None
    consents: tuple[ConsentCategory, ...] = ()

    def segmentation(self, segmentation_id: str) -> Segmentation | None:
        return next((s for s in self.segmentations if s.id == segmentation_id), None)

    def attribute(self, kind: str, attribute_id: str) -> ComputedAttribute | None:
        return next(
            (a for a in self.attributes if a.type == kind and a.id == attribute_id),
            None,
        )

    def consent(self, category: str) -> ConsentCategory | None:
        return next((c for c in self.consents if c.category == category), None)


def local_days(timestamps: Sequence[Any], tz: ZoneInfo) -> list[int | None]:
    """Calendar day ordinal of each Unix-seconds value in `tz`; None for non-numbers."""
    if tz is _UTC or tz.key == "UTC":
        # 719163 is the proleptic ordinal of 1970-01-01; this skips a datetime per value.
        # Outside datetime's years 1..9999 a value counts as missing, as in the other zones
        # (and infinity or NaN never reaches int()).
        return [
            int(t // 86400) + 719163 if _is_number(t) and _FIRST_SECOND <= t < _END_SECOND else None
            for t in timestamps
        ]
    out: list[int | None] = []
    for t in timestamps:
        day: int | None = None
        if _is_number(t):
            # Out of datetime's range: treated like a missing value.
            with contextlib.suppress(OverflowError, OSError, ValueError):
                day = dt.datetime.fromtimestamp(t, tz).toordinal()
        out.append(day)
    return out


def days_since(timestamps: Sequence[Any], ctx: EvalContext) -> list[int | None]:
    """Whole calendar days (in the request's zone) from each timestamp to `execution_time`.

    Negative when the timestamp lies after `execution_time`.
    """
    today = _local_day(ctx.execution_time, ctx.timezone)
    return [None if d is None else today - d for d in local_days(timestamps, ctx.timezone)]


def _local_day(moment: int | float, tz: ZoneInfo) -> int:
    """The day ordinal of `moment` in `tz`, also past datetime's last day: the last
    `execution_time` (9999-12-31T23:59:59Z) is already 10000-01-01 east of UTC."""
    day = local_days([moment], tz)[0]
    if day is not None:
        return day
    # The zone's offset where datetime still has a date, applied to the moment itself.
    probe = min(max(moment, _FIRST_SECOND + 86400), _END_SECOND - 86400)
    offset = dt.datetime.fromtimestamp(probe, tz).utcoffset() or dt.timedelta()
    return int((moment + offset.total_seconds()) // 86400) + 719163


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "exists":
        return (left is not None) is bool(right)
    if left is None:
        return False
    if op == "in":
        return bool(left in right)
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    # Ordering only between numbers or between strings; anything else never matches.
    if not ((_is_number(left) and _is_number(right)) or (type(left) is str is type(right))):
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def operand_values(batch: Batch, operand: str, ctx: EvalContext) -> list[Any]:
    """Values of a rule operand over a batch: a property, or `days_since:PROPERTY`."""
    if operand.startswith(DAYS_SINCE):
        return days_since(batch.values("property", operand[len(DAYS_SINCE) :], ctx), ctx)
    return batch.values("property", operand, ctx)


def segment_indexes(batch: Batch, segmentation: Segmentation, ctx: EvalContext) -> list[int]:
    """The segment index of each customer in the batch; -1 where no segment matches."""
    result = [-1] * batch.size
    operands: dict[str, list[Any]] = {}
    for index, segment in enumerate(segmentation.segments):
        match = [True] * batch.size
        for cond in segment.conditions:
            if cond.operand not in operands:
                operands[cond.operand] = operand_values(batch, cond.operand, ctx)
            column = operands[cond.operand]
            match = [
                m and _compare(cond.op, v, cond.value) for m, v in zip(match, column, strict=True)
            ]
        result = [index if r == -1 and m else r for r, m in zip(result, match, strict=True)]
    return result


def encode_csv_cell(value: Any) -> str:
    """One CSV cell: empty for null, JSON text for numbers, booleans, arrays and objects.

    Soft ids therefore appear as JSON array text, e.g. `"[""c1"",""c2""]"` after quoting.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        return "true" if value else "false"
    elif isinstance(value, int | float):
        return json.dumps(value)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if any(c in text for c in _CSV_SPECIAL):
        return '"' + text.replace('"', '""') + '"'
    return text


_CSV_SPECIAL = frozenset(',"\r\n')


def encode_csv_cells(values: Sequence[Any]) -> list[str]:
    """`encode_csv_cell` over a column."""
    return [encode_csv_cell(v) for v in values]
