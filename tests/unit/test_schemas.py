"""The bundled JSON Schemas: valid 2020-12 schemas, documented, and shipped in the package."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from exportspec.schemas import BODY_SCHEMA, SCHEMA_NAMES, body_validator, load_schema

ROOT = Path(__file__).resolve().parents[2]
#: Every schema in schemas/ is bundled, except the generated editor variant (`schema --editor`).
SCHEMA_FILES = list(SCHEMA_NAMES)


def test_every_schema_file_is_bundled() -> None:
    files = {p.name for p in (ROOT / "schemas").glob("*.json")}
    assert files - set(SCHEMA_FILES) == {"spec.editor.schema.json"}


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_files_are_valid_draft_2020_12(name: str) -> None:
    schema = json.loads((ROOT / "schemas" / name).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_the_package_reads_the_checkout_schemas(name: str) -> None:
    assert load_schema(name) == json.loads((ROOT / "schemas" / name).read_text(encoding="utf-8"))


def _properties(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named property schema, also under $defs and then/else (an `if` only tests)."""
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            if isinstance(value, dict):
                yield f"{path}/properties/{key}", value
        for key, value in node.items():
            if key != "if":
                yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties(value, f"{path}/{i}")


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_every_property_has_a_description(name: str) -> None:
    missing = [path for path, prop in _properties(load_schema(name)) if not prop.get("description")]
    assert not missing, f"properties without a description: {missing}"


def test_body_schema_documents_every_field() -> None:
    schema = load_schema(BODY_SCHEMA)
    assert set(schema["properties"]) == {
        "format",
        "attributes",
        "filter",
        "execution_time",
        "timezone",
    }
    assert schema["required"] == ["format"]
    assert schema["properties"]["format"]["enum"] == ["csv", "table_json", "native_json"]
    item = schema["$defs"]["attribute"]
    assert item["properties"]["type"]["enum"] == [
        "id",
        "property",
        "segmentation",
        "aggregate",
        "expression",
        "prediction",
        "consent",
        "recommendation",
    ]


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"format": "csv"}, True),
        ({"format": "csv", "attributes": {"type": "some"}}, False),
        ({"format": "csv", "attributes": {"type": "some", "list": []}}, False),
        ({"format": "csv", "attributes": {"type": "properties_and_ids"}}, True),
        (
            {
                "format": "csv",
                "attributes": {"type": "properties_and_ids", "list": [{"type": "id", "id": "x"}]},
            },
            False,
        ),
        ({"format": "csv", "filter": {"type": "segment", "segmentation_id": "x"}}, False),
        (
            {
                "format": "csv",
                "filter": {"type": "segment", "segmentation_id": "x", "segment_index": -1},
            },
            True,
        ),
        (
            {
                "format": "csv",
                "filter": {"type": "segment", "segmentation_id": "x", "segment_index": -2},
            },
            False,
        ),
        ({"format": "csv", "filter": {"type": "all", "segmentation_id": "x"}}, False),
        ({"format": "csv", "filter": {"segment_index": 0}}, False),
        ({"format": "csv", "execution_time": -1}, False),
        ({"format": "csv", "execution_time": 0}, True),
        ({"format": "csv", "extra": 1}, False),
        (
            {
                "format": "csv",
                "attributes": {"type": "some", "list": [{"type": "property", "id": "x"}]},
            },
            False,
        ),
        (
            {
                "format": "csv",
                "attributes": {"type": "some", "list": [{"type": "id", "property": "x"}]},
            },
            False,
        ),
        (
            {
                "format": "csv",
                "attributes": {"type": "some", "list": [{"type": "property", "property": "e"}]},
            },
            True,
        ),
    ],
)
def test_body_schema_conditionals(body: dict[str, Any], valid: bool) -> None:
    assert body_validator().is_valid(body) is valid


def test_installed_package_ships_the_schemas(tmp_path: Path) -> None:
    """Build the package the way the wheel does and read the schemas from the build alone."""
    for name in ("src", "schemas"):
        shutil.copytree(ROOT / name, tmp_path / name)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    build = tmp_path / "build-lib"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import setuptools; setuptools.setup()",
            "-q",
            "build_py",
            "--build-lib",
            str(build),
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    shipped = build / "exportspec" / "schema_files"
    for name in SCHEMA_FILES:
        assert (shipped / name).read_bytes() == (ROOT / "schemas" / name).read_bytes()
    # From the build alone (no checkout beside it), the package finds its schemas as resources.
    shutil.rmtree(tmp_path / "schemas")
    probe = (
        "from exportspec.schemas import schema_text, spec_validator;"
        "import json; json.loads(schema_text('customers-export.schema.json'));"
        "spec_validator(); print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(build)!r}); {probe}"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "ok", result.stderr
