"""`--data FILE`: a user's own customers and segmentations, as JSON Lines.

Format (one JSON object per line; blank lines and lines starting with `#` are skipped;
numbers must fit a double and values nest at most 100 levels deep):

- optionally, first, one definitions line:
  `{"segmentations": [SEGMENTATION, ...], "attributes": [ATTRIBUTE, ...]}`
  - SEGMENTATION: `{"id": ..., "name": ..., "segments": [{"name": ..., "where": WHERE}, ...]}`;
    a customer is in the first segment whose WHERE holds, else in segment -1.
  - WHERE: `{OPERAND: {OP: VALUE, ...}, ...}`, every comparison must hold. OPERAND is a property
    name or `days_since:PROPERTY` (whole calendar days from that Unix-seconds property to
    `execution_time`, in the request's `timezone`). OP is one of `==`, `!=`, `<`, `<=`, `>`, `>=`,
    `in` (VALUE a list) or `exists` (VALUE true/false). A missing value matches only
    `exists: false`.
  - ATTRIBUTE: `{"type": "aggregate"|"expression"|"prediction", "id": "...", "name": "..."}`.
- then one customer per line:
  `{"ids": {"registered": ..., "cookie": [...]}, "properties": {...}, "attributes": {ID: VALUE}}`.
  An id given as a list (and `cookie` always) is a soft id: an array, `[]` when absent.
  Property names are the union over all customers, in first-seen order; absent ones are null.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from exportspec.errors import ConfigError
from exportspec.jsontext import StrictJsonError
from exportspec.sandbox.jsoninput import load_json
from exportspec.sandbox.model import (
    COMPUTED_KINDS,
    DAYS_SINCE,
    OPERATORS,
    Batch,
    ColumnKind,
    ComputedAttribute,
    ComputedKind,
    Condition,
    ConsentMode,
    EvalContext,
    Project,
    RecommendationOptions,
    Segment,
    Segmentation,
    encode_csv_cells,
)

_BATCH_SIZE = 4096
#: The largest data file read (256 MiB): it is held in memory, several times over as objects.
MAX_DATA_FILE_BYTES = 256 * 1024 * 1024


class DataFileError(ConfigError):
    """A `--data` file cannot be read or does not follow the documented format."""


class _Customer:
    __slots__ = ("attributes", "ids", "properties")

    def __init__(
        self, ids: dict[str, Any], properties: dict[str, Any], attributes: dict[str, Any]
    ) -> None:
        self.ids = ids
        self.properties = properties
        self.attributes = attributes


class FileBatch:
    """A slice of the loaded customers."""

    def __init__(self, customers: list[_Customer], soft_ids: frozenset[str]) -> None:
        self._customers = customers
        self._soft_ids = soft_ids
        self.size = len(customers)

    def values(self, kind: ColumnKind, key: str, ctx: EvalContext) -> list[Any]:
        if kind == "id":
            empty: Any = [] if key in self._soft_ids else None
            return [c.ids.get(key, empty) for c in self._customers]
        if kind == "property":
            return [c.properties.get(key) for c in self._customers]
        return [c.attributes.get(key) for c in self._customers]

    def csv_cells(self, kind: ColumnKind, key: str, ctx: EvalContext) -> list[str]:
        return encode_csv_cells(self.values(kind, key, ctx))

    # A data file defines no consent categories and no recommendation models, so such
    # columns are refused before an export; these answer for completeness.
    def consent_values(self, category: str, mode: ConsentMode, ctx: EvalContext) -> list[Any]:
        return [False if mode == "valid" else None] * self.size

    def recommendation_values(
        self, model_id: str, options: RecommendationOptions, ctx: EvalContext
    ) -> list[Any]:
        return [[] for _ in range(self.size)]


class FileSource:
    """Customers loaded from a data file, held in memory."""

    def __init__(self, customers: list[_Customer], soft_ids: frozenset[str]) -> None:
        self._customers = customers
        self._soft_ids = soft_ids

    def batches(self) -> Iterator[Batch]:
        for start in range(0, len(self._customers), _BATCH_SIZE):
            yield FileBatch(self._customers[start : start + _BATCH_SIZE], self._soft_ids)


def load_data_file(path: Path) -> Project:
    """Read a JSON Lines data file into a project; errors name the file and line."""
    from exportspec.spec.load import InputReadError, read_bounded

    try:
        lines = read_bounded(path, MAX_DATA_FILE_BYTES).decode("utf-8").splitlines()
    except InputReadError as exc:
        raise DataFileError(f"cannot read data file {path}: {exc.reason}") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(f"cannot read data file {path}: {exc}") from None
    segmentations: tuple[Segmentation, ...] = ()
    attributes: tuple[ComputedAttribute, ...] = ()
    customers: list[_Customer] = []
    ids: dict[str, None] = {}  # insertion-ordered sets
    soft: set[str] = {"cookie"}
    properties: dict[str, None] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        try:
            record = load_json(line)
        except StrictJsonError as exc:
            raise DataFileError(f"{where}: invalid JSON: {exc}") from None
        if not isinstance(record, dict):
            raise DataFileError(f"{where}: expected a JSON object")
        if "ids" not in record:
            if customers or segmentations or attributes:
                raise DataFileError(
                    f'{where}: a customer needs "ids"; definitions go on the first line only'
                )
            segmentations, attributes = _definitions(record, where)
            continue
        customer = _customer(record, where)
        for name, value in customer.ids.items():
            ids.setdefault(name)
            if isinstance(value, list):
                soft.add(name)
        for name in customer.properties:
            properties.setdefault(name)
        customers.append(customer)
    soft_ids = frozenset(soft & ids.keys())
    for customer in customers:
        for name in soft_ids:
            value = customer.ids.get(name)
            if isinstance(value, str):
                customer.ids[name] = [value]
    return Project(
        customers=len(customers),
        ids=tuple(ids),
        soft_ids=soft_ids,
        properties=tuple(properties),
        segmentations=segmentations,
        attributes=attributes,
        source=FileSource(customers, soft_ids),
        data_file=str(path),
    )


def _customer(record: Mapping[str, Any], where: str) -> _Customer:
    unknown = set(record) - {"ids", "properties", "attributes"}
    if unknown:
        raise DataFileError(f"{where}: unknown key(s) {sorted(unknown)} in a customer")
    ids = _object(record.get("ids"), f'{where}: "ids"')
    if not ids:
        raise DataFileError(f'{where}: "ids" needs at least one identifier')
    for name, value in ids.items():
        valid = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        if not valid:
            raise DataFileError(f'{where}: id "{name}" must be a string or a list of strings')
    return _Customer(
        dict(ids),
        dict(_object(record.get("properties", {}), f'{where}: "properties"')),
        dict(_object(record.get("attributes", {}), f'{where}: "attributes"')),
    )


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataFileError(f"{what} must be a JSON object")
    return cast(dict[str, Any], value)


def _definitions(
    record: Mapping[str, Any], where: str
) -> tuple[tuple[Segmentation, ...], tuple[ComputedAttribute, ...]]:
    unknown = set(record) - {"segmentations", "attributes"}
    if unknown:
        raise DataFileError(
            f'{where}: unknown key(s) {sorted(unknown)}; a customer line needs "ids", '
            'a definitions line has "segmentations" and/or "attributes"'
        )
    segmentations = tuple(
        _segmentation(item, f"{where}: segmentations[{i}]")
        for i, item in enumerate(_list(record.get("segmentations", []), f"{where}: segmentations"))
    )
    attributes = tuple(
        _attribute(item, f"{where}: attributes[{i}]")
        for i, item in enumerate(_list(record.get("attributes", []), f"{where}: attributes"))
    )
    seen: set[tuple[str, str]] = set()
    for kind, ident in [("segmentation", s.id) for s in segmentations] + [
        (a.type, a.id) for a in attributes
    ]:
        if (kind, ident) in seen:
            raise DataFileError(f'{where}: duplicate {kind} id "{ident}"')
        seen.add((kind, ident))
    return segmentations, attributes


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise DataFileError(f"{what} must be a JSON array")
    return value


def _text(item: Mapping[str, Any], key: str, what: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise DataFileError(f'{what}: "{key}" must be a non-empty string')
    return value


def _segmentation(item: Any, what: str) -> Segmentation:
    item = _object(item, what)
    if set(item) - {"id", "name", "segments"}:
        raise DataFileError(f'{what}: allowed keys are "id", "name", "segments"')
    segments = _list(item.get("segments"), f"{what}.segments")
    if not segments:
        raise DataFileError(f"{what}.segments must not be empty")
    return Segmentation(
        _text(item, "id", what),
        _text(item, "name", what),
        tuple(_segment(s, f"{what}.segments[{i}]") for i, s in enumerate(segments)),
    )


def _segment(item: Any, what: str) -> Segment:
    item = _object(item, what)
    if set(item) - {"name", "where"}:
        raise DataFileError(f'{what}: allowed keys are "name", "where"')
    conditions: list[Condition] = []
    for operand, tests in _object(item.get("where", {}), f"{what}.where").items():
        if operand.startswith(DAYS_SINCE) and not operand[len(DAYS_SINCE) :]:
            raise DataFileError(f"{what}.where: {DAYS_SINCE} needs a property name")
        for op, value in _object(tests, f"{what}.where.{operand}").items():
            if op not in OPERATORS:
                raise DataFileError(
                    f'{what}.where.{operand}: unknown operator "{op}" '
                    f"(use one of {', '.join(OPERATORS)})"
                )
            if op == "in" and not isinstance(value, list):
                raise DataFileError(f'{what}.where.{operand}: "in" needs a list')
            if op == "exists" and not isinstance(value, bool):
                raise DataFileError(f'{what}.where.{operand}: "exists" needs true or false')
            conditions.append(Condition(operand, op, value))
    return Segment(_text(item, "name", what), tuple(conditions))


def _attribute(item: Any, what: str) -> ComputedAttribute:
    item = _object(item, what)
    kind = item.get("type")
    if kind not in COMPUTED_KINDS:
        raise DataFileError(f'{what}: "type" must be one of {", ".join(COMPUTED_KINDS)}')
    if set(item) - {"type", "id", "name"}:
        raise DataFileError(f'{what}: allowed keys are "type", "id", "name"')
    return ComputedAttribute(
        cast(ComputedKind, kind), _text(item, "id", what), _text(item, "name", what)
    )
