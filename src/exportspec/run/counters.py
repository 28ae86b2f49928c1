"""Row counters: count an export's data rows (no header) as its bytes stream past.

CSV is counted by a quote-aware newline count; JSON (`table_json`, `native_json`) by
ijson's C parser, which also checks that the body is one complete JSON document.
Both keep constant memory: a chunk at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from itertools import islice
from typing import Protocol

import ijson

#: Every byte except `"` and `\n`: what the CSV counter deletes before looking at structure.
_NOT_QUOTE_OR_NEWLINE = bytes(b for b in range(256) if b not in b'"\n')


class RowCounter(Protocol):
    """Counts data rows of an export, chunk by chunk; `close()` checks the whole body."""

    rows: int

    def feed(self, chunk: bytes) -> None: ...

    def close(self) -> None: ...


class CsvRowCounter:
    """CSV records minus the header, in constant memory; a newline inside quotes ends nothing.

    A newline ends a record when an even number of `"` precede it (escaped `""` pairs
    cancel out). Per chunk, all bytes but quotes and newlines are deleted, which leaves one
    run of quotes per line. When no whole line in the chunk has an odd run, no newline in
    it changes the quote state: the common case, decided from the set of run lengths (the
    cut lines at either end set the state before and after). Otherwise adjacent quote
    pairs are removed (which changes no newline's parity) and the few quotes left, around
    fields that span lines, are walked. Runs at memchr speed on quote-free data.
    """

    def __init__(self) -> None:
        self._record_ends = 0
        self._in_quotes = False
        self._last_byte = b"\n"[0]
        self.rows = 0

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._last_byte = chunk[-1]
        if not self._in_quotes and b'"' not in chunk:
            self._record_ends += chunk.count(b"\n")
        else:
            skeleton = chunk.translate(None, _NOT_QUOTE_OR_NEWLINE)
            runs = skeleton.split(b"\n")  # the first and last lines are cut by the chunk
            newlines = len(runs) - 1
            # A set of lengths is cheaper than removing the quote pairs: lines are many,
            # distinct lengths few.
            if newlines and not any(n & 1 for n in set(map(len, islice(runs, 1, newlines)))):
                at_newlines = self._in_quotes != bool(len(runs[0]) & 1)
                self._record_ends += 0 if at_newlines else newlines
                self._in_quotes = at_newlines != bool(len(runs[-1]) & 1)
            else:
                self._walk(skeleton.replace(b'""', b""))
        self.rows = max(0, self._records() - 1)

    def _walk(self, skeleton: bytes) -> None:
        """Count the newlines outside quotes in a skeleton of quotes (unpaired) and newlines."""
        parts = skeleton.split(b'"')
        first_outside = 1 if self._in_quotes else 0
        self._record_ends += sum(part.count(b"\n") for part in parts[first_outside::2])
        if len(parts) % 2 == 0:  # an odd number of quotes flips the state
            self._in_quotes = not self._in_quotes

    def close(self) -> None:
        self.rows = max(0, self._records() - 1)

    def _records(self) -> int:
        unterminated = 1 if self._last_byte != b"\n"[0] else 0
        return self._record_ends + unterminated


class JsonBodyError(ValueError):
    """The JSON body is not one complete, valid JSON document."""


#: Where a format keeps its rows: `{"header": [...], "rows": [...]}` for table_json,
#: `{"fields": [...], "data": [...]}` for native_json.
ROWS_KEY = {"table_json": "rows", "native_json": "data"}


#: Nesting deeper than this is not an export but a broken (or hostile) body.
MAX_JSON_DEPTH = 100
#: Top-level members kept: what a refusal says. Anything else (rows, header) is skipped.
KEPT_MEMBERS = frozenset(("success", "error", "errors", "message"))
#: A kept member larger than this many JSON values is not a message: it is dropped.
MEMBER_EVENTS = 10_000
_OPEN = frozenset(("start_map", "start_array"))
_CLOSE = frozenset(("end_map", "end_array"))


class JsonRowCounter:
    """Items of the rows array (or of a top-level array), from ijson's C tokenizer.

    ijson checks that the body is one complete JSON document without NaN or Infinity;
    we walk its events, counting the values that start inside the rows array. The
    top-level members that say whether it is a refusal (success, error, errors, message)
    are kept in `members`, up to MEMBER_EVENTS each. Memory stays at one chunk's events:
    nothing else is built.
    """

    def __init__(self, rows_key: str = "rows") -> None:
        self._rows_key = rows_key
        self._events = ijson.sendable_list()
        self._parser = ijson.basic_parse_coro(self._events)
        self._depth = 0
        #: The depth at which rows start: 1 in a top-level array, 2 inside `rows`.
        self._row_depth = -1
        self._key: str | None = None
        self._member: ijson.ObjectBuilder | None = None
        self._member_events = 0
        self.rows = 0
        self.members: dict[str, object] = {}

    def feed(self, chunk: bytes) -> None:
        with _json_errors():
            self._parser.send(chunk)
        self._walk()

    def close(self) -> None:
        with _json_errors():
            self._parser.close()
        self._walk()

    def _walk(self) -> None:
        depth, rows, row_depth = self._depth, self.rows, self._row_depth
        for event, value in self._events:
            if depth == row_depth and event != "end_array":
                rows += 1  # a value starts inside the rows array
            if event in _OPEN:
                if depth == 0 and event == "start_array":
                    row_depth = 1
                elif depth == 1 and self._key == self._rows_key and event == "start_array":
                    row_depth = 2
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    raise JsonBodyError(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
            elif event in _CLOSE:
                depth -= 1
                if depth < row_depth:
                    row_depth = -1
            elif depth == 0:
                raise JsonBodyError("the body is not a JSON object or array")
            if depth == 1 and event == "map_key":
                self._key = str(value)
                if self._key in KEPT_MEMBERS:
                    self._member, self._member_events = ijson.ObjectBuilder(), 0
            elif self._member is not None:
                self._member.event(event, value)
                self._member_events += 1
                if depth == 1:  # the member's value is complete
                    self.members[str(self._key)] = self._member.value
                    self._member = None
                elif self._member_events > MEMBER_EVENTS:
                    self._member = None  # too big to be a message: not kept
        del self._events[:]
        self._depth, self.rows, self._row_depth = depth, rows, row_depth


@contextlib.contextmanager
def _json_errors() -> Iterator[None]:
    """ijson's errors as JsonBodyError; yajl2_c raises SystemError for an integer past
    Python's digit limit."""
    try:
        yield
    except (ijson.JSONError, ValueError, SystemError) as exc:
        raise JsonBodyError(_reason(exc)) from None


def _reason(error: Exception) -> str:
    """ijson's (yajl's) message, first line only: it quotes the offending bytes below it."""
    text = str(error).strip().splitlines()
    detail = text[0] if text else type(error).__name__
    return f"the body is not valid JSON ({detail})"


def row_counter(export_format: str) -> RowCounter:
    """The counter for a requested export format."""
    if export_format == "csv":
        return CsvRowCounter()
    return JsonRowCounter(ROWS_KEY.get(export_format, "rows"))
