"""Variable values: the layers they come from and their resolution against a spec's declarations.

Precedence, highest first: `--var` > `--vars-file` (later files win) > the selected
environment's vars > the spec's defaults. Each layer is a `VariableLayer`; the
environment layer slots in below the vars files (`RenderInputs.layers` is lowest first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exportspec.errors import SpecInvalidError, UsageError, abridged
from exportspec.spec.declarations import (
    check_value,
    convert_cli_value,
    declaration_validator,
    unchecked_format,
)
from exportspec.spec.models import Diagnostic, JsonPath, LoadedDocument, Position


@dataclass(frozen=True, slots=True)
class VariableLayer:
    """One source of variable values, e.g. a vars file or the command line."""

    label: str
    values: Mapping[str, Any]
    document: LoadedDocument | None = None
    #: Where the values mapping sits in `document` (an environment's vars table).
    prefix: JsonPath = ()
    #: True for `--var`: values are strings converted to the declared type.
    from_command_line: bool = False
    #: Whether a name that no spec declares is an error (not for shared environments).
    strict_names: bool = True

    def position(self, name: str) -> Position | None:
        if self.document is None:
            return None
        return self.document.source_map.value_position((*self.prefix, name))


@dataclass(frozen=True, slots=True)
class RenderInputs:
    """Everything a render needs besides the spec: value layers (lowest first) and `now`."""

    now: dt.datetime
    layers: tuple[VariableLayer, ...] = field(default_factory=tuple)

    def names(self) -> set[str]:
        return {name for layer in self.layers for name in layer.values}


@dataclass(frozen=True, slots=True)
class ResolvedValue:
    """A variable's value and where it came from, for messages."""

    value: Any
    source: str
    file: str | None = None
    position: Position | None = None
    path: JsonPath = ()


def parse_now(text: str | None) -> dt.datetime:
    """The invocation's moment: `--now ISO8601` (naive means UTC), else the current time."""
    if text is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--now {text!r} is not an ISO 8601 date-time; try --now 2026-01-31T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is after year 9999 in UTC
        raise UsageError(
            f"--now {text!r} is outside the years 1 to 9999 once converted to UTC"
        ) from None


def parse_var_assignments(assignments: Iterable[str]) -> VariableLayer:
    """`--var NAME=VALUE` flags into one layer; later flags win."""
    values: dict[str, str] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--var {item!r} must look like NAME=VALUE")
        values[name] = value
    return VariableLayer("--var", values, from_command_line=True)


def load_vars_files(paths: Sequence[Path]) -> list[VariableLayer]:
    """Each `--vars-file` (YAML, TOML or JSON mapping) as one layer, in the order given."""
    from exportspec.spec.load import LoadError, load_document

    layers: list[VariableLayer] = []
    problems: list[Diagnostic] = []
    for path in paths:
        try:
            document = load_document(path)
        except LoadError as exc:
            problems.append(exc.diagnostic)
            continue
        layers.append(VariableLayer(f"vars file {path}", document.data, document))
    if problems:
        raise SpecInvalidError(problems)
    return layers


def check_undeclared(inputs: RenderInputs, declared: set[str]) -> None:
    """A value given for a name no spec in the run declares is a usage error."""
    for layer in inputs.layers:
        if not layer.strict_names:
            continue
        unknown = sorted(set(layer.values) - declared)
        if unknown:
            hint = (
                f"; declared: {', '.join(sorted(declared))}"
                if declared
                else "; no spec declares any"
            )
            names = ", ".join(repr(n) for n in unknown)
            raise UsageError(f"{layer.label} sets undeclared variable(s) {names}{hint}")


def resolve_variables(
    document: LoadedDocument,
    declarations: Mapping[str, Mapping[str, Any]],
    inputs: RenderInputs,
) -> tuple[dict[str, ResolvedValue], list[Diagnostic]]:
    """Pick each declared variable's value by precedence and check it against its declaration."""
    shown = str(document.path)
    source_map = document.source_map
    resolved: dict[str, ResolvedValue] = {}
    problems: list[Diagnostic] = []
    for name, declaration in declarations.items():
        decl_path: JsonPath = ("vars", name)
        unchecked = unchecked_format(declaration)
        if unchecked is not None:
            format_path: JsonPath = (*decl_path, "format")
            problems.append(
                Diagnostic(
                    shown,
                    f"variable {name!r}: format {unchecked!r} cannot be checked by this "
                    "installation: install jsonschema[format-nongpl]",
                    source_map.value_position(format_path),
                    format_path,
                    rule="variable-format",
                )
            )
            continue
        checker = declaration_validator(declaration)
        if "default" in declaration:
            default_path: JsonPath = (*decl_path, "default")
            problems += check_value(
                checker,
                declaration["default"],
                f"default of variable {name!r}",
                shown,
                source_map.value_position(default_path),
                default_path,
            )
        chosen = _pick(name, declaration, inputs, shown, source_map.key_position(decl_path))
        if chosen is None:
            problems.append(
                Diagnostic(
                    shown,
                    f"variable {name!r} is required: give it a default, or pass "
                    f"--var {name}=VALUE or a --vars-file",
                    source_map.key_position(decl_path),
                    decl_path,
                    rule="variable-required",
                )
            )
            continue
        if isinstance(chosen, Diagnostic):
            problems.append(chosen)
            continue
        if chosen.source != "default":
            problems += check_value(
                checker,
                chosen.value,
                f"variable {name!r} from {chosen.source}",
                chosen.file or shown,
                chosen.position or source_map.key_position(decl_path),
                decl_path if chosen.file is None else chosen.path,
            )
        resolved[name] = chosen
    return resolved, problems


def _pick(
    name: str,
    declaration: Mapping[str, Any],
    inputs: RenderInputs,
    shown: str,
    decl_position: Position | None,
) -> ResolvedValue | Diagnostic | None:
    for layer in reversed(inputs.layers):
        if name not in layer.values:
            continue
        raw = layer.values[name]
        if layer.from_command_line:
            try:
                raw = convert_cli_value(raw, declaration.get("type"))
            except ValueError as exc:
                return Diagnostic(
                    shown,
                    f"--var {name}={abridged(layer.values[name])!r}: {exc}",
                    decl_position,
                    ("vars", name),
                    rule="variable-value",
                )
        file = str(layer.document.path) if layer.document is not None else None
        return ResolvedValue(raw, layer.label, file, layer.position(name), (*layer.prefix, name))
    if "default" in declaration:
        return ResolvedValue(declaration["default"], "default")
    return None


def declared_names(documents: Iterable[LoadedDocument]) -> set[str]:
    """Every variable name declared by any of the documents."""
    names: set[str] = set()
    for document in documents:
        declarations = document.data.get("vars")
        if isinstance(declarations, dict):
            names.update(declarations)
    return names
