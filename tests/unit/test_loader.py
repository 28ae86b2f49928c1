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


# --------------------------------------------------------------------------- YAML 1.2 strictly


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("v: !custom [1]\n", "'!custom'"),
        ("v: !!map [1]\n", "'!!map'"),
        ("v: !!str [1]\n", "'!!str'"),
        ("v: !!set [1]\n", "'!!set'"),
        ("v: !!seq {a: 1}\n", "'!!seq'"),
        ("v: !!omap {a: 1}\n", "'!!omap'"),
        ("v: !!map x\n", "'!!map'"),
        ("v: !!seq\n", "'!!seq'"),
        ("v: !<tag:example.com,2000:x> [1]\n", "'!<tag:example.com,2000:x>'"),
        ("v: &a !local\n  - 1\n", "'!local'"),
    ],
)
def test_only_the_standard_tag_of_each_node_kind_is_accepted(text: str, shown: str) -> None:
    error = fail(text)
    assert error.diagnostic.rule == "tag"
    assert shown in error.diagnostic.message
    assert "''" not in error.diagnostic.message
    assert error.diagnostic.position == Position(1, 4)
    assert error.diagnostic.json_path == ("v",)


def test_a_tag_from_a_tag_directive_is_named_as_written_and_resolved() -> None:
    error = fail("%TAG !e! tag:example.com,2000:app/\n---\nv: !e!foo [1]\n")
    assert "'!e!foo' (tag:example.com,2000:app/foo)" in error.diagnostic.message
    assert error.diagnostic.position == Position(3, 4)


def test_standard_tags_on_collections_and_the_non_specific_tag_are_accepted() -> None:
    text = "a: !!seq [1]\nb: !!map {x: 1}\nc: ! [1]\nd: ! {x: 1}\ne: &e !!seq\n  - 1\n"
    assert load(text).data == {"a": [1], "b": {"x": 1}, "c": [1], "d": {"x": 1}, "e": [1]}


EXPLICIT_TAGS = [
    ('!!int "7"', 7),
    ("!!int 0o17", 15),
    ("!!int 0x1F", 31),
    ("!!int -3", -3),
    ("!!float 1", 1.0),
    ('!!float "-2e3"', -2000.0),
    ("!!float .5", 0.5),
    ('!!bool "TRUE"', True),
    ("!!bool False", False),
    ("!!null", None),
    ('!!null ""', None),
    ("!!null ~", None),
    ("!!null NULL", None),
    ("!!str 12", "12"),
    ("!!str true", "true"),
    ("!!str ~", "~"),
    ("!!str", ""),
    ("!!str |\n  x", "x\n"),
    ("! 12", "12"),
    ("! true", "true"),
    ("! ~", "~"),
    ("!<tag:yaml.org,2002:str> 1", "1"),
]


@pytest.mark.parametrize(("written", "expected"), EXPLICIT_TAGS, ids=[w for w, _ in EXPLICIT_TAGS])
def test_explicit_core_tags_take_their_yaml_1_2_forms(written: str, expected: Any) -> None:
    value = load(f"v: {written}\n").data["v"]
    assert value == expected
    assert type(value) is type(expected)


BAD_FORMS = [
    ('!!int " 1 "', "'!!int'"),
    ("!!int 1.0", "'!!int'"),
    ("!!int 1_000", "'!!int'"),
    ("!!int", "'!!int'"),
    ("!!int 0b1", "'!!int'"),
    ("!!bool yes", "'!!bool'"),
    ("!!bool tRUE", "'!!bool'"),
    ("!!bool 1", "'!!bool'"),
    ("!!null nil", "'!!null'"),
    ("!!null 0", "'!!null'"),
    ('!!float "1_0"', "'!!float'"),
    ('!!float " 1"', "'!!float'"),
    ("!!float nan", "'!!float'"),
    ("!!float infinity", "'!!float'"),
]


@pytest.mark.parametrize(("written", "tag"), BAD_FORMS, ids=[w for w, _ in BAD_FORMS])
def test_explicit_core_tags_refuse_other_forms(written: str, tag: str) -> None:
    error = fail(f"a:\n  v: {written}\n")
    assert error.diagnostic.rule == "tag"
    assert tag in error.diagnostic.message
    assert "YAML 1.2" in error.diagnostic.message
    assert error.diagnostic.position == Position(2, 6)
    assert error.diagnostic.json_path == ("a", "v")


def test_a_huge_explicit_integer_is_a_short_located_error() -> None:
    error = fail("v: !!int " + "9" * 5000 + "\n")
    assert error.diagnostic.position == Position(1, 4)
    assert len(error.diagnostic.message) < 200


@pytest.mark.parametrize(
    ("text", "position", "read_as"),
    [
        ("1: x\n", Position(1, 1), "an integer"),
        ("a:\n  0x1F: x\n", Position(2, 3), "an integer"),
        ("true: x\n", Position(1, 1), "a boolean"),
        ("a: 1\nFalse: x\n", Position(2, 1), "a boolean"),
        ("~: x\n", Position(1, 1), "null"),
        ("null: x\n", Position(1, 1), "null"),
        ("? \n: x\n", Position(1, 2), "null"),
        ("1.5: x\n", Position(1, 1), "a float"),
        ("!!int 1: x\n", Position(1, 1), "an integer"),
        ("[{1: x}]\n", Position(1, 3), "an integer"),
    ],
)
def test_mapping_keys_must_be_strings(text: str, position: Position, read_as: str) -> None:
    error = fail(text)
    assert error.diagnostic.rule == "key-type"
    assert error.diagnostic.position == position
    assert read_as in error.diagnostic.message
    assert "quote it" in error.diagnostic.message


def test_quoted_and_tagged_keys_are_strings() -> None:
    text = '"1": a\n\'true\': b\n!!str ~: c\n! 2: d\n"": e\n"null": f\n'
    data = load(text).data
    assert data == {"1": "a", "true": "b", "~": "c", "2": "d", "": "e", "null": "f"}


@pytest.mark.parametrize(
    "second", ['"a"', "'a'", "!!str a", "! a", '"\\x61"', "? |-\n  a\n", "&k a"]
)
def test_duplicate_keys_are_compared_after_resolution(second: str) -> None:
    error = fail(f"a: 1\n{second}: 2\n")
    assert error.diagnostic.rule == "duplicate-key"
    assert error.diagnostic.position == Position(2, 3 if second.startswith("?") else 1)
    assert "'a'" in error.diagnostic.message


@pytest.mark.parametrize(("text", "position"), [("{ ?foo: bar }\n", (1, 3)), ("a: [?x]\n", (1, 5))])
def test_a_question_mark_glued_to_a_flow_key_is_an_error(
    text: str, position: tuple[int, int]
) -> None:
    error = fail(text)
    assert error.diagnostic.position == Position(*position)
    assert "explicit key" in error.diagnostic.message
    assert load('{"?foo": bar, ? baz: 1}\n').data == {"?foo": "bar", "baz": 1}


def test_a_yaml_1_1_merge_key_is_an_error_with_a_hint() -> None:
    error = fail("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n")
    assert error.diagnostic.rule == "merge-key"
    assert error.diagnostic.position == Position(3, 3)
    assert "YAML 1.1" in error.diagnostic.message
    assert load('use:\n  "<<": 1\n').data == {"use": {"<<": 1}}


def test_anchor_names_libyaml_would_cut_short_are_errors() -> None:
    error = fail("key: &an:chor value\n")
    assert error.diagnostic.rule == "anchor-name"
    assert "'&an:chor'" in error.diagnostic.message
    assert error.diagnostic.position == Position(1, 6)
    assert load("a: &x-y_1 v\nb: *x-y_1\n").data == {"a": "v", "b": "v"}


def test_an_undefined_alias_names_the_missing_anchor() -> None:
    error = fail("a: *nope\n")
    assert error.diagnostic.position == Position(1, 4)
    assert "'*nope'" in error.diagnostic.message
    assert "'&nope'" in error.diagnostic.message


def test_a_redefined_anchor_names_it_and_both_places() -> None:
    error = fail("a: &x 1\nb: !!int &x 2\nc: *x\n")
    assert error.diagnostic.position == Position(2, 4)
    assert "'&x'" in error.diagnostic.message
    assert "line 1, column 4" in error.diagnostic.message


@pytest.mark.parametrize(
    "text",
    [
        "%YAML 1.2\n---\na: 1\n",
        "# c\n%YAML 1.2 # c\n---\na: 1\n",
        "%TAG ! tag:yaml.org,2002:\n---\na: !int 1\n",
    ],
)
def test_yaml_1_2_and_tag_directives_are_accepted(text: str) -> None:
    assert load(text).data == {"a": 1}


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("%YAML 1.1\n---\na: 1\n", Position(1, 1)),
        ("# old\n%YAML 1.1\n---\na: yes\n", Position(2, 1)),
        ("%YAML 1.3\n---\na: 1\n", Position(1, 1)),
        ("%YAML 2.0\n---\na: 1\n", Position(1, 1)),
    ],
)
def test_other_yaml_versions_are_refused_at_the_directive(text: str, position: Position) -> None:
    error = fail(text)
    assert error.diagnostic.rule == "yaml-version"
    assert error.diagnostic.position == position
    assert "%YAML 1.2" in error.diagnostic.message


SYNTAX_HINTS = [
    ("export:\n  format: csv\n   timezone: UTC\n", (3, 12), "missing space after a colon"),
    ("export:\n  format:csv\n  timezone: UTC\n", (3, 11), "wrong indent"),
    ("description: Note: read me\n", (1, 18), "contains ': '"),
    ("export:\n  format: csv\n timezone: UTC\n", (3, 2), "wrong indent"),
    ("list:\n  - a\n  b: 1\n", (3, 3), "wrong indent"),
    ("a: 'it's'\n", (1, 8), "write '' for '"),
    ("a: - b\n", (1, 4), "next line"),
    ('a: "C:\\path"\n', (1, 7), "backslash"),
    ('a: "unclosed\nb: 1\n', (3, 1), "not closed"),
    ("export:\n  format: csv\n  timezone\n", (4, 1), "without its ':'"),
    ("a: @x\n", (1, 4), "quote"),
    ("a: `x`\n", (1, 4), "quote"),
    ("a: %x\n", (1, 4), "quote"),
    ("a: *\n", (1, 5), "quote"),
    ("%FOO bar\n---\na: 1\n", (1, 5), "%YAML 1.2 and %TAG"),
    ("{a: 1}}\n", (1, 7), "extra bracket"),
    ("a: 1\n...\nb: 2\n", (3, 1), "follows the end of the document"),
    ("a: [1]]\n", (1, 7), "closing bracket"),
    ('a: "x" y\n', (1, 8), 'write \\"'),
    ("a: |\nb", (2, 2), None),
    ("a: {type: id id: x}\n", (1, 16), "',' missing"),
]


@pytest.mark.parametrize(("text", "where", "hint"), SYNTAX_HINTS)
def test_common_yaml_syntax_errors_get_a_hint(
    text: str, where: tuple[int, int], hint: str | None
) -> None:
    error = fail(text)
    assert error.diagnostic.rule == "syntax"
    assert error.diagnostic.position == Position(*where)
    if hint is not None:
        assert hint in error.diagnostic.message


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
