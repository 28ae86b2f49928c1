"""YAML 1.2 (core schema) through libyaml's composer: plain values plus where each was written.

We build values from the node tree ourselves, with duplicate-key errors and a bound on
alias expansion.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from exportspec.spec.load import MAX_DEPTH, MAX_VALUES, LoadError
from exportspec.spec.models import Diagnostic, JsonPath, Position, SourceMap

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


_STR = "tag:yaml.org,2002:str"
_NULL, _BOOL, _INT, _FLOAT = (tag for tag, _, _ in _CORE_RESOLVERS)


def load_yaml(text: str, shown: str) -> tuple[Any, SourceMap]:
    composer = _Composer(text)
    try:
        node = composer.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = exc.context
        began = exc.context_mark
        if context and began is not None and mark is not None and began.line != mark.line:
            context += f" (started at line {began.line + 1}, column {began.column + 1})"
        message = "; ".join(str(part) for part in (context, exc.problem) if part)
        if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
            message += " (a tab: indent YAML with spaces)"
        if "expected a single document" in message:
            message = "a spec file holds one YAML document; remove the extra '---' documents"
        raise LoadError(
            Diagnostic(
                shown,
                f"YAML syntax error: {message}",
                Position(mark.line + 1, mark.column + 1) if mark else None,
                rule="syntax",
            )
        ) from None
    except yaml.YAMLError as exc:
        raise LoadError(Diagnostic(shown, f"YAML error: {exc}", rule="syntax")) from None
    finally:
        composer.dispose()
    if node is None:
        raise LoadError(
            Diagnostic(shown, "file is empty: expected a mapping", Position(1, 1), rule="empty")
        )
    builder = _YamlBuilder(shown)
    data = builder.build(node, (), 0)
    return data, SourceMap(builder.values, builder.keys)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n")
    return lines[line][column : column + 1] if 0 <= line < len(lines) else ""


def _pos(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _YamlBuilder:
    """Builds plain values from composed nodes, recording positions and bounding expansion."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.values: dict[JsonPath, Position] = {}
        self.keys: dict[JsonPath, Position] = {}
        self.count = 0

    def _fail(self, node: Node, message: str, rule: str, path: JsonPath = ()) -> LoadError:
        return LoadError(Diagnostic(self.shown, message, _pos(node), path, rule=rule))

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
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        raise self._fail(node, f"unsupported YAML node {type(node).__name__}", "syntax", path)

    def _mapping(self, node: MappingNode, path: JsonPath, depth: int) -> dict[str, Any]:
        if node.tag not in ("tag:yaml.org,2002:map",):
            raise self._fail(
                node, f"unsupported YAML tag {_show_tag(node.tag)!r} on a mapping", "tag", path
            )
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self._fail(key_node, "mapping keys must be plain strings", "key-type", path)
            key = key_node.value
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

    def _scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        tag, text = node.tag, node.value
        try:
            if tag == _STR:
                return text
            if tag == _NULL:
                return None
            if tag == _BOOL:
                return text.lower() == "true"
            if tag == _INT:
                return _yaml_int(text)
            if tag == _FLOAT:
                return self._finite(node, _yaml_float(text), path)
        except ValueError:
            raise self._fail(
                node, f"{text!r} is not a valid {tag.rsplit(':', 1)[-1]}", "tag", path
            ) from None
        raise self._fail(
            node,
            f"unsupported YAML tag {_show_tag(tag)!r}; use plain strings, numbers and booleans",
            "tag",
            path,
        )

    def _finite(self, node: Node, value: float, path: JsonPath) -> float:
        if not math.isfinite(value):
            raise self._fail(node, "NaN and infinity have no JSON form", "not-json", path)
        return value


def _show_tag(tag: str) -> str:
    """`tag:yaml.org,2002:binary` as the user wrote it: `!!binary`."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


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
