"""Assemble the parts of a split export into one output, streaming, in constant memory.

CSV: one header (every part's must be the same), then each part's rows. `table_json`:
one `header` and every part's `rows`; `native_json`: one `fields` and every part's
`data`. JSON parts are read twice with ijson (the header, then row by row) and each row
written again, so no part is ever held whole in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from exportspec.errors import RefusedError
from exportspec.run.counters import row_counter
from exportspec.run.output import Sink

CHUNK = 1024 * 1024
#: The JSON members holding the column descriptions and the rows, by format.
JSON_MEMBERS = {"table_json": ("header", "rows"), "native_json": ("fields", "data")}


@dataclass(frozen=True, slots=True)
class Assembled:
    """The assembled output's size, sha256 and data rows."""

    size: int
    sha256: str
    rows: int


class _Counted:
    """Writes through to a sink, hashing and counting rows on the way (buffered)."""

    def __init__(self, sink: Sink, export_format: str) -> None:
        self._sink = sink
        self._digest = hashlib.sha256()
        self._counter = row_counter(export_format)
        self._buffer = bytearray()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            self._digest.update(data)
            self._counter.feed(data)
            self.size += len(data)
            self._sink.write(data)

    def close(self) -> Assembled:
        self.flush()
        self._counter.close()
        return Assembled(self.size, self._digest.hexdigest(), self._counter.rows)


def assemble(parts: Sequence[tuple[int, Path]], export_format: str, sink: Sink) -> Assembled:
    """Write the (segment, file) parts, in order, into `sink` as one export; the sink is
    not committed. Parts whose headers differ are refused (RefusedError), naming the first
    difference, before anything is written."""
    out = _Counted(sink, export_format)
    if export_format in JSON_MEMBERS:
        _assemble_json(parts, export_format, out)
    else:
        _assemble_csv(parts, out)
    return out.close()


# --------------------------------------------------------------------------- CSV


def _csv_header(stream: BinaryIO) -> bytes:
    """The header record's bytes, its line end included: lines up to an even quote count
    (a quoted header cell may hold a newline)."""
    header = b""
    while True:
        line = stream.readline()
        header += line
        if not line or header.count(b'"') % 2 == 0:
            return header


def _assemble_csv(parts: Sequence[tuple[int, Path]], out: _Counted) -> None:
    headers: list[bytes] = []
    for _, path in parts:
        with path.open("rb") as stream:
            headers.append(_csv_header(stream))
    first = headers[0]
    for (segment, _), header in zip(parts, headers, strict=True):
        if header.rstrip(b"\r\n") != first.rstrip(b"\r\n"):
            raise _header_mismatch(parts[0][0], segment, _cells(first), _cells(header))
    ending = b"\r\n" if first.endswith(b"\r\n") else b"\n"
    out.write(first.rstrip(b"\r\n") + ending)
    for (_, path), header in zip(parts, headers, strict=True):
        last = b"\n"
        with path.open("rb") as stream:
            stream.seek(len(header))
            while chunk := stream.read(CHUNK):
                out.write(chunk)
                last = chunk[-1:]
        if last != b"\n":  # a part whose last row has no line end: the next starts afresh
            out.write(ending)


def _cells(header: bytes) -> list[str]:
    text = header.decode("utf-8", "replace")
    return next(csv.reader(io.StringIO(text, newline="")), [])


# --------------------------------------------------------------------------- JSON


def _assemble_json(parts: Sequence[tuple[int, Path]], export_format: str, out: _Counted) -> None:
    head_key, rows_key = JSON_MEMBERS[export_format]
    heads: list[Any] = []
    for _, path in parts:
        with path.open("rb") as stream:
            heads.append(next(ijson.items(stream, head_key), None))
    for (segment, _), head in zip(parts, heads, strict=True):
        if head != heads[0]:
            raise _header_mismatch(parts[0][0], segment, heads[0], head, member=head_key)
    out.write(b'{"success":true,"' + head_key.encode() + b'":' + dump(heads[0]))
    out.write(b',"' + rows_key.encode() + b'":[')
    first = True
    for _, path in parts:
        with path.open("rb") as stream:
            for row in ijson.items(stream, f"{rows_key}.item"):
                out.write((b"" if first else b",") + dump(row))
                first = False
    out.write(b"]}")


def dump(value: Any) -> bytes:
    """Compact JSON for a value ijson read: its Decimals written as the numbers they were."""
    if isinstance(value, Decimal):
        return str(value).encode()
    if isinstance(value, list):
        return b"[" + b",".join(dump(v) for v in value) + b"]"
    if isinstance(value, dict):
        items = (
            json.dumps(k, ensure_ascii=False).encode() + b":" + dump(v) for k, v in value.items()
        )
        return b"{" + b",".join(items) + b"}"
    return json.dumps(value, ensure_ascii=False).encode()


# --------------------------------------------------------------------------- mismatch


def _header_mismatch(
    first_segment: int, segment: int, first: Any, other: Any, *, member: str = "header"
) -> RefusedError:
    """The first column where two parts' headers differ, said plainly."""
    if isinstance(first, list) and isinstance(other, list):
        for index in range(max(len(first), len(other))):
            a = first[index] if index < len(first) else "(none)"
            b = other[index] if index < len(other) else "(none)"
            if a != b:
                where = f"column {index + 1} is {_show(a)} in segment {first_segment}'s part, "
                where += f"{_show(b)} in segment {segment}'s"
                break
        else:  # pragma: no cover - equal lists do not differ
            where = "they differ"
    else:
        where = f"segment {first_segment}'s is {_show(first)}, segment {segment}'s {_show(other)}"
    return RefusedError(
        f"the parts' {member}s differ, so they cannot be one export: {where}; no output was written"
    )


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:80] + "..."
