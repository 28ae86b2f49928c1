"""schema_diagnostics: a failed oneOf/anyOf shows one best-matching branch error, located."""

from __future__ import annotations

from pathlib import Path

from jsonschema import Draft202012Validator

from exportspec.spec.load import load_bytes
from exportspec.spec.validate import schema_diagnostics

SCHEMA = {
    "type": "object",
    "properties": {
        "target": {
            "oneOf": [
                {"required": ["bucket"], "properties": {"bucket": {"type": "string"}}},
                {"required": ["host"], "properties": {"port": {"type": "integer"}}},
            ]
        }
    },
}  # fmt: skip


def test_a_failed_one_of_shows_one_branch_error_not_a_wall() -> None:
    document = load_bytes(b"target:\n  bucket: 5\n", path=Path("t.yaml"))
    (diagnostic,) = schema_diagnostics(Draft202012Validator(SCHEMA), document, document.data)
    # jsonschema's best_match: one branch's error, instead of "is not valid under any of...".
    assert diagnostic.message == "missing required key 'host' in 'target'"
    assert diagnostic.json_path == ("target",)
    assert diagnostic.position is not None and diagnostic.position.line == 1  # at `target:`
