"""`exportspec schema --editor`: the committed editor schema is current and accepts the examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from exportspec.spec.load import load_document
from tests.conftest import RunCli

ROOT = Path(__file__).parent.parent.parent
EXAMPLES = sorted((ROOT / "specs").glob("*.*"))


@pytest.fixture(scope="module")
def editor_schema() -> dict[str, object]:
    schema: dict[str, object] = json.loads(
        (ROOT / "schemas" / "spec.editor.schema.json").read_text()
    )
    Draft202012Validator.check_schema(schema)
    return schema


def test_committed_editor_schema_is_current(run_cli: RunCli, editor_schema: object) -> None:
    result = run_cli(["schema", "--editor"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == editor_schema


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_examples_point_editors_at_the_schema_and_pass_it(
    spec: Path, editor_schema: dict[str, object]
) -> None:
    first_line = spec.read_text().splitlines()[0]
    directive = "#:schema " if spec.suffix == ".toml" else "# yaml-language-server: $schema="
    assert first_line == f"{directive}../schemas/spec.editor.schema.json"
    data = load_document(spec).data
    assert not list(Draft202012Validator(editor_schema).iter_errors(data))


def test_editor_schema_accepts_templates_only_where_they_are_rendered(
    editor_schema: dict[str, object],
) -> None:
    checker = Draft202012Validator(editor_schema)
    spec = {
        "version": 1,
        "name": "t",
        "export": {
            "format": "csv",
            "execution_time": "{{ now | timestamp }}",
            "filter": {"type": "segment", "segmentation_id": "x", "segment_index": "{{ s }}"},
        },
    }
    assert checker.is_valid(spec)
    assert not checker.is_valid({**spec, "name": "{{ name }}"})
    bad = json.loads(json.dumps(spec))
    bad["export"]["filter"]["segment_index"] = "zero"
    assert not checker.is_valid(bad)


def test_plain_schema_inlines_the_body(run_cli: RunCli) -> None:
    schema = json.loads(run_cli(["schema"]).stdout)
    Draft202012Validator.check_schema(schema)
    assert "$ref" not in schema["properties"]["export"]
    assert schema["properties"]["export"]["required"] == ["format"]
    body = json.loads(run_cli(["schema", "--body"]).stdout)
    assert body["properties"]["format"]["enum"] == ["csv", "table_json", "native_json"]
