"""YAML 1.2 (core schema) through libyaml's composer: plain values plus where each was written.

We build values from the node tree ourselves, strictly: only the core schema's tags (each on
its own node kind, in its own forms), string keys compared after resolution, duplicate-key
errors, a bound on alias expansion, `%YAML 1.2` or no version directive, and a hint on the
syntax errors users meet most.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from exportspec.spec.load import MAX_DEPTH, MAX_VALUES, LoadError
from exportspec.spec.models import Diagnostic, JsonPath, Position, SourceMap
from exportspec.spec.yaml_errors import char_at, properties, syntax_error

_CORE_RESOLVERS: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
]


class _CoreResolver(yaml.resolver.BaseResolver):
    """YAML 1.2 core schema: `yes`, `no`, `on`, `NO` are strings; `0755` is decimal."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level registry


for _tag, _pattern, _first in _CORE_RESOLVERS:
    _CoreResolver.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
# The null pattern also matches the empty plain scalar, which has no first character.
_CoreResolver.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


try:  # libyaml's composer is ~8x faster than the pure-Python one
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml

    class _Parser(  # type: ignore[no-redef]
        yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer
    ):
        def __init__(self, text: str) -> None:
            yaml.reader.Reader.__init__(self, text)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)


class _Composer(_Parser, _CoreResolver):
    """libyaml's parser and composer with our YAML 1.2 core-schema tag resolution."""

    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        _CoreResolver.__init__(self)


_CORE = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP = _CORE + "str", _CORE + "seq", _CORE + "map"
_NULL, _BOOL, _INT, _FLOAT = (tag for tag, _, _ in _CORE_RESOLVERS)
#: Each core scalar tag's forms (an explicit `!!int " 1 "` must match them too).
_FORMS = {
    tag: re.compile(pattern.removeprefix("^").removesuffix("$"))
    for tag, pattern, _ in _CORE_RESOLVERS
}
_FORM_WORDS = {
    _NULL: "a null is null, Null, NULL, ~ or nothing",
    _BOOL: "a boolean is true, True, TRUE, false, False or FALSE",
    _INT: "an integer is decimal, 0o octal or 0x hexadecimal, like 12, -3, 0o17, 0x1F",
    _FLOAT: "a float is like 1.5, -2e3 or .5",
}
_READ_AS = {_NULL: "null", _BOOL: "a boolean", _INT: "an integer", _FLOAT: "a float"}

#: libyaml reads only these characters as an anchor name (YAML 1.2 allows more).
_ANCHOR_NAME = re.compile(r"[A-Za-z0-9_-]+")
_DIRECTIVE = re.compile(r"%(?P<name>\S*)[ \t]*(?P<arg>[^\s#]*)")


def load_yaml(text: str, shown: str) -> tuple[Any, SourceMap]:
    lines = text.split("\n")
    _check_directives(lines, shown)
    composer = _Composer(text)
    try:
        node = composer.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise syntax_error(exc, lines, shown) from None
    except yaml.YAMLError as exc:
        raise LoadError(Diagnostic(shown, f"YAML error: {exc}", rule="syntax")) from None
    finally:
        composer.dispose()
    if node is None:
        raise LoadError(
            Diagnostic(shown, "file is empty: expected a mapping", Position(1, 1), rule="empty")
        )
    builder = _YamlBuilder(shown, lines)
    data = builder.build(node, (), 0)
    return data, SourceMap(builder.values, builder.keys)


def _check_directives(lines: list[str], shown: str) -> None:
    """`%YAML 1.2` or no version: a `%YAML 1.1` file means `yes` and `0755` differently.

    Directives are the `%` lines before the document's first other line (comments and
    blank lines aside); libyaml checks their syntax and the `%TAG` ones.
    """
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        directive = _DIRECTIVE.match(line)
        if directive is None:
            return
        version = directive["arg"]
        if directive["name"] == "YAML" and version != "1.2":
            raise LoadError(
                Diagnostic(
                    shown,
                    f"%YAML {version}: spec files are YAML 1.2, where yes/no/on/off are strings "
                    "and 0755 is decimal; write %YAML 1.2 or remove the directive",
                    Position(number, 1),
                    rule="yaml-version",
                )
            )


def _pos(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _YamlBuilder:
    """Builds plain values from composed nodes, recording positions and bounding expansion."""

    def __init__(self, shown: str, lines: list[str]) -> None:
        self.shown = shown
        self.lines = lines
        self.values: dict[JsonPath, Position] = {}
        self.keys: dict[JsonPath, Position] = {}
        self.count = 0

    def _fail(self, node: Node, message: str, rule: str, path: JsonPath = ()) -> LoadError:
        return LoadError(Diagnostic(self.shown, message, _pos(node), path, rule=rule))

    def _written_tag(self, node: Node, path: JsonPath) -> str | None:
        """The node's tag as written (None: untagged), checking an anchor's name on the way."""
        mark = node.start_mark
        if char_at(self.lines, mark.line, mark.column) not in ("&", "!"):
            return None
        anchor, tag = properties(self.lines, mark.line, mark.column)
        if anchor is not None and not _ANCHOR_NAME.fullmatch(anchor):
            raise self._fail(
                node,
                f"anchor name '&{anchor}': use only letters, digits, '-' and '_' "
                "(libyaml would read a shorter name and keep the rest as text)",
                "anchor-name",
                path,
            )
        return tag

    def build(self, node: Node, path: JsonPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise self._fail(
                node,
                f"document expands to more than {MAX_VALUES} values through anchors and aliases "
                "(a 'billion laughs' structure?); reduce the use of aliases",
                "alias-bomb",
            )
        if depth > MAX_DEPTH:
            raise self._fail(node, f"nesting is deeper than {MAX_DEPTH} levels", "too-deep", path)
        self.values.setdefault(path, _pos(node))
        written = self._written_tag(node, path)
        if isinstance(node, ScalarNode):
            value = self._scalar(node, written, path)
            if isinstance(value, float) and not math.isfinite(value):
                raise self._fail(node, "NaN and infinity have no JSON form", "not-json", path)
            return value
        if isinstance(node, SequenceNode):
            self._collection_tag(node, written, _SEQ, "a sequence", path)
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            self._collection_tag(node, written, _MAP, "a mapping", path)
            return self._mapping(node, path, depth)
        raise self._fail(node, f"unsupported YAML node {type(node).__name__}", "syntax", path)

    def _collection_tag(
        self, node: Node, written: str | None, standard: str, kind: str, path: JsonPath
    ) -> None:
        if node.tag != standard:
            raise self._fail(
                node,
                f"unsupported YAML tag {_show_tag(node.tag, written)} on {kind}; "
                f"{kind} takes no tag or {_show_tag(standard)}",
                "tag",
                path,
            )

    def _mapping(self, node: MappingNode, path: JsonPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            child = (*path, key)
            if key in out:
                first = self.keys[child]
                raise self._fail(
                    key_node,
                    f"duplicate key {key!r} (first defined at line {first.line}, "
                    f"column {first.column})",
                    "duplicate-key",
                    child,
                )
            self.keys[child] = _pos(key_node)
            out[key] = self.build(value_node, child, depth + 1)
        return out

    def _key(self, node: Node, path: JsonPath) -> str:
        """A key is a string: `1`, `true`, `~` and an empty key are not (`"1"` is)."""
        if not isinstance(node, ScalarNode):
            kind = "a sequence" if isinstance(node, SequenceNode) else "a mapping"
            raise self._fail(
                node, f"mapping keys must be plain strings, not {kind}", "key-type", path
            )
        mark = node.start_mark
        glued = node.value and char_at(self.lines, mark.line, mark.column - 1) == "?"
        if glued and not node.style:
            # libyaml takes `{?foo: 1}` for the explicit key `? foo`; YAML 1.2 for text `?foo`
            raise LoadError(
                Diagnostic(
                    self.shown,
                    f"'?{node.value}' as a key: write '? {node.value}' for an explicit key, "
                    f'or quote it ("?{node.value}") for text',
                    Position(mark.line + 1, mark.column),
                    path,
                    rule="syntax",
                )
            )
        written = self._written_tag(node, path)
        key = self._scalar(node, written, path)
        if not isinstance(key, str):
            shown = _show_text(node.value) if node.value else "an empty key"
            raise self._fail(
                node,
                f"mapping keys must be plain strings; {shown} is read as {_READ_AS[node.tag]}: "
                f"quote it ({json.dumps(node.value)}) if it is meant as text",
                "key-type",
                path,
            )
        if key == "<<" and not node.style and written is None:  # plain, untagged
            raise self._fail(
                node,
                "'<<' merge keys are YAML 1.1, not 1.2: write the keys out, "
                "or use an alias for the whole mapping",
                "merge-key",
                path,
            )
        return key

    def _scalar(self, node: ScalarNode, written: str | None, path: JsonPath) -> Any:
        """The core-schema value; an explicit tag's text must be one of that tag's forms."""
        tag, text = node.tag, node.value
        if tag == _STR or written == "!":  # `!` is the non-specific tag: a string
            return text
        form = _FORMS.get(tag)
        if form is None:
            where = " on a scalar" if tag in (_SEQ, _MAP) else ""
            empty = " (write {} for an empty mapping, [] for an empty list)" if not text else ""
            raise self._fail(
                node,
                f"unsupported YAML tag {_show_tag(tag, written)}{where}; "
                f"use plain strings, numbers and booleans{empty}",
                "tag",
                path,
            )
        if not form.fullmatch(text):  # only an explicit tag gets here
            raise self._fail(
                node,
                f"{_show_text(text)} does not fit the tag {_show_tag(tag, written)}: "
                f"in YAML 1.2 {_FORM_WORDS[tag]}",
                "tag",
                path,
            )
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return text[0] in "tT"
        if tag == _INT:
            try:
                return _yaml_int(text)
            except ValueError:  # past Python's limit on the digits of an integer
                raise self._fail(
                    node, f"an integer of {len(text)} digits is too large", "tag", path
                ) from None
        return _yaml_float(text)


def _show_text(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _show_tag(tag: str, written: str | None = None) -> str:
    """The tag as the user wrote it, quoted, with its resolved form when that differs."""
    short = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    if written is None or written == "!":
        return f"'{short}'"
    if written in (short, f"!<{tag}>"):
        return f"'{written}'"
    return f"'{written}' ({tag})"


def _yaml_int(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _yaml_float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(text)
