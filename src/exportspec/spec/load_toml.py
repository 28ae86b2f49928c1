"""TOML through `tomllib`, with a small scanner that maps each key and value to its position.

Python 3.11's TOMLDecodeError carries its position only in its message text (`lineno`
and `colno` arrive in 3.14), so the position is read from there.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
import tomllib
from typing import Any

from exportspec.spec.load import MAX_DEPTH, LoadError
from exportspec.spec.models import Diagnostic, JsonPath, Position, SourceMap

_TOML_ERROR_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_ERROR_EOF = re.compile(r"\s*\(at end of document\)\s*$")


def load_toml(text: str, shown: str) -> tuple[Any, SourceMap]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position: Position | None = None
        match = _TOML_ERROR_AT.search(message)
        if match:
            position = Position(int(match[1]), int(match[2]))
            message = message[: match.start()]
        elif (eof := _TOML_ERROR_EOF.search(message)) is not None:
            lines = text.split("\n")
            position = Position(len(lines), len(lines[-1]) + 1)
            message = message[: eof.start()]
        conflict = _toml_conflict(text, position, message) if position else None
        if conflict is not None:
            raise LoadError(
                Diagnostic(shown, conflict[0], conflict[1], conflict[2], rule="duplicate-key")
            ) from None
        raise LoadError(
            Diagnostic(shown, f"TOML syntax error: {message}", position, rule="syntax")
        ) from None
    except RecursionError:
        raise LoadError(
            Diagnostic(shown, f"nesting is deeper than {MAX_DEPTH} levels", rule="too-deep")
        ) from None
    except ValueError as exc:  # tomllib's int() of a decimal past Python's digit limit
        raise LoadError(
            _long_integer(text, shown)
            or Diagnostic(shown, f"TOML value error: {exc}", rule="syntax")
        ) from None
    scanner = _TomlScanner(text)
    scanner.scan()
    source_map = SourceMap(scanner.values, scanner.keys)
    return _toml_to_json(data, shown, source_map, ()), source_map


def _toml_to_json(value: Any, shown: str, source_map: SourceMap, path: JsonPath) -> Any:
    """TOML dates and times become RFC 3339 strings so every value has a JSON form."""
    if len(path) > MAX_DEPTH:
        raise LoadError(
            Diagnostic(
                shown,
                f"nesting is deeper than {MAX_DEPTH} levels",
                source_map.value_position(path),
                path,
                rule="too-deep",
            )
        )
    if isinstance(value, dict):
        return {k: _toml_to_json(v, shown, source_map, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_toml_to_json(v, shown, source_map, (*path, i)) for i, v in enumerate(value)]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int) and _too_many_digits(value):
        raise LoadError(_digits_error(shown, source_map.value_position(path), path))
    if isinstance(value, float) and not math.isfinite(value):
        raise LoadError(
            Diagnostic(
                shown,
                "NaN and infinity have no JSON form",
                source_map.value_position(path),
                path,
                rule="not-json",
            )
        )
    return value


#: A TOML decimal integer, where a value starts (a date, time or float goes on differently).
_DECIMAL = re.compile(r"[+-]?[0-9][0-9_]*(?![0-9_.eE:T-])")


def _digit_limit() -> int:
    """Python's limit on the digits of an integer converted from or to text (0: none)."""
    return sys.get_int_max_str_digits()


def _too_many_digits(value: int) -> bool:
    """Whether `value` (a hexadecimal one, say) has more decimal digits than Python converts."""
    limit = _digit_limit()
    return bool(limit) and value.bit_length() > 3 * limit and abs(value) >= 10**limit


def _digits_error(shown: str, position: Position | None, path: JsonPath) -> Diagnostic:
    return Diagnostic(
        shown,
        f"an integer of more than {_digit_limit()} digits is too large",
        position,
        path,
        rule="too-large",
    )


def _long_integer(text: str, shown: str) -> Diagnostic | None:
    """Where the decimal integer tomllib could not convert is: the text is valid TOML, so
    the scanner can map every value to its position, and the long one is found there."""
    try:
        scanner = _TomlScanner(text)
        scanner.scan()
    except (ValueError, IndexError, tomllib.TOMLDecodeError):
        return None
    starts = [0]
    for line in text.split("\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    limit = _digit_limit()
    for path, position in sorted(
        scanner.values.items(), key=lambda item: (item[1].line, item[1].column)
    ):
        if not 1 <= position.line <= len(starts):
            continue
        match = _DECIMAL.match(text, starts[position.line - 1] + position.column - 1)
        if match is None:
            continue
        digits = sum(ch.isdigit() for ch in match.group())
        if limit and digits > limit:
            return Diagnostic(
                shown,
                f"an integer of {digits} digits is too large",
                position,
                path,
                rule="too-large",
            )
    return None


_TOML_TWICE = re.compile(r"^Cannot declare \((?P<key>.*)\) twice$")


def _toml_conflict(
    text: str, where: Position, message: str
) -> tuple[str, Position, JsonPath] | None:
    """Turn tomllib's "Cannot overwrite a value" / "Cannot declare (...) twice", reported
    after the offending statement, into a duplicate-key message at the second key."""
    if message != "Cannot overwrite a value" and not _TOML_TWICE.match(message):
        return None
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    if not 1 <= where.line <= len(lines):
        return None
    end = starts[where.line - 1] + where.column - 1
    for first in range(where.line, 0, -1):
        segment = text[starts[first - 1] : end]
        body = segment.lstrip(" \t")
        header = body.startswith("[")
        if not header:
            try:
                tomllib.loads(segment)
            except tomllib.TOMLDecodeError:
                continue
        elif first != where.line:
            return None
        try:
            scanner = _TomlScanner(body.lstrip("["))
            scanner._skip_space(newlines=False)
            parts = scanner._dotted_key()
            before = _TomlScanner(text[: starts[first - 1]])
            before.scan()
        except (ValueError, IndexError, tomllib.TOMLDecodeError):
            return None
        column = len(segment) - len(body) + 1 + (len(body) - len(body.lstrip("[")))
        path: JsonPath = tuple(parts) if header else (*before.table, *parts)
        original = before.keys.get(path)
        what = "table" if header else "key"
        shown = ".".join(parts)
        if original is not None:
            return (
                f"duplicate {what} {shown!r} (first defined at line {original.line}, "
                f"column {original.column})",
                Position(first, column),
                path,
            )
        return (f"duplicate {what} {shown!r}", Position(first, column), path)
    return None


class _TomlScanner:
    """Maps every key and value of an already-valid TOML text to its line and column."""

    _BARE = re.compile(r"[A-Za-z0-9_-]+")

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.values: dict[JsonPath, Position] = {(): Position(1, 1)}
        self.keys: dict[JsonPath, Position] = {}
        self.table: JsonPath = ()
        self.array_lengths: dict[JsonPath, int] = {}

    # -- low-level cursor
    def _here(self) -> Position:
        return Position(self.line, self.i - self.line_start + 1)

    def _peek(self, n: int = 1) -> str:
        return self.text[self.i : self.i + n]

    def _advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.i < len(self.text) and self.text[self.i] == "\n":
                self.line += 1
                self.line_start = self.i + 1
            self.i += 1

    def _skip_space(self, *, newlines: bool) -> None:
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self._advance()
            elif ch == "#":
                while self.i < len(self.text) and self.text[self.i] != "\n":
                    self.i += 1
            else:
                return

    # -- grammar
    def scan(self) -> None:
        while True:
            self._skip_space(newlines=True)
            if self.i >= len(self.text):
                return
            if self._peek(2) == "[[":
                self._header(array=True)
            elif self._peek() == "[":
                self._header(array=False)
            else:
                self._key_value(self.table)

    def _header(self, *, array: bool) -> None:
        self._advance(2 if array else 1)
        self._skip_space(newlines=False)
        start = self._here()
        parts = self._dotted_key()
        # `[[a.b]]` appends to the array `a.b` itself: enter arrays of tables named by the
        # leading parts only, never the array being extended.
        path = (*self._resolve(parts[:-1]), parts[-1]) if array else self._resolve(parts)
        if array:
            index = self.array_lengths.get(path, 0)
            self.array_lengths[path] = index + 1
            self.keys.setdefault(path, start)
            self.values.setdefault(path, start)
            path = (*path, index)
        self.keys.setdefault(path, start)
        self.values.setdefault(path, start)
        self.table = path
        self._skip_space(newlines=False)
        self._advance(2 if array else 1)

    def _resolve(self, parts: list[str]) -> JsonPath:
        """Turn a header's dotted key into a path, entering the last element of arrays of tables."""
        path: JsonPath = ()
        for part in parts:
            path = (*path, part)
            if path in self.array_lengths:
                path = (*path, self.array_lengths[path] - 1)
        return path

    def _dotted_key(self) -> list[str]:
        parts = [self._simple_key()]
        while True:
            self._skip_space(newlines=False)
            if self._peek() != ".":
                return parts
            self._advance()
            self._skip_space(newlines=False)
            parts.append(self._simple_key())

    def _simple_key(self) -> str:
        quote = self._peek()
        if quote in ("'", '"'):
            start = self.i
            self._skip_string()
            value = tomllib.loads(f"k = {self.text[start : self.i]}")["k"]
            return str(value)
        match = self._BARE.match(self.text, self.i)
        if match is None:  # pragma: no cover - tomllib accepted the text
            raise ValueError(f"unexpected TOML key at {self._here()}")
        self.i = match.end()
        return match.group()

    def _key_value(self, base: JsonPath) -> None:
        path = base
        while True:
            self._skip_space(newlines=False)
            start = self._here()
            path = (*path, self._simple_key())
            self.keys.setdefault(path, start)
            self.values.setdefault(path, start)
            self._skip_space(newlines=False)
            if self._peek() == ".":
                self._advance()
                continue
            break
        self._skip_space(newlines=False)
        self._advance()  # '='
        self._skip_space(newlines=False)
        self._value(path)

    def _value(self, path: JsonPath) -> None:
        self.values[path] = self._here()
        ch = self._peek()
        if ch == "{":
            self._advance()
            while True:
                self._skip_space(newlines=False)
                if self._peek() == "}":
                    self._advance()
                    return
                if self._peek() == ",":
                    self._advance()
                    continue
                self._key_value(path)
        elif ch == "[":
            self._advance()
            index = 0
            while True:
                self._skip_space(newlines=True)
                if self._peek() == "]":
                    self._advance()
                    return
                if self._peek() == ",":
                    self._advance()
                    continue
                self._value((*path, index))
                index += 1
        elif ch in ("'", '"'):
            self._skip_string()
        else:
            while self.i < len(self.text) and self.text[self.i] not in ",]}\n#":
                self.i += 1

    def _skip_string(self) -> None:
        quote = self._peek()
        if self._peek(3) == quote * 3:
            self._advance(3)
            while self.i < len(self.text):
                if quote == '"' and self._peek() == "\\":
                    self._advance(2)
                elif self._peek(3) == quote * 3:
                    self._advance(3)
                    while self._peek() == quote:  # up to two quotes may close the content
                        self._advance()
                    return
                else:
                    self._advance()
            return
        self._advance()
        while self.i < len(self.text):
            ch = self._peek()
            if quote == '"' and ch == "\\":
                self._advance(2)
            elif ch == quote:
                self._advance()
                return
            else:
                self._advance()
