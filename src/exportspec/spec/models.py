"""Frozen values passed between the pipeline stages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

#: Parts of a spec whose string values are templates.
TEMPLATED_SECTIONS = ("export", "output")
_TEMPLATE_MARKERS = ("{{", "{%", "{#")

#: A JSON path as a tuple of keys and indexes: ("export", "attributes", "list", 0).
JsonPath = tuple[str | int, ...]
Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column in a source file."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Where each value (and each mapping key) of a loaded document was written."""

    values: Mapping[JsonPath, Position]
    keys: Mapping[JsonPath, Position]

    def value_position(self, path: JsonPath) -> Position | None:
        """Position of the value at `path`, or of its nearest written ancestor."""
        for depth in range(len(path), -1, -1):
            pos = self.values.get(path[:depth])
            if pos is not None:
                return pos
        return None

    def key_position(self, path: JsonPath) -> Position | None:
        """Position of the key naming `path`, falling back to the value's position."""
        return self.keys.get(path) or self.value_position(path)


def format_json_path(path: JsonPath) -> str:
    """Render ("export", "list", 0) as `$.export.list[0]`."""
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}")
        else:
            out.append(f"[{part!r}]")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a spec, at the place the user wrote it."""

    file: str
    message: str
    position: Position | None = None
    json_path: JsonPath = ()
    severity: Severity = "error"
    rule: str = "schema"

    @property
    def json_path_text(self) -> str:
        return format_json_path(self.json_path)


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """A parsed YAML/TOML/JSON file: plain JSON-like data plus where each value was written."""

    path: Path
    data: Any
    source_map: SourceMap
    sha256: str


@dataclass(frozen=True, slots=True)
class TemplateOrigin:
    """A value that came out of a template: its source and the variables it read."""

    source: str
    variables: Mapping[str, Any]

    def describe(self) -> str:
        used = ", ".join(f"{k}={v!r}" for k, v in sorted(self.variables.items()))
        return f"from template {self.source!r}" + (f" with {used}" if used else "")


@dataclass(frozen=True, slots=True)
class RenderedSpec:
    """A spec after templating: the full document with `export` and `output` rendered."""

    document: LoadedDocument
    data: Mapping[str, Any]
    variables: Mapping[str, Any]
    now: dt.datetime
    origins: Mapping[JsonPath, TemplateOrigin] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.data.get("name", ""))


@dataclass(frozen=True, slots=True)
class CompiledPart:
    """One part of a split spec: its body (the spec's, with `segment_index`) and sha256."""

    segment: int
    body: bytes
    sha256: str


@dataclass(frozen=True, slots=True)
class CompiledBody:
    """The canonical request body of one spec, ready to send.

    A split spec (`parts` not empty) sends its parts instead: `body` is then what they
    share, the rendered `export` without `segment_index`, which locks and plans diff.
    """

    spec_path: Path
    spec_sha256: str
    name: str
    body: bytes
    sha256: str
    variables: Mapping[str, Any]
    now: dt.datetime
    output_path: str | None
    format: str
    parts: tuple[CompiledPart, ...] = ()

    @property
    def segments(self) -> tuple[int, ...]:
        """The split's segments, in order; () for a spec that is not split."""
        return tuple(part.segment for part in self.parts)


@dataclass(frozen=True, slots=True)
class SpecResult:
    """The outcome for one spec file: its body when valid, and every diagnostic."""

    path: Path
    compiled: CompiledBody | None
    diagnostics: tuple[Diagnostic, ...]
    document: LoadedDocument | None = None
    #: A report may also carry the lock or a --vars-file; summaries count only specs.
    kind: Literal["spec", "lock", "vars-file"] = "spec"

    @property
    def ok(self) -> bool:
        return self.compiled is not None and not any(
            d.severity == "error" for d in self.diagnostics
        )


def is_template(value: object) -> bool:
    """Whether a string value holds template markup."""
    return isinstance(value, str) and any(marker in value for marker in _TEMPLATE_MARKERS)
