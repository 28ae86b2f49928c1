"""Variable declarations: what a `--var` string becomes for a declared type, and the
validator of each declaration (a JSON Schema), built once per distinct declaration.
`spec.variables` resolves values by precedence and checks them with these."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from functools import cache
from typing import Any

from exportspec.errors import abridged
from exportspec.jsontext import StrictJsonError, loads_strict
from exportspec.spec.load import MAX_DEPTH, too_deep
from exportspec.spec.models import Diagnostic, JsonPath, Position

#: The `format` names a variable may declare: every one is checked (jsonschema's checkers,
#: from the packages of its `format-nongpl` extra but `iri`'s, see pyproject.toml). The
#: `format` enum of `$defs/variable` in schemas/spec.schema.json and the list in
#: docs/spec-format.md are this, in this order.
SUPPORTED_FORMATS = (
    "date",
    "date-time",
    "duration",
    "email",
    "hostname",
    "idn-email",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "json-pointer",
    "regex",
    "relative-json-pointer",
    "time",
    "uri",
    "uri-reference",
    "uri-template",
    "uuid",
)

#: The YAML 1.2 core schema's booleans, the only ones `--var` takes.
_BOOLEANS = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}
#: What other configuration languages (YAML 1.1, INI, env files) take for a boolean.
_BOOLEAN_LOOKALIKES = {
    **dict.fromkeys(("yes", "y", "on", "1"), "true"),
    **dict.fromkeys(("no", "n", "off", "0"), "false"),
}


def convert_cli_value(text: str, declared_type: Any) -> Any:
    """Convert a `--var` string to the declared JSON type."""
    if declared_type == "integer":
        try:
            return int(text.strip(), 10)
        except ValueError:
            digits = text.strip().lstrip("+-")
            limit = sys.get_int_max_str_digits()
            if digits.isdigit() and limit and len(digits) > limit:  # Python's limit
                raise ValueError(f"an integer of {len(digits)} digits is too large") from None
            raise ValueError("not an integer") from None
    if declared_type == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if not math.isfinite(number):  # nan, inf, and 1e400 or 5,000 digits (infinity)
            raise ValueError("not a finite number")
        return int(number) if number.is_integer() and "." not in text else number
    if declared_type == "boolean":
        word = text.strip()
        if word in _BOOLEANS:
            return _BOOLEANS[word]
        meant = _BOOLEAN_LOOKALIKES.get(word.lower())
        if meant is None and word.lower() in ("true", "false"):
            meant = word.lower()
        if meant is not None:
            raise ValueError(
                "not a boolean (YAML 1.2 booleans are true, True, TRUE, false, False and "
                f"FALSE); write {meant}"
            )
        raise ValueError("not a boolean (use true or false)")
    if declared_type in ("array", "object"):
        try:
            value = loads_strict(text, parse_float=_finite_float, parse_int=_bounded_int)
        except StrictJsonError as exc:
            raise ValueError(f"not a JSON {declared_type}: {exc}") from None
        if too_deep(value, 1):  # as deep as in a vars file, where it sits in a mapping
            raise ValueError(
                f"not a JSON {declared_type} exportspec takes: nested deeper than "
                f"{MAX_DEPTH} levels, as in a vars file"
            )
        return value
    return text


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    limit = sys.get_int_max_str_digits()
    if limit and digits > limit:  # Python's limit on integers read from text
        raise StrictJsonError(f"an integer of {digits} digits is too large")
    return int(text)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise StrictJsonError(f"the number {abridged(text, 20)} is out of range")
    return number


def declaration_is_valid(declaration: Mapping[str, Any]) -> bool:
    """Whether a declaration is a well-formed variable schema (checked once per distinct one)."""
    return _declaration_ok(_canonical(declaration))


def declaration_validator(declaration: Mapping[str, Any]) -> Any:
    return _validator_for(_canonical(declaration))


def _canonical(declaration: Mapping[str, Any]) -> str:
    return json.dumps(declaration, sort_keys=True, default=str)


@cache
def _declaration_ok(canonical: str) -> bool:
    from exportspec.schemas import SPEC_SCHEMA, subschema_validator

    checker = subschema_validator(SPEC_SCHEMA, "/$defs/variable")
    return bool(checker.is_valid(json.loads(canonical)))


@cache
def _validator_for(canonical: str) -> Any:
    # Specs in one tree tend to share declarations: build each distinct validator once.
    from jsonschema import Draft202012Validator

    declaration = json.loads(canonical)
    schema = {k: v for k, v in declaration.items() if k not in ("default", "description")}
    from exportspec.schemas import SchemaValidator

    return SchemaValidator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def unchecked_format(declaration: Mapping[str, Any]) -> str | None:
    """The declared format when this installation has no checker for it (jsonschema would
    let every value pass): its `format-nongpl` packages are missing."""
    from jsonschema import Draft202012Validator

    name = declaration.get("format")
    if name in SUPPORTED_FORMATS and name not in Draft202012Validator.FORMAT_CHECKER.checkers:
        return str(name)
    return None


def check_value(  # noqa: PLR0917 - one call shape, from resolve_variables
    checker: Any,
    value: Any,
    what: str,
    file: str,
    position: Position | None,
    path: JsonPath,
) -> list[Diagnostic]:
    """`value` checked by `checker` (a declaration's validator): a diagnostic per problem."""
    return [
        Diagnostic(file, f"{what}: {_explained(error)}", position, path, rule="variable-value")
        for error in checker.iter_errors(value)
    ]


def _explained(error: Any) -> str:
    """jsonschema's message, plus what to write when a date-time or time lacks its offset."""
    from jsonschema import Draft202012Validator

    message = str(error.message)
    fmt, value = error.validator_value, error.instance
    if (
        error.validator == "format"
        and fmt in ("date-time", "time")
        and isinstance(value, str)
        and Draft202012Validator.FORMAT_CHECKER.conforms(f"{value}Z", fmt)
    ):
        return f"{message}: RFC 3339 needs a UTC offset, e.g. {value + 'Z'!r}"
    return message
