"""The bundled JSON Schemas: located once, checked against their metaschema, validators cached.

Also the way back in for the JSON files exportspec writes (the lock, run records): read
strictly with the position of every value, checked against their schema, each problem a
located diagnostic, as for exportspec.toml and spec files."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from exportspec.errors import abridged

if TYPE_CHECKING:
    from exportspec.spec.models import Diagnostic, JsonPath, LoadedDocument, Position
    from exportspec.spec.validate import Conceal

SPEC_SCHEMA = "spec.schema.json"
BODY_SCHEMA = "customers-export.schema.json"
PROJECT_SCHEMA = "project.schema.json"
LOCK_SCHEMA = "lock.schema.json"
RUN_RECORD_SCHEMA = "run-record.schema.json"
SCHEMA_NAMES = (SPEC_SCHEMA, BODY_SCHEMA, PROJECT_SCHEMA, LOCK_SCHEMA, RUN_RECORD_SCHEMA)


@cache
def _python_regex(pattern: str) -> re.Pattern[str]:
    """An ECMA-262 `pattern` for Python's re: a final `$` means the end of the string.

    In Python `$` also matches before a trailing newline, so `^[a-z]+$` would accept
    "name\n", which JSON Schema (ECMA-262 semantics) rejects.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _python_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


#: Draft 2020-12 with ECMA-262 end-of-string semantics for `pattern` (and `propertyNames`).
SchemaValidator: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern}
)


@cache
def schema_text(name: str) -> str:
    """The raw text of a bundled schema file (the `exportspec.schema_files` resources)."""
    try:
        return resources.files("exportspec.schema_files").joinpath(name).read_text(encoding="utf-8")
    except ModuleNotFoundError:
        # An editable install maps no data-only package; read the checkout's schemas/ instead.
        checkout = Path(__file__).resolve().parents[2] / "schemas" / name
        return checkout.read_text(encoding="utf-8")


@cache
def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text(name))
    return schema


@cache
def registry() -> Registry[Any]:
    """All bundled schemas by file name, for the relative `$ref`s between them.

    The schemas carry no `$id`, so the same relative references also resolve next to the
    files for editors and for check-jsonschema.
    """
    pairs: list[tuple[str, Resource[Any]]] = [
        (name, DRAFT202012.create_resource(load_schema(name))) for name in SCHEMA_NAMES
    ]
    return Registry().with_resources(pairs)


@cache
def validator(name: str) -> Validator:
    """A cached Draft 2020-12 validator for a bundled schema, with format checking on."""
    schema = load_schema(name)
    SchemaValidator.check_schema(schema)
    return SchemaValidator(
        schema,
        registry=registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def spec_validator() -> Validator:
    return validator(SPEC_SCHEMA)


def body_validator() -> Validator:
    return validator(BODY_SCHEMA)


def subschema_validator(name: str, pointer: str) -> Validator:
    """A validator for one `$defs` entry of a bundled schema, e.g. a variable declaration."""
    return _subschema_validator(name, pointer)


@cache
def _subschema_validator(name: str, pointer: str) -> Validator:
    return SchemaValidator(
        {"$ref": f"{name}#{pointer}"},
        registry=registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


# --------------------------------------------------------------------------- files checked


def schema_problems(
    name: str, document: LoadedDocument, *, conceal: Conceal | None = None
) -> list[Diagnostic]:
    """Every error of a loaded file against bundled schema `name`, each at the file:line:column
    it was written and naming the field, sorted.

    Values for which `conceal(path, value)` holds are never part of a message; without
    `conceal` (files that hold no secrets: the lock, run records), only values longer than
    SHOWN_LENGTH characters of JSON are left out.
    """
    from exportspec.spec.validate import CONCEALED, schema_diagnostics, sort_diagnostics

    checker = validator(name)
    if conceal is not None:
        return sort_diagnostics(
            schema_diagnostics(checker, document, document.data, conceal=conceal)
        )
    found = schema_diagnostics(checker, document, document.data, conceal=_long_value)
    return sort_diagnostics(
        replace(d, message=d.message.replace(CONCEALED, _TOO_LONG)) for d in found
    )


#: Longer values (in JSON) are not echoed in messages: a pasted megabyte is not shown back.
SHOWN_LENGTH = 40
_TOO_LONG = f"the value (not shown: longer than {SHOWN_LENGTH} characters)"


def _long_value(path: JsonPath, value: Any) -> bool:
    return len(json.dumps(value, ensure_ascii=False, default=str)) > SHOWN_LENGTH


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
    from exportspec.jsontext import deeper_than
    from exportspec.spec.load import MAX_DEPTH, MAX_FILE_BYTES, LoadError, load_bytes
    from exportspec.spec.load_yaml import load_yaml
    from exportspec.spec.models import Diagnostic, LoadedDocument, Position, SourceMap

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
        raise LoadError(Diagnostic(shown, f"not valid JSON ({exc})", rule="syntax")) from None
    try:
        _, source_map = load_yaml(text, shown)
    except LoadError as exc:
        if exc.diagnostic.rule in ("too-deep", "duplicate-key"):
            raise  # said where, as for spec files
        source_map = SourceMap({}, {})
    if duplicate is not None:
        raise LoadError(Diagnostic(shown, f"not valid JSON ({duplicate})", rule="duplicate-key"))
    if deeper_than(data, MAX_DEPTH):
        raise LoadError(
            Diagnostic(shown, f"nesting is deeper than {MAX_DEPTH} levels", rule="too-deep")
        )
    if not isinstance(data, dict):
        raise LoadError(
            Diagnostic(
                shown,
                f"the top level must be a JSON object, not {_json_kind(data)}",
                source_map.value_position(()) or Position(1, 1),
                rule="not-a-mapping",
            )
        )
    return LoadedDocument(path, data, source_map, hashlib.sha256(raw).hexdigest())


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
