"""Row counters: equal to the csv module / json.loads however the bytes are chunked."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from exportspec.run.counters import CsvRowCounter, JsonBodyError, JsonRowCounter

FIELD = st.text(alphabet='ab ,"\n\r\u00e9', max_size=6)
ROWS = st.lists(st.lists(FIELD, min_size=1, max_size=4), max_size=30)
CUTS = st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=30)
#: Tiny cuts split quotes and line ends; long ones put many whole lines in one chunk.
CSV_CUTS = st.lists(
    st.integers(min_value=1, max_value=9) | st.integers(min_value=10, max_value=400),
    min_size=1,
    max_size=30,
)


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    out, pos, index = [], 0, 0
    while pos < len(data):
        size = cuts[index % len(cuts)]
        out.append(data[pos : pos + size])
        pos, index = pos + size, index + 1
    return out


def csv_reference(data: bytes) -> int:
    return max(0, len(list(csv.reader(io.StringIO(data.decode(), newline="")))) - 1)


@settings(max_examples=500, deadline=None)
@given(
    rows=ROWS,
    cuts=CSV_CUTS,
    terminator=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
)
def test_csv_counter_matches_the_csv_module(
    rows: list[list[str]], cuts: list[int], terminator: str, final_newline: bool
) -> None:
    if terminator == "\n":
        # The writer quotes only characters of its terminator; a bare \r would then
        # split a record for the reader and the counter alike, but differently.
        rows = [[field.replace("\r", "x") for field in row] for row in rows]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=terminator)
    writer.writerow(["header"])
    writer.writerows([r for r in rows if r != [""]])  # a lone empty field is a blank line
    text = buffer.getvalue()
    if not final_newline:
        text = text.removesuffix(terminator)
    data = text.encode()
    counter = CsvRowCounter()
    for piece in chunks(data, cuts):
        counter.feed(piece)
    counter.close()
    assert counter.rows == csv_reference(data)


def test_csv_counter_examples() -> None:
    for data, rows in [
        (b"", 0),
        (b"a,b\n", 0),
        (b"a,b\n1,2\n", 1),
        (b"a,b\n1,2", 1),
        (b'a,b\n"x\ny",2\n"p ""q"" \n",3\n', 2),
        (b"a,b\r\n1,2\r\n3,4\r\n", 2),
    ]:
        counter = CsvRowCounter()
        counter.feed(data)
        counter.close()
        assert counter.rows == rows, data


JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(JSON_VALUE, max_size=10),
    key=st.sampled_from(["rows", "data"]),
    compact=st.booleans(),
    cuts=CUTS,
)
def test_json_counter_matches_json_loads(
    rows: list[object], key: str, compact: bool, cuts: list[int]
) -> None:
    separators = (",", ":") if compact else (", ", ": ")
    document = {"header": ["a"], key: rows, "success": True}
    data = json.dumps(document, separators=separators).encode()
    counter = JsonRowCounter(key)
    for piece in chunks(data, cuts):
        counter.feed(piece)
    counter.close()
    assert counter.rows == len(rows)
    assert counter.members == {"success": True}  # what a refusal says; nothing else kept


def test_json_counter_rejects_incomplete_and_trailing_data() -> None:
    deep = b'{"rows": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    for data in (
        b'{"rows": [[1], [2]',
        b'{"rows": []} x',
        b"not json",
        b'{"rows": [1 2]}',
        b'{"rows": [NaN]}',
        b'{"rows": [[1, Infinity], [2]]}',
        b'{"rows": [1], "fields": -Infinity}',
        deep,
    ):
        counter = JsonRowCounter()
        try:
            counter.feed(data)
            counter.close()
        except JsonBodyError:
            continue
        raise AssertionError(f"accepted {data!r}")


def test_json_counter_keeps_the_error_members() -> None:
    counter = JsonRowCounter()
    counter.feed(b'{"errors": {"_global": ["nope"]}, "success": false}')
    counter.close()
    assert counter.members == {"errors": {"_global": ["nope"]}, "success": False}
    assert counter.rows == 0


def test_json_counter_keeps_no_big_member() -> None:
    """A huge non-row member (a `data` array under a csv request's probe) is never built."""
    counter = JsonRowCounter("rows")
    counter.feed(b'{"data": [' + b"[1, 2, 3]," * 50_000 + b'[4]], "errors": [' + b"1," * 20_000)
    counter.feed(b'1], "success": false}')
    counter.close()
    assert counter.members == {"success": False}  # `errors` was too big to be a message
