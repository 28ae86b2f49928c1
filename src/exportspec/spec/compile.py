"""Stage 4, compile: a validated, rendered spec into its canonical request body. No I/O."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from exportspec.spec.models import CompiledBody, CompiledPart, RenderedSpec
from exportspec.spec.split import part_body, split_segments


def canonical_json(value: Any) -> bytes:
    """Sorted keys, UTF-8, no insignificant whitespace: identical bytes on every machine."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def compile_body(rendered: RenderedSpec) -> CompiledBody:
    """The body bytes and their sha256, with what a run record needs to reproduce them."""
    export = rendered.data["export"]
    body = canonical_json(export)
    parts = tuple(
        CompiledPart(segment, part, hashlib.sha256(part).hexdigest())
        for segment in split_segments(rendered.data) or ()
        for part in (canonical_json(part_body(export, segment)),)
    )
    output = rendered.data.get("output") or {}
    path = output.get("path") if isinstance(output, dict) else None
    return CompiledBody(
        spec_path=rendered.document.path,
        spec_sha256=rendered.document.sha256,
        name=rendered.name,
        body=body,
        sha256=hashlib.sha256(body).hexdigest(),
        variables=dict(rendered.variables),
        now=rendered.now,
        output_path=str(path) if path is not None else None,
        format=str(export.get("format", "csv")),
        parts=parts,
    )
