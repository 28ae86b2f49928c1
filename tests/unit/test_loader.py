"""Loader: YAML 1.2 core-schema values, positions of keys and values, and the bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exportspec.spec import load as loader
from exportspec.spec import load_yaml
from exportspec.spec.load import LoadError, iter_spec_files, load_bytes
from exportspec.spec.models import LoadedDocument, Position


def load(text: str | bytes, suffix: str = ".yaml") -> LoadedDocument:
    raw = text.encode() if isinstance(text, str) else text
    return load_bytes(raw, path=Path(f"spec{suffix}"))


def fail(text: str | bytes, suffix: str = ".yaml") -> LoadError:
    with pytest.raises(LoadError) as info:
        load(text, suffix)
    return info.value


def value_at(doc: LoadedDocument, *path: str | int) -> tuple[int, int]:
    pos = doc.source_map.values[path]
    return pos.line, pos.column


def key_at(doc: LoadedDocument, *path: str | int) -> tuple[int, int]:
    pos = doc.source_map.keys[path]
    return pos.line, pos.column


# --------------------------------------------------------------------------- YAML values

CORE_SCHEMA = [
    ("true", True),
    ("false", False),
    ("True", True),
    ("FALSE", False),
    ("yes", "yes"),
    ("no", "no"),
    ("NO", "NO"),
    ("on", "on"),
    ("off", "off"),
    ("y", "y"),
    ("n", "n"),
    ("~", None),
    ("null", None),
    ("", None),
    ("0755", 755),
    ("0o755", 0o755),
    ("0x1F", 31),
    ("-12", -12),
    ("+3", 3),
    ("1_000", "1_000"),
    ("1.5", 1.5),
    ("1e3", 1000.0),
    (".5", 0.5),
    ("2026-01-01", "2026-01-01"),
    ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ("12:30", "12:30"),
    ('"true"', "true"),
    ("'0755'", "0755"),
    ("0b101", "0b101"),
]


@pytest.mark.parametrize(
    ("written", "expected"), CORE_SCHEMA, ids=[w or "empty" for w, _ in CORE_SCHEMA]
)
def test_yaml_scalars_follow_the_yaml_1_2_core_schema(written: str, expected: Any) -> None:
    value = load(f"v: {written}\n").data["v"]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("written", [".nan", ".inf", "-.Inf", ".NaN"])
def test_yaml_non_finite_floats_are_located_errors(written: str) -> None:
    error = fail(f"a:\n  b: {written}\n")
    assert error.diagnostic.position == Position(2, 6)
    assert error.diagnostic.json_path == ("a", "b")
    assert "NaN" in error.diagnostic.message


def test_toml_non_finite_float_is_located() -> None:
    error = fail("a = 1\n[t]\nb = nan\n", ".toml")
    assert error.diagnostic.position == Position(3, 5)
    assert error.diagnostic.json_path == ("t", "b")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("v: !!binary aGk=\n", "!!binary"),
        ("v: !custom x\n", "!custom"),
        ("v: !!set {a}\n", "!!set"),
    ],
)
def test_unsupported_yaml_tags_are_errors_naming_the_tag(text: str, shown: str) -> None:
    error = fail(text)
    assert error.diagnostic.rule == "tag"
    assert repr(shown) in error.diagnostic.message
    assert error.diagnostic.position == Position(1, 4)
    assert error.diagnostic.json_path == ("v",)


def test_standard_tags_that_fit_json_are_accepted() -> None:
    assert load('a: !!str 12\nb: !!int "7"\nc: !!map {x: 1}\n').data == {
        "a": "12",
        "b": 7,
        "c": {"x": 1},
    }


# --------------------------------------------------------------------------- YAML positions


def test_yaml_positions_of_keys_and_values() -> None:
    doc = load(
        "version: 1\n"
        "export:\n"
        "  format: csv\n"
        "  attributes:\n"
        "    list:\n"
        "      - {type: id, id: registered}\n"
        "      - type: property\n"
        "        property: >-\n"
        "          email\n"
        '  "quoted key": x\n'
    )
    assert value_at(doc, "version") == (1, 10)
    assert key_at(doc, "export", "format") == (3, 3)
    assert value_at(doc, "export", "format") == (3, 11)
    assert value_at(doc, "export", "attributes", "list", 0) == (6, 9)
    assert value_at(doc, "export", "attributes", "list", 0, "id") == (6, 24)
    assert key_at(doc, "export", "attributes", "list", 1, "type") == (7, 9)
    assert value_at(doc, "export", "attributes", "list", 1, "property") == (8, 19)
    assert key_at(doc, "export", "quoted key") == (10, 3)
    assert doc.data["export"]["attributes"]["list"][1]["property"] == "email"


def test_yaml_duplicate_key_is_reported_at_the_second_key() -> None:
    error = fail("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n")
    assert error.diagnostic.rule == "duplicate-key"
    assert error.diagnostic.position == Position(5, 3)
    assert "line 3, column 3" in error.diagnostic.message
    assert error.diagnostic.json_path == ("b", "c")


def test_yaml_syntax_error_has_a_position_and_where_the_construct_began() -> None:
    error = fail("a: 1\nb: [1, 2\n")
    assert error.diagnostic.rule == "syntax"
    assert error.diagnostic.position is not None
    assert "started at line 2, column 4" in error.diagnostic.message


def test_yaml_tab_indentation_gets_a_hint() -> None:
    error = fail("a:\n\tb: 1\n")
    assert error.diagnostic.position == Position(2, 1)
    assert "tab" in error.diagnostic.message


def test_multiple_documents_are_an_error() -> None:
    error = fail("a: 1\n---\nb: 2\n")
    assert "one YAML document" in error.diagnostic.message
    assert error.diagnostic.position == Position(2, 1)


def test_document_markers_around_one_document_are_fine() -> None:
    assert load("---\na: 1\n...\n").data == {"a": 1}


# --------------------------------------------------------------------------- bounds


def _bomb(levels: int, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_fails_fast_with_bounded_work(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    original = load_yaml._YamlBuilder.build

    def counting(self: Any, node: Any, path: Any, depth: int) -> Any:
        built.append(1)
        return original(self, node, path, depth)

    monkeypatch.setattr(load_yaml._YamlBuilder, "build", counting)
    error = fail(_bomb(9))  # 9**9 = 387 million values if expanded
    assert error.diagnostic.rule == "alias-bomb"
    assert "aliases" in error.diagnostic.message
    assert len(built) <= loader.MAX_VALUES + 1


def test_small_alias_use_is_fine() -> None:
    doc = load("base: &b {x: 1}\nuse: *b\nlist: [*b, *b]\n")
    assert doc.data["use"] == {"x": 1}
    assert doc.data["list"] == [{"x": 1}, {"x": 1}]


def test_yaml_nesting_depth_is_limited() -> None:
    deep = "v: " + "[" * (loader.MAX_DEPTH + 5) + "]" * (loader.MAX_DEPTH + 5) + "\n"
    error = fail(deep)
    assert error.diagnostic.rule in ("too-deep", "syntax")
    assert error.diagnostic.position is not None
    fine = "v: " + "[" * 10 + "]" * 10 + "\n"
    assert load(fine).data["v"] == [[[[[[[[[[]]]]]]]]]]


@pytest.mark.parametrize("depth", [loader.MAX_DEPTH + 5, 5000])
def test_toml_nesting_depth_is_limited_without_a_crash(depth: int) -> None:
    error = fail("v = " + "[" * depth + "]" * depth + "\n", ".toml")
    assert error.diagnostic.rule == "too-deep"


def test_utf8_bom_is_accepted() -> None:
    assert load(b"\xef\xbb\xbfa: 1\n").data == {"a": 1}
    assert load(b"\xef\xbb\xbfa = 1\n", ".toml").data == {"a": 1}


def test_bom_does_not_shift_positions() -> None:
    doc = load(b"\xef\xbb\xbfa: 1\nb: 2\n")
    assert key_at(doc, "a") == (1, 1)
    assert value_at(doc, "b") == (2, 4)


def test_non_utf8_is_located_at_the_bad_byte() -> None:
    error = fail(b"a: 1\nb: caf\xe9\n")
    assert error.diagnostic.rule == "encoding"
    assert error.diagnostic.position == Position(2, 7)
    assert "0xe9" in error.diagnostic.message


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "   \n  # x\n"])
def test_empty_and_comment_only_files(text: str, suffix: str) -> None:
    error = fail(text, suffix)
    assert error.diagnostic.rule == "empty"
    assert error.diagnostic.position == Position(1, 1)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- a\n", "a list"), ("hello\n", "a string"), ("3\n", "a number"), ("~\n", "null")],
)
def test_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    error = fail(text)
    assert error.diagnostic.rule == "not-a-mapping"
    assert kind in error.diagnostic.message


# --------------------------------------------------------------------------- TOML


TOML = """\
version = 1
"name" = 'x'
description = \"\"\"
multi "line" \\\"\"\"
still\"\"\"
export.format = "csv"
export . timezone = "UTC"  # a comment with = "x"
[export.attributes]
type = "some"
list = [
  { type = "id", id = "registered" },  # c
  {type="property",property='email'},
]
[[extra]]
a = 1
[[extra]]
a = 2
[extra.sub]
"quoted key" = [1, [2, 3]]
'lit.key' = 1
[vars.x]
default = '''
ml
'''
type = "string"
"""


def test_toml_values_and_positions() -> None:
    doc = load(TOML, ".toml")
    assert doc.data["description"] == 'multi "line" """\nstill'
    assert doc.data["extra"] == [
        {"a": 1},
        {"a": 2, "sub": {"quoted key": [1, [2, 3]], "lit.key": 1}},
    ]
    assert key_at(doc, "name") == (2, 1)
    assert value_at(doc, "name") == (2, 10)
    assert value_at(doc, "description") == (3, 15)
    # dotted keys, with and without spaces around the dot
    assert key_at(doc, "export", "format") == (6, 8)
    assert value_at(doc, "export", "format") == (6, 17)
    assert key_at(doc, "export", "timezone") == (7, 10)
    assert value_at(doc, "export", "timezone") == (7, 21)
    # a table header, and inline tables inside an array
    assert key_at(doc, "export", "attributes") == (8, 2)
    assert value_at(doc, "export", "attributes", "list", 0) == (11, 3)
    assert value_at(doc, "export", "attributes", "list", 0, "id") == (11, 23)
    assert key_at(doc, "export", "attributes", "list", 1, "property") == (12, 20)
    # arrays of tables: each [[extra]] is its own element
    assert value_at(doc, "extra", 0, "a") == (15, 5)
    assert value_at(doc, "extra", 1, "a") == (17, 5)
    assert key_at(doc, "extra", 1, "sub") == (18, 2)
    assert value_at(doc, "extra", 1, "sub", "quoted key", 1, 1) == (19, 24)
    assert key_at(doc, "extra", 1, "sub", "lit.key") == (20, 1)
    # after a multi-line literal string the line count is still right
    assert value_at(doc, "vars", "x", "default") == (22, 11)
    assert key_at(doc, "vars", "x", "type") == (25, 1)


def test_toml_arrays_of_tables_nested_in_a_table() -> None:
    doc = load(
        '[export]\nformat = "csv"\n[[export.attributes.list]]\ntype = "id"\n'
        '[[export.attributes.list]]\ntype = "property"\nproperty = "email"\n',
        ".toml",
    )
    assert value_at(doc, "export", "attributes", "list", 1, "property") == (7, 12)
    assert value_at(doc, "export", "attributes", "list", 0, "type") == (4, 8)


def test_toml_dates_become_iso_strings() -> None:
    doc = load("d = 2026-03-01\nt = 2026-03-01T12:00:00Z\nl = 12:30:00\n", ".toml")
    assert doc.data == {"d": "2026-03-01", "t": "2026-03-01T12:00:00+00:00", "l": "12:30:00"}


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        (
            "a = 1\nb = 2\na = 3\n",
            Position(3, 1),
            "duplicate key 'a' (first defined at line 1, column 1)",
        ),
        ("[t]\nx = 1\n\n[t]\ny = 1\n", Position(4, 2), "duplicate table 't'"),
        ("a.b = 1\n  a.b = 2\n", Position(2, 3), "duplicate key 'a.b'"),
        ('[t]\ns = """\nab\nc"""\ns = """\nq\n"""\n', Position(5, 1), "duplicate key 's'"),
        ("[t]\nq = 1\n[u]\n[t.r]\nq = 1\nq = 2", Position(6, 1), "first defined at line 5"),
    ],
)
def test_toml_duplicate_keys_are_reported_at_the_second_key(
    text: str, position: Position, fragment: str
) -> None:
    error = fail(text, ".toml")
    assert error.diagnostic.rule == "duplicate-key"
    assert error.diagnostic.position == position
    assert fragment in error.diagnostic.message


def test_toml_syntax_error_has_its_line() -> None:
    error = fail("a = 1\nb = \nc = 2\n", ".toml")
    assert error.diagnostic.rule == "syntax"
    assert error.diagnostic.position is not None
    assert error.diagnostic.position.line == 2
    assert error.diagnostic.message.startswith("TOML syntax error")


def test_toml_syntax_error_at_end_of_document_is_located() -> None:
    error = fail('a = "x', ".toml")
    assert error.diagnostic.position is not None
    assert error.diagnostic.position.line == 1


# --------------------------------------------------------------------------- files


def test_iter_spec_files_recurses_for_spec_suffixes_only(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yml", "c.toml", "d.json", "e.txt", "sub/f.yaml", "sub/deeper/g.toml"):
        file = tmp_path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("x: 1\n")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_spec_files([tmp_path])]
    assert found == ["a.yaml", "b.yml", "c.toml", "sub/deeper/g.toml", "sub/f.yaml"]
    again = list(iter_spec_files([tmp_path / "a.yaml", tmp_path, tmp_path / "a.yaml"]))
    assert len(again) == len(found)
