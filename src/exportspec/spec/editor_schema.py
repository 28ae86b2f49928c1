"""Self-contained schemas for editors: the body schema inlined, templates allowed where rendered."""

from __future__ import annotations

import copy
from typing import Any

from exportspec.schemas import BODY_SCHEMA, SPEC_SCHEMA, load_schema

#: A string holding a Jinja2 template; such a value is rendered before validation.
TEMPLATE_STRING: dict[str, Any] = {
    "type": "string",
    "pattern": r"\{\{|\{%",
    "description": "A Jinja2 template, rendered before the body is checked.",
}


def body_schema() -> dict[str, Any]:
    return copy.deepcopy(load_schema(BODY_SCHEMA))


def spec_schema(*, editor: bool) -> dict[str, Any]:
    """The spec-file schema with the body schema inlined under `$defs`, so one file suffices."""
    spec = copy.deepcopy(load_schema(SPEC_SCHEMA))
    body = _rename_body_refs(body_schema())
    body.pop("$schema", None)
    spec["$defs"].update({f"body-{name}": value for name, value in body.pop("$defs", {}).items()})
    export = spec["properties"]["export"]
    export.pop("$ref")
    export.update(body)
    _split_supplies_segment_index(spec)
    if editor:
        spec["title"] += " (editor schema: templates allowed under export and output)"
        for key in ("export", "output"):
            spec["properties"][key] = _templatable(spec["properties"][key])
        for name in list(spec["$defs"]):
            if name.startswith("body-"):
                spec["$defs"][name] = _templatable(spec["$defs"][name])
    return spec


def _split_supplies_segment_index(spec: dict[str, Any]) -> None:
    """In one self-contained file, say what validation does with two: beside `split`, the
    filter names no `segment_index` (each part's comes from the split) and `execution_time`
    is required; without it, a segment filter needs its `segment_index`."""
    flt = spec["properties"]["export"]["properties"]["filter"]
    for rule in flt.get("allOf", []):
        then = rule.get("then", {})
        if "segment_index" in then.get("required", []):
            then["required"] = [key for key in then["required"] if key != "segment_index"]
    segment = {"properties": {"type": {"const": "segment"}}, "required": ["type"]}
    spec.setdefault("allOf", []).append(
        {
            "description": "With `split`, the filter names no segment_index (the split "
            "supplies it) and execution_time is required; without, a segment filter needs "
            "its segment_index.",
            "if": {"required": ["split"]},
            "then": {
                "properties": {
                    "export": {
                        "required": ["execution_time"],
                        "properties": {"filter": {"not": {"required": ["segment_index"]}}},
                    }
                }
            },
            "else": {
                "properties": {
                    "export": {
                        "properties": {
                            "filter": {"if": segment, "then": {"required": ["segment_index"]}}
                        }
                    }
                }
            },
        }
    )


def _rename_body_refs(node: Any) -> Any:
    """The body's own `#/$defs/X` become `#/$defs/body-X` once inlined into the spec schema."""
    if isinstance(node, dict):
        out = {k: _rename_body_refs(v) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out["$ref"] = "#/$defs/body-" + ref.removeprefix("#/$defs/")
        return out
    if isinstance(node, list):
        return [_rename_body_refs(v) for v in node]
    return node


def _templatable(schema: Any) -> Any:
    """Let every value described inside `schema` (not the object itself) be a template too."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: _wrap(sub) for name, sub in out["properties"].items()}
    if isinstance(out.get("items"), dict):
        out["items"] = _wrap(out["items"])
    if isinstance(out.get("allOf"), list):
        out["allOf"] = [_templatable(sub) for sub in out["allOf"]]
    for key in ("if", "then", "else"):
        if isinstance(out.get(key), dict):
            out[key] = _templatable(out[key])
    return out


def _wrap(schema: Any) -> Any:
    if not isinstance(schema, dict) or schema.get("not") == {}:
        return schema
    inner = _templatable(schema)
    description = inner.pop("description", None)
    wrapped: dict[str, Any] = {"anyOf": [inner, TEMPLATE_STRING]}
    if description is not None:
        wrapped["description"] = description
    return wrapped
