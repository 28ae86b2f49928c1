"""The bundled JSON Schemas: located once, checked against their metaschema, validators cached."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_SCHEMA = "spec.schema.json"
BODY_SCHEMA = "customers-export.schema.json"
SCHEMA_NAMES = (SPEC_SCHEMA, BODY_SCHEMA)


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
    """All bundled schemas, addressable by file name and by `$id`, for `$ref` between them."""
    pairs: list[tuple[str, Resource[Any]]] = []
    for name in SCHEMA_NAMES:
        resource = DRAFT202012.create_resource(load_schema(name))
        pairs += [(name, resource), (load_schema(name)["$id"], resource)]
    return Registry().with_resources(pairs)


@cache
def validator(name: str) -> Validator:
    """A cached Draft 2020-12 validator for a bundled schema, with format checking on."""
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(
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
    base = load_schema(name)
    return Draft202012Validator(
        {"$ref": f"{base['$id']}#{pointer}"},
        registry=registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
