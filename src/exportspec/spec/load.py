"""Stage 1, load: YAML, TOML or JSON files into plain data plus the position of every value.

YAML goes through libyaml's composer (PyYAML's C parser) and we build values from the
node tree ourselves, with YAML 1.2 core-schema meaning, duplicate-key errors and a
bound on alias expansion. TOML values come from `tomllib`; a small scanner maps each
key and value to its line and column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from exportspec.spec.models import Diagnostic, JsonPath, LoadedDocument, Position, SourceMap

SPEC_SUFFIXES = (".yaml", ".yml", ".toml")
#: Vars files may also be JSON (read with the YAML 1.2 loader, of which JSON is a subset).
DATA_SUFFIXES = (*SPEC_SUFFIXES, ".json")

#: Upper bound on values built from one file, aliases expanded: a spec has a few dozen,
#: while a "billion laughs" file would expand to 10**9.
MAX_VALUES = 100_000
MAX_DEPTH = 64
MAX_FILE_BYTES = 16 * 1024 * 1024


class LoadError(Exception):
    """A file cannot be read or parsed; carries the located diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


#: Files a folder search never takes for specs: the project file sits beside them (`lock .`).
NOT_SPECS = frozenset({"exportspec.toml"})


def iter_spec_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield spec files: files as given, folders searched recursively, sorted, deduplicated.

    A folder search skips hidden files and folders (`.github/`, `.pre-commit-config.yaml`)
    and the project file; a file named explicitly is always taken.
    """
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in SPEC_SUFFIXES
                and p.name not in NOT_SPECS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and p.is_file()
            )
        else:
            found = [path]
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                yield file


def load_document(
    path: Path, *, display: str | None = None, allow_empty: bool = False
) -> LoadedDocument:
    """Read and parse one file by its suffix; raise LoadError with a located diagnostic.

    An empty file (or one of comments only) is an error, unless `allow_empty`: then it is
    an empty mapping (a settings file whose defaults all apply).
    """
    shown = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LoadError(Diagnostic(shown, f"cannot read file: {exc.strerror}", rule="io")) from exc
    return load_bytes(raw, path=path, display=shown, allow_empty=allow_empty)


def load_bytes(
    raw: bytes, *, path: Path, display: str | None = None, allow_empty: bool = False
) -> LoadedDocument:
    """Parse file contents already in memory (used by tests and `load_document`)."""
    shown = display or str(path)
    if len(raw) > MAX_FILE_BYTES:
        raise LoadError(Diagnostic(shown, f"file is larger than {MAX_FILE_BYTES} bytes", rule="io"))
    text = _decode(raw, shown)
    if allow_empty and path.suffix == ".toml":
        pass  # an empty TOML document is an empty table; tomllib judges the rest
    elif not text.strip() or _only_comments(text):
        raise LoadError(
            Diagnostic(shown, "file is empty: expected a mapping", Position(1, 1), rule="empty")
        )
    if path.suffix == ".toml":
        data, source_map = _load_toml(text, shown)
    else:
        data, source_map = _load_yaml(text, shown)
    if not isinstance(data, dict):
        raise LoadError(
            Diagnostic(
                shown,
                f"the top level must be a mapping of keys to values, not {_kind(data)}",
                source_map.value_position(()) or Position(1, 1),
                rule="not-a-mapping",
            )
        )
    return LoadedDocument(path, data, source_map, hashlib.sha256(raw).hexdigest())


def _decode(raw: bytes, shown: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise LoadError(
            Diagnostic(
                shown,
                f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
                Position(line, column),
                rule="encoding",
            )
        ) from None


def _only_comments(text: str) -> bool:
    return all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


# --------------------------------------------------------------------------- YAML

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


def _load_yaml(text: str, shown: str) -> tuple[Any, SourceMap]:
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


# --------------------------------------------------------------------------- TOML

_TOML_ERROR_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_ERROR_EOF = re.compile(r"\s*\(at end of document\)\s*$")


def _load_toml(text: str, shown: str) -> tuple[Any, SourceMap]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position: Position | None = None
        match = _TOML_ERROR_AT.search(message)
        if match:
            position = Position(int(match[1]), int(match[2]))
            message = message[: match.start()]
        elif (eof := _TOML_ERROR_EOF.search(message)) is not None:
            lines = text.split("\n")
            position = Position(len(lines), len(lines[-1]) + 1)
            message = message[: eof.start()]
        conflict = _toml_conflict(text, position, message) if position else None
        if conflict is not None:
            raise LoadError(
                Diagnostic(shown, conflict[0], conflict[1], conflict[2], rule="duplicate-key")
            ) from None
        raise LoadError(
            Diagnostic(shown, f"TOML syntax error: {message}", position, rule="syntax")
        ) from None
    except RecursionError:
        raise LoadError(
            Diagnostic(shown, f"nesting is deeper than {MAX_DEPTH} levels", rule="too-deep")
        ) from None
    scanner = _TomlScanner(text)
    scanner.scan()
    source_map = SourceMap(scanner.values, scanner.keys)
    return _toml_to_json(data, shown, source_map, ()), source_map


def _toml_to_json(value: Any, shown: str, source_map: SourceMap, path: JsonPath) -> Any:
    """TOML dates and times become RFC 3339 strings so every value has a JSON form."""
    if len(path) > MAX_DEPTH:
        raise LoadError(
            Diagnostic(
                shown,
                f"nesting is deeper than {MAX_DEPTH} levels",
                source_map.value_position(path),
                path,
                rule="too-deep",
            )
        )
    if isinstance(value, dict):
        return {k: _toml_to_json(v, shown, source_map, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_toml_to_json(v, shown, source_map, (*path, i)) for i, v in enumerate(value)]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise LoadError(
            Diagnostic(
                shown,
                "NaN and infinity have no JSON form",
                source_map.value_position(path),
                path,
                rule="not-json",
            )
        )
    return value


_TOML_TWICE = re.compile(r"^Cannot declare \((?P<key>.*)\) twice$")


def _toml_conflict(
    text: str, where: Position, message: str
) -> tuple[str, Position, JsonPath] | None:
    """Turn tomllib's "Cannot overwrite a value" / "Cannot declare (...) twice", reported
    after the offending statement, into a duplicate-key message at the second key."""
    if message != "Cannot overwrite a value" and not _TOML_TWICE.match(message):
        return None
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    if not 1 <= where.line <= len(lines):
        return None
    end = starts[where.line - 1] + where.column - 1
    for first in range(where.line, 0, -1):
        segment = text[starts[first - 1] : end]
        body = segment.lstrip(" \t")
        header = body.startswith("[")
        if not header:
            try:
                tomllib.loads(segment)
            except tomllib.TOMLDecodeError:
                continue
        elif first != where.line:
            return None
        try:
            scanner = _TomlScanner(body.lstrip("["))
            scanner._skip_space(newlines=False)
            parts = scanner._dotted_key()
            before = _TomlScanner(text[: starts[first - 1]])
            before.scan()
        except (ValueError, IndexError, tomllib.TOMLDecodeError):
            return None
        column = len(segment) - len(body) + 1 + (len(body) - len(body.lstrip("[")))
        path: JsonPath = tuple(parts) if header else (*before.table, *parts)
        original = before.keys.get(path)
        what = "table" if header else "key"
        shown = ".".join(parts)
        if original is not None:
            return (
                f"duplicate {what} {shown!r} (first defined at line {original.line}, "
                f"column {original.column})",
                Position(first, column),
                path,
            )
        return (f"duplicate {what} {shown!r}", Position(first, column), path)
    return None


class _TomlScanner:
    """Maps every key and value of an already-valid TOML text to its line and column."""

    _BARE = re.compile(r"[A-Za-z0-9_-]+")

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.values: dict[JsonPath, Position] = {(): Position(1, 1)}
        self.keys: dict[JsonPath, Position] = {}
        self.table: JsonPath = ()
        self.array_lengths: dict[JsonPath, int] = {}

    # -- low-level cursor
    def _here(self) -> Position:
        return Position(self.line, self.i - self.line_start + 1)

    def _peek(self, n: int = 1) -> str:
        return self.text[self.i : self.i + n]

    def _advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.i < len(self.text) and self.text[self.i] == "\n":
                self.line += 1
                self.line_start = self.i + 1
            self.i += 1

    def _skip_space(self, *, newlines: bool) -> None:
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self._advance()
            elif ch == "#":
                while self.i < len(self.text) and self.text[self.i] != "\n":
                    self.i += 1
            else:
                return

    # -- grammar
    def scan(self) -> None:
        while True:
            self._skip_space(newlines=True)
            if self.i >= len(self.text):
                return
            if self._peek(2) == "[[":
                self._header(array=True)
            elif self._peek() == "[":
                self._header(array=False)
            else:
                self._key_value(self.table)

    def _header(self, *, array: bool) -> None:
        self._advance(2 if array else 1)
        self._skip_space(newlines=False)
        start = self._here()
        parts = self._dotted_key()
        # `[[a.b]]` appends to the array `a.b` itself: enter arrays of tables named by the
        # leading parts only, never the array being extended.
        path = (*self._resolve(parts[:-1]), parts[-1]) if array else self._resolve(parts)
        if array:
            index = self.array_lengths.get(path, 0)
            self.array_lengths[path] = index + 1
            self.keys.setdefault(path, start)
            self.values.setdefault(path, start)
            path = (*path, index)
        self.keys.setdefault(path, start)
        self.values.setdefault(path, start)
        self.table = path
        self._skip_space(newlines=False)
        self._advance(2 if array else 1)

    def _resolve(self, parts: list[str]) -> JsonPath:
        """Turn a header's dotted key into a path, entering the last element of arrays of tables."""
        path: JsonPath = ()
        for part in parts:
            path = (*path, part)
            if path in self.array_lengths:
                path = (*path, self.array_lengths[path] - 1)
        return path

    def _dotted_key(self) -> list[str]:
        parts = [self._simple_key()]
        while True:
            self._skip_space(newlines=False)
            if self._peek() != ".":
                return parts
            self._advance()
            self._skip_space(newlines=False)
            parts.append(self._simple_key())

    def _simple_key(self) -> str:
        quote = self._peek()
        if quote in ("'", '"'):
            start = self.i
            self._skip_string()
            value = tomllib.loads(f"k = {self.text[start : self.i]}")["k"]
            return str(value)
        match = self._BARE.match(self.text, self.i)
        if match is None:  # pragma: no cover - tomllib accepted the text
            raise ValueError(f"unexpected TOML key at {self._here()}")
        self.i = match.end()
        return match.group()

    def _key_value(self, base: JsonPath) -> None:
        path = base
        while True:
            self._skip_space(newlines=False)
            start = self._here()
            path = (*path, self._simple_key())
            self.keys.setdefault(path, start)
            self.values.setdefault(path, start)
            self._skip_space(newlines=False)
            if self._peek() == ".":
                self._advance()
                continue
            break
        self._skip_space(newlines=False)
        self._advance()  # '='
        self._skip_space(newlines=False)
        self._value(path)

    def _value(self, path: JsonPath) -> None:
        self.values[path] = self._here()
        ch = self._peek()
        if ch == "{":
            self._advance()
            while True:
                self._skip_space(newlines=False)
                if self._peek() == "}":
                    self._advance()
                    return
                if self._peek() == ",":
                    self._advance()
                    continue
                self._key_value(path)
        elif ch == "[":
            self._advance()
            index = 0
            while True:
                self._skip_space(newlines=True)
                if self._peek() == "]":
                    self._advance()
                    return
                if self._peek() == ",":
                    self._advance()
                    continue
                self._value((*path, index))
                index += 1
        elif ch in ("'", '"'):
            self._skip_string()
        else:
            while self.i < len(self.text) and self.text[self.i] not in ",]}\n#":
                self.i += 1

    def _skip_string(self) -> None:
        quote = self._peek()
        if self._peek(3) == quote * 3:
            self._advance(3)
            while self.i < len(self.text):
                if quote == '"' and self._peek() == "\\":
                    self._advance(2)
                elif self._peek(3) == quote * 3:
                    self._advance(3)
                    while self._peek() == quote:  # up to two quotes may close the content
                        self._advance()
                    return
                else:
                    self._advance()
            return
        self._advance()
        while self.i < len(self.text):
            ch = self._peek()
            if quote == '"' and ch == "\\":
                self._advance(2)
            elif ch == quote:
                self._advance()
                return
            else:
                self._advance()
