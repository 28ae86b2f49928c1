"""JSON files we read back (the lock, run records): strict JSON, located like spec files.

Strict: no NaN or Infinity, no duplicate keys, no integer past Python's digit limit, at
most MAX_DEPTH levels. Positions come from the YAML loader (JSON is YAML 1.2).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from exportspec.errors import abridged
from exportspec.spec.load import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    LoadError,
    load_bytes,
    require_mapping,
    too_deep,
)
from exportspec.spec.load_yaml import load_yaml
from exportspec.spec.models import Diagnostic, LoadedDocument, Position, SourceMap


class _DuplicateKey(ValueError):
    pass


class _NotJson(ValueError):
    """A token JSON's grammar lets through but JSON values cannot hold: NaN, Infinity, 1e400."""

    def __init__(self, token: str, problem: str) -> None:
        super().__init__(problem)
        self.token = token


def _reject_constant(name: str) -> Any:
    raise _NotJson(name, f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A botched merge can leave a key twice; json.loads would quietly keep the last.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"duplicate key {key!r}")
        out[key] = value
    return out


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJson(text, f"the number {abridged(text, 20)} is out of range")
    return value


#: A JSON string, or a run of characters that is no string and no punctuation (a bare token).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s,:\[\]{}"]+')


def _token_position(text: str, token: str) -> Position | None:
    """Where the bare `token` (not inside a string) first appears in JSON text."""
    from exportspec.spec.models import Position

    for match in _TOKEN.finditer(text):
        if match.group() == token:
            before = text[: match.start()]
            return Position(before.count("\n") + 1, match.start() - before.rfind("\n"))
    return None


def load_json_bytes(raw: bytes, path: Path) -> LoadedDocument:
    """A JSON file exportspec wrote (the lock, a run record), read back strictly: the data as
    JSON defines it (no NaN or Infinity, no duplicate keys, nesting bounded) plus where each
    value was written, for located diagnostics. `path` is the file as diagnostics show it.

    Raises LoadError with a located diagnostic. The positions come from the YAML loader (JSON
    is YAML 1.2); for the rare JSON it cannot take (a key longer than 1024 characters, an
    escaped surrogate pair), diagnostics name the file and the field without a line.
    """
    shown = str(path)
    if len(raw) > MAX_FILE_BYTES:
        raise LoadError(Diagnostic(shown, f"file is larger than {MAX_FILE_BYTES} bytes", rule="io"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        load_bytes(raw, path=path)  # raises the located encoding error that spec files get
        raise  # not reached
    duplicate: str | None = None
    try:
        data = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_float=_finite,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        raise LoadError(
            Diagnostic(
                shown, f"not valid JSON ({exc.msg})", Position(exc.lineno, exc.colno), rule="syntax"
            )
        ) from None
    except RecursionError:
        raise LoadError(
            Diagnostic(shown, f"nesting is deeper than {MAX_DEPTH} levels", rule="too-deep")
        ) from None
    except _DuplicateKey as exc:
        duplicate = str(exc)  # the YAML loader below says where
    except _NotJson as exc:
        where = _token_position(text, exc.token)
        raise LoadError(
            Diagnostic(shown, f"not valid JSON ({exc})", where, rule="syntax")
        ) from None
    except ValueError as exc:  # json's cap on the digits of an integer
        raise LoadError(_long_integer(text, shown, exc)) from None
    try:
        _, source_map = load_yaml(text, shown)
    except LoadError as exc:
        if exc.diagnostic.rule in ("too-deep", "duplicate-key"):
            raise  # said where, as for spec files
        source_map = SourceMap({}, {})
    if duplicate is not None:
        raise LoadError(Diagnostic(shown, f"not valid JSON ({duplicate})", rule="duplicate-key"))
    if too_deep(data):
        raise LoadError(
            Diagnostic(shown, f"nesting is deeper than {MAX_DEPTH} levels", rule="too-deep")
        )
    require_mapping(data, source_map, shown, f"a JSON object, not {_json_kind(data)}")
    return LoadedDocument(path, data, source_map, hashlib.sha256(raw).hexdigest())


def _long_integer(text: str, shown: str, exc: ValueError) -> Diagnostic:
    """The integer json.loads could not convert (past Python's digit limit), located."""
    for match in _TOKEN.finditer(text):
        token = match.group()
        digits = sum(ch.isdigit() for ch in token)
        if token[0] != '"' and digits > sys.get_int_max_str_digits() > 0:
            before = text[: match.start()]
            where = Position(before.count("\n") + 1, match.start() - before.rfind("\n"))
            message = f"not valid JSON (an integer of {digits} digits is too large)"
            return Diagnostic(shown, message, where, rule="too-large")
    return Diagnostic(shown, f"not valid JSON ({exc})", rule="syntax")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else type(value).__name__
