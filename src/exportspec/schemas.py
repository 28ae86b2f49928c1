"""The bundled JSON Schemas: located once, checked against their metaschema, validators cached.

`schema_problems` checks a loaded file (exportspec.toml, the lock, a run record) against its
schema, each problem a located diagnostic, as for spec files."""

from __future__ import annotations

import json
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

if TYPE_CHECKING:
    from exportspec.spec.models import Diagnostic, JsonPath, LoadedDocument
    from exportspec.spec.validate import Conceal

SPEC_SCHEMA = "spec.schema.json"
BODY_SCHEMA = "customers-export.schema.json"
PROJECT_SCHEMA = "project.schema.json"
LOCK_SCHEMA = "lock.schema.json"
RUN_RECORD_SCHEMA = "run-record.schema.json"
BATCH_RECORD_SCHEMA = "batch-record.schema.json"
SCHEMA_NAMES = (
    SPEC_SCHEMA,
    BODY_SCHEMA,
    PROJECT_SCHEMA,
    LOCK_SCHEMA,
    RUN_RECORD_SCHEMA,
    BATCH_RECORD_SCHEMA,
)


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


#: Keywords a `$ref` may stand beside and still be replaced by its target: annotations only.
_ANNOTATIONS = frozenset(("description", "title", "$comment", "examples", "default"))


def _inlined(node: Any, name: str, seen: tuple[str, ...]) -> Any:
    """`node` with each `$ref` to a `$defs` entry of the bundled schemas replaced by a copy
    of its target. Same meaning, but jsonschema no longer resolves a reference for every
    value it checks (an attribute list validated about a third faster). A definition that
    refers to itself keeps its `$ref`."""
    if isinstance(node, list):
        return [_inlined(item, name, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref in SCHEMA_NAMES and set(node) - {"$ref"} <= _ANNOTATIONS:
        whole = {k: v for k, v in load_schema(ref).items() if k not in ("$schema", "$defs")}
        return _inlined(whole, ref, (*seen, ref))  # another bundled file, as a whole
    if isinstance(ref, str) and "#/$defs/" in ref and set(node) - {"$ref"} <= _ANNOTATIONS:
        file, _, definition = ref.partition("#/$defs/")
        file = file or name
        key = f"{file}#{definition}"
        if key in seen or "/" in definition:  # kept, but named absolutely: the copy
            return {**node, "$ref": f"{file}#/$defs/{definition}"}  # may sit in another file
        target = load_schema(file)["$defs"][definition]
        return _inlined(target, file, (*seen, key))
    return {key: _inlined(value, name, seen) for key, value in node.items()}


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
    schema = _inlined(load_schema(name), name, ())
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
