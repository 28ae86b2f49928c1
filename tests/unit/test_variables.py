"""Variables: layer precedence, --var conversion, declarations, formats, undeclared names;
also the rendered output.path's extension."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from exportspec.errors import SpecInvalidError, UsageError
from exportspec.spec.declarations import SUPPORTED_FORMATS, convert_cli_value
from exportspec.spec.load import load_bytes
from exportspec.spec.models import LoadedDocument, Position
from exportspec.spec.variables import (
    RenderInputs,
    VariableLayer,
    check_undeclared,
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
        ("boolean", "True", True),
        ("boolean", "TRUE", True),
        ("boolean", "false", False),
        ("boolean", "False", False),
        ("boolean", "FALSE", False),
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
        ("boolean", "tRUE"),
        ("boolean", "yes"),
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


# --------------------------------------------------------------------------- --var booleans


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("yes", "true"),
        ("Yes", "true"),
        ("on", "true"),
        ("ON", "true"),
        ("y", "true"),
        ("1", "true"),
        ("no", "false"),
        ("off", "false"),
        ("n", "false"),
        ("N", "false"),
        ("0", "false"),
        ("tRUE", "true"),
        ("fAlse", "false"),
    ],
)
def test_cli_booleans_are_the_six_yaml_words_with_a_hint_for_the_others(
    text: str, meant: str
) -> None:
    with pytest.raises(ValueError, match=f"not a boolean.*write {meant}$"):
        convert_cli_value(text, "boolean")


def test_a_cli_boolean_without_a_likely_meaning_names_the_words() -> None:
    with pytest.raises(ValueError, match=r"^not a boolean \(use true or false\)$"):
        convert_cli_value("maybe", "boolean")


# --------------------------------------------------------------------------- formats

#: A value each supported format accepts and one it refuses.
FORMAT_EXAMPLES = {
    "date": ("2026-01-15", "2026-13-01"),
    "date-time": ("2026-01-15T10:30:00Z", "2026-01-15 10:30"),
    "duration": ("P7D", "7 days"),
    "email": ("ann@example.com", "ann.example.com"),
    "hostname": ("api.exponea.com", "-bad-.com"),
    "idn-email": ("ann@exämple.com", "ann"),
    "idn-hostname": ("bücher.example", "-x-"),
    "ipv4": ("192.0.2.1", "192.0.2.256"),
    "ipv6": ("2001:db8::1", "2001:db8:::1"),
    "json-pointer": ("/a/b", "a/b"),
    "regex": ("^[a-z]+$", "[a-z"),
    "relative-json-pointer": ("0/a", "/a"),
    "time": ("10:30:00Z", "10:30"),
    "uri": ("https://example.com/x", "example.com/x"),
    "uri-reference": ("../x", "\\\\x"),
    "uri-template": ("https://example.com/{id}", "https://example.com/{id"),
    "uuid": ("123e4567-e89b-12d3-a456-426614174000", "123e4567"),
}


def test_every_supported_format_has_a_checker() -> None:
    """The checkers come from jsonschema[format-nongpl]; without its packages jsonschema
    quietly lets `date-time`, `uri` and others pass."""
    from jsonschema import Draft202012Validator

    assert set(SUPPORTED_FORMATS) <= set(Draft202012Validator.FORMAT_CHECKER.checkers)
    assert set(FORMAT_EXAMPLES) == set(SUPPORTED_FORMATS)


def _format_spec(fmt: str, default: str) -> str:
    return (
        f"version: 1\nname: n\nvars:\n  v:\n    type: string\n    format: {fmt}\n"
        f"    default: {json.dumps(default)}\nexport: {{format: csv}}\n"
    )


@pytest.mark.parametrize("fmt", sorted(FORMAT_EXAMPLES))
def test_each_supported_format_is_checked(fmt: str) -> None:
    good, bad = FORMAT_EXAMPLES[fmt]
    assert resolve(document(_format_spec(fmt, good)))[1] == []
    _, problems = resolve(document(_format_spec(fmt, bad)))
    assert [(p.position, p.message) for p in problems] == [
        (Position(7, 14), f"default of variable 'v': {bad!r} is not a {fmt!r}")
    ]


def test_a_date_time_without_offset_says_to_add_one() -> None:
    _, problems = resolve(
        document(_format_spec("date-time", "2026-01-15T10:30:00")),
    )
    assert [p.message for p in problems] == [
        "default of variable 'v': '2026-01-15T10:30:00' is not a 'date-time': "
        "RFC 3339 needs a UTC offset, e.g. '2026-01-15T10:30:00Z'"
    ]


def test_a_format_this_installation_cannot_check_is_an_error_not_a_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jsonschema import Draft202012Validator

    monkeypatch.delitem(Draft202012Validator.FORMAT_CHECKER.checkers, "date-time")
    _, problems = resolve(document(_format_spec("date-time", "yesterday")))
    assert [(p.position, p.json_path, p.message) for p in problems] == [
        (
            Position(6, 13),
            ("vars", "v", "format"),
            "variable 'v': format 'date-time' cannot be checked by this installation: "
            "install jsonschema[format-nongpl]",
        )
    ]


FORMATTED = """\
version: 1
name: n
vars:
  since: {type: string, format: date-time, default: "2026-01-01T00:00:00Z"}
  contact: {type: string, format: email, default: ann@example.com}
export: {format: csv}
"""


def test_formats_are_checked_for_cli_values_at_the_declaration() -> None:
    _, problems = resolve(document(FORMATTED), parse_var_assignments(["since=yesterday"]))
    assert [(p.position, p.json_path, p.message) for p in problems] == [
        (
            Position(4, 3),
            ("vars", "since"),
            "variable 'since' from --var: 'yesterday' is not a 'date-time'",
        )
    ]


def test_formats_are_checked_for_vars_file_values_in_the_file(tmp_path: Path) -> None:
    file = vars_file(tmp_path, "ci.yaml", "since: 2026-01-01\ncontact: nobody\n")
    _, problems = resolve(document(FORMATTED), *load_vars_files([file]))
    assert [(p.file, p.position, p.message) for p in problems] == [
        (
            str(file),
            Position(1, 8),
            f"variable 'since' from vars file {file}: '2026-01-01' is not a 'date-time'",
        ),
        (
            str(file),
            Position(2, 10),
            f"variable 'contact' from vars file {file}: 'nobody' is not a 'email'",
        ),
    ]


def test_formats_are_checked_for_environment_values_in_the_project_file() -> None:
    project = load_bytes(
        b'[environments.prod.vars]\nsince = "2026-01-01T00:00:00"\n', path=Path("exportspec.toml")
    )
    layer = VariableLayer(
        "environment 'prod'",
        project.data["environments"]["prod"]["vars"],
        project,
        prefix=("environments", "prod", "vars"),
        strict_names=False,
    )
    _, problems = resolve(document(FORMATTED), layer)
    assert [(p.file, p.position, p.json_path) for p in problems] == [
        ("exportspec.toml", Position(2, 9), ("environments", "prod", "vars", "since"))
    ]
    assert problems[0].message.startswith(
        "variable 'since' from environment 'prod': '2026-01-01T00:00:00' is not a 'date-time'"
    )


def test_the_spec_schema_allows_exactly_the_supported_formats() -> None:
    from exportspec.schemas import SPEC_SCHEMA, load_schema

    variable = load_schema(SPEC_SCHEMA)["$defs"]["variable"]
    assert variable["properties"]["format"]["enum"] == list(SUPPORTED_FORMATS)


def test_the_supported_formats_are_documented() -> None:
    text = (Path(__file__).parents[2] / "docs" / "spec-format.md").read_text(encoding="utf-8")
    section = text.split("## Variables", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE)
    assert documented == list(SUPPORTED_FORMATS)


# --------------------------------------------------------------------------- output.path


def _path_warnings(output_path: str, fmt: str = "csv") -> list[Any]:
    from exportspec.spec.pipeline import check_document

    text = (
        "version: 1\nname: n\nvars:\n  ext: {type: string, default: json}\n"
        f"export: {{format: {fmt}}}\noutput:\n  path: {json.dumps(output_path)}\n"
    )
    result = check_document(document(text), RenderInputs(NOW))
    assert result.ok, result.diagnostics
    return [
        (d.severity, d.position, d.json_path, d.message)
        for d in result.diagnostics
        if d.json_path == ("output", "path")
    ]


@pytest.mark.parametrize(
    ("fmt", "path", "written"),
    [
        ("csv", "exports/n.json", "'.json'"),
        ("csv", "exports/n.JSON", "'.JSON'"),
        ("table_json", "exports/n.csv", "'.csv'"),
        ("native_json", "n.csv", "'.csv'"),
    ],
)
def test_an_output_path_extension_that_contradicts_the_format_is_a_warning(
    fmt: str, path: str, written: str
) -> None:
    holds, wanted = ("CSV", "'.csv'") if fmt == "csv" else ("JSON", "'.json'")
    assert _path_warnings(path, fmt) == [
        (
            "warning",
            Position(7, 9),
            ("output", "path"),
            f"output.path {path!r} ends in {written}, but export.format is {fmt!r}: "
            f"the file will hold {holds}; name it {wanted}",
        )
    ]


def test_a_rendered_output_path_is_checked_and_names_its_template() -> None:
    (found,) = _path_warnings("exports/{{ name }}.{{ ext }}")
    assert found[:3] == ("warning", Position(7, 9), ("output", "path"))
    assert found[3].startswith("output.path 'exports/n.json' ends in '.json', but export.format")
    assert found[3].endswith(
        "(from template 'exports/{{ name }}.{{ ext }}' with ext='json', name='n')"
    )


@pytest.mark.parametrize(
    ("fmt", "path"),
    [
        ("csv", "n.csv"),
        ("csv", "n.CSV"),
        ("table_json", "n.json"),
        ("native_json", "out/n.json"),
        ("csv", "n.txt"),
        ("table_json", "n.jsonl"),
        ("csv", "json"),
        ("csv", "exports.json/n"),
    ],
)
def test_a_matching_or_another_extension_is_fine(fmt: str, path: str) -> None:
    assert _path_warnings(path, fmt) == []
