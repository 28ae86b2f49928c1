"""Variables: layer precedence, --var conversion, declarations, undeclared names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from exportspec.errors import SpecInvalidError, UsageError
from exportspec.spec.load import load_bytes
from exportspec.spec.models import LoadedDocument, Position
from exportspec.spec.variables import (
    RenderInputs,
    VariableLayer,
    check_undeclared,
    convert_cli_value,
    declared_names,
    load_vars_files,
    parse_now,
    parse_var_assignments,
    resolve_variables,
)

NOW = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)

SPEC = """\
version: 1
name: n
vars:
  a: {type: string, default: from-default}
  b: {type: string, default: from-default}
  c: {type: string, default: from-default}
  d: {type: string, default: from-default}
  seg:
    type: integer
    minimum: -1
    default: 0
  req:
    type: string
export:
  format: csv
"""


def document(text: str = SPEC, name: str = "spec.yaml") -> LoadedDocument:
    return load_bytes(text.encode(), path=Path(name))


def resolve(doc: LoadedDocument, *layers: VariableLayer) -> tuple[dict[str, Any], list[Any]]:
    declarations = doc.data["vars"]
    resolved, problems = resolve_variables(doc, declarations, RenderInputs(NOW, tuple(layers)))
    return {k: v.value for k, v in resolved.items()}, problems


def vars_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_cli_over_later_file_over_earlier_file_over_default(tmp_path: Path) -> None:
    first = vars_file(tmp_path, "first.yaml", "a: first\nb: first\nc: first\nreq: first\n")
    second = vars_file(tmp_path, "second.toml", 'b = "second"\nc = "second"\n')
    layers = load_vars_files([first, second])
    cli = parse_var_assignments(["c=cli"])
    values, problems = resolve(document(), *layers, cli)
    assert problems == []
    assert values == {
        "a": "first",
        "b": "second",
        "c": "cli",
        "d": "from-default",
        "seg": 0,
        "req": "first",
    }


def test_environment_layer_slots_between_defaults_and_files(tmp_path: Path) -> None:
    environment = VariableLayer("environment 'prod'", {"a": "env", "b": "env", "req": "env"})
    file = vars_file(tmp_path, "v.json", '{"b": "file"}')
    values, problems = resolve(document(), environment, *load_vars_files([file]))
    assert problems == []
    assert (values["a"], values["b"], values["c"]) == ("env", "file", "from-default")


def test_later_cli_assignment_wins() -> None:
    layer = parse_var_assignments(["a=1", "a=2", "b=x=y", "c="])
    assert layer.values == {"a": "2", "b": "x=y", "c": ""}
    assert layer.from_command_line


@pytest.mark.parametrize("bad", ["novalue", "=x", " =x"])
def test_malformed_cli_assignment_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_var_assignments([bad])


@pytest.mark.parametrize(
    ("declared", "text", "expected"),
    [
        ("integer", "3", 3),
        ("integer", " -1 ", -1),
        ("integer", "0755", 755),
        ("number", "1.5", 1.5),
        ("number", "2", 2),
        ("number", "1e3", 1000),
        ("boolean", "true", True),
        ("boolean", "False", False),
        ("string", "0042", "0042"),
        ("string", "true", "true"),
        (None, "x", "x"),
        ("array", '[1, "a"]', [1, "a"]),
        ("object", '{"k": 1}', {"k": 1}),
    ],
)
def test_cli_values_are_converted_to_the_declared_type(
    declared: str | None, text: str, expected: Any
) -> None:
    value = convert_cli_value(text, declared)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("declared", "text"),
    [
        ("integer", "first"),
        ("integer", "1.5"),
        ("integer", ""),
        ("number", "many"),
        ("boolean", "maybe"),
        ("array", "[1,"),
        ("object", "{"),
    ],
)
def test_unconvertible_cli_values_are_errors(declared: str, text: str) -> None:
    with pytest.raises(ValueError, match=f"^not an? (JSON )?{declared}"):
        convert_cli_value(text, declared)


def test_a_huge_unconvertible_value_is_abridged_in_the_message() -> None:
    _, problems = resolve(document(), parse_var_assignments(["seg=" + "x" * 50_000, "req=r"]))
    (problem,) = problems
    assert len(problem.message) < 200 and "xxx..." in problem.message


def test_cli_value_failing_conversion_is_a_diagnostic_naming_the_variable() -> None:
    _, problems = resolve(document(), parse_var_assignments(["seg=first", "req=x"]))
    assert len(problems) == 1
    assert "--var seg='first'" in problems[0].message
    assert problems[0].position == Position(8, 3)  # the declaration's key


def test_cli_value_failing_the_declaration_names_the_variable() -> None:
    _, problems = resolve(document(), parse_var_assignments(["seg=-2", "req=x"]))
    assert [p.message for p in problems] == [
        "variable 'seg' from --var: -2 is less than the minimum of -1"
    ]


def test_vars_file_value_failing_the_declaration_points_into_the_vars_file(
    tmp_path: Path,
) -> None:
    file = vars_file(tmp_path, "ci.yaml", "# CI values\nreq: x\nseg: -7\n")
    _, problems = resolve(document(), *load_vars_files([file]))
    assert len(problems) == 1
    assert problems[0].file == str(file)
    assert problems[0].position == Position(3, 6)
    assert "variable 'seg'" in problems[0].message


def test_required_variable_without_value_is_located_at_its_declaration() -> None:
    _, problems = resolve(document())
    assert len(problems) == 1
    assert problems[0].rule == "variable-required"
    assert "'req'" in problems[0].message
    assert problems[0].position == Position(12, 3)


def test_default_failing_its_declaration_is_reported_at_the_default() -> None:
    doc = document(
        "version: 1\nname: n\nvars:\n  seg:\n    type: integer\n    minimum: 0\n    default: -1\n"
        "export: {format: csv}\n"
    )
    _, problems = resolve(doc)
    assert [(p.position, p.message) for p in problems] == [
        (Position(7, 14), "default of variable 'seg': -1 is less than the minimum of 0")
    ]


def test_bad_vars_file_is_a_located_spec_error(tmp_path: Path) -> None:
    file = vars_file(tmp_path, "bad.yaml", "a: 1\na: 2\n")
    with pytest.raises(SpecInvalidError) as info:
        load_vars_files([file])
    assert info.value.diagnostics[0].position == Position(2, 1)


def test_undeclared_names_are_a_usage_error_only_when_no_spec_declares_them() -> None:
    one = document()
    other = document(
        "version: 1\nname: m\nvars:\n  only_here: {type: string, default: x}\n"
        "export: {format: csv}\n",
        "other.yaml",
    )
    declared = declared_names([one, other])
    assert declared >= {"a", "only_here"}
    inputs = RenderInputs(NOW, (parse_var_assignments(["only_here=1", "a=2"]),))
    check_undeclared(inputs, declared)  # each name is declared by some spec: fine
    with pytest.raises(UsageError, match="'nobody'"):
        check_undeclared(RenderInputs(NOW, (parse_var_assignments(["nobody=1"]),)), declared)
    with pytest.raises(UsageError, match="vars file"):
        check_undeclared(RenderInputs(NOW, (VariableLayer("vars file x", {"zz": 1}),)), declared)


def test_each_spec_takes_only_the_values_it_declares() -> None:
    other = document(
        "version: 1\nname: m\nvars:\n  only_here: {type: string, default: x}\n"
        "export: {format: csv}\n",
        "other.yaml",
    )
    values, problems = resolve(other, parse_var_assignments(["a=1", "only_here=y"]))
    assert problems == []
    assert values == {"only_here": "y"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-15T10:30:00Z", "2026-01-15T10:30:00+00:00"),
        ("2026-01-15T10:30:00", "2026-01-15T10:30:00+00:00"),
        ("2026-01-15T11:30:00+01:00", "2026-01-15T10:30:00+00:00"),
        ("2026-01-15", "2026-01-15T00:00:00+00:00"),
    ],
)
def test_now_is_pinned_as_aware_utc(text: str, expected: str) -> None:
    assert parse_now(text).isoformat() == expected


@pytest.mark.parametrize(
    "text", ["yesterday", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]
)
def test_bad_now_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--now"):
        parse_now(text)


def test_unpinned_now_is_aware_utc() -> None:
    assert parse_now(None).tzinfo is dt.UTC
