"""The example specs in specs/ are real: each validates and compiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli

SPECS = Path(__file__).parent.parent / "specs"
EXAMPLES = sorted(p for p in SPECS.iterdir() if p.suffix in (".yaml", ".yml", ".toml"))


def test_there_are_at_least_six_examples_in_both_languages() -> None:
    assert len(EXAMPLES) >= 6
    assert {p.suffix for p in EXAMPLES} >= {".yaml", ".toml"}


def test_the_examples_folder_validates(run_cli: RunCli) -> None:
    result = run_cli(["validate", str(SPECS)])
    assert result.exit_code == 0, result.explain()
    assert f"{len(EXAMPLES)} spec(s) valid" in result.stdout


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_each_example_compiles_to_a_body(spec: Path, run_cli: RunCli) -> None:
    result = run_cli(["compile", str(spec), "--now", "2026-03-30T12:00:00Z"])
    assert result.exit_code == 0, result.explain()
    for body in _bodies(result.stdout_bytes):
        assert body["format"] in ("csv", "table_json")
    assert result.stderr == ""


def _bodies(compiled: bytes) -> list[dict[str, Any]]:
    """The bodies a spec sends: its one body, or a split spec's parts."""
    value = json.loads(compiled)
    return value if isinstance(value, list) else [value]


def test_examples_together_use_every_documented_body_feature(run_cli: RunCli) -> None:
    sent = [
        _bodies(run_cli(["compile", str(p), "--now", "2026-03-30T12:00:00Z"]).stdout_bytes)
        for p in EXAMPLES
    ]
    assert any(len(parts) > 1 for parts in sent), "an example splits its export"
    bodies = [body for parts in sent for body in parts]
    kinds = {item["type"] for b in bodies for item in b.get("attributes", {}).get("list", [])}
    assert kinds == {"id", "property", "segmentation", "aggregate", "expression", "prediction"}
    assert {b["format"] for b in bodies} == {"csv", "table_json"}
    assert {"all", "segment"} <= {b.get("filter", {}).get("type", "all") for b in bodies}
    indexes = {
        b["filter"]["segment_index"] for b in bodies if "segment_index" in b.get("filter", {})
    }
    assert -1 in indexes and any(i >= 0 for i in indexes)
    assert {b.get("attributes", {}).get("type") for b in bodies} >= {"some", "properties_and_ids"}
    assert any("timezone" in b for b in bodies) and any("execution_time" in b for b in bodies)
    assert sent[EXAMPLES.index(SPECS / "all-customers.yaml")] == [{"format": "csv"}]


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_each_example_runs_against_the_sandbox(
    spec: Path, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sandbox knows every id the examples use, so each export is refused by nothing
    # and holds at least one customer.
    monkeypatch.chdir(tmp_path)
    result = run_cli(["run", str(spec), "--sandbox", "-q", "--now", "2026-03-30T12:00:00Z"])
    assert result.exit_code == 0, result.explain()
    (record_path,) = tmp_path.rglob("*.run.json")
    record = json.loads(record_path.read_text())
    output = tmp_path / record["output"]["path"]
    assert output.is_file()
    assert record["output"]["rows"] > 0
    assert record["output"]["bytes"] == output.stat().st_size
