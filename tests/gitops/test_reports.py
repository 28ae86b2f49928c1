"""CI report formats for validate and plan, each parsed back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from jsonschema.validators import validator_for

from tests.conftest import RunCli

SARIF_SCHEMA = json.loads(
    (Path(__file__).parent.parent / "data" / "sarif-schema-2.1.0.json").read_text()
)


def _break(tree: Path) -> None:
    (tree / "specs" / "everyone.toml").write_text(
        'version = 1\nname = "everyone"\n\n[export]\nformat = "cvs"\n'
    )


def _assert_sarif(document: dict[str, Any]) -> None:
    checker = validator_for(SARIF_SCHEMA)(SARIF_SCHEMA)
    errors = [e.message for e in checker.iter_errors(document)]
    assert not errors, errors


def test_validate_sarif_is_valid_and_carries_regions(tree: Path, run_cli: RunCli) -> None:
    _break(tree)
    result = run_cli(["validate", "--output-format", "sarif"])
    assert result.exit_code == 1
    sarif = json.loads(result.stdout)
    _assert_sarif(sarif)
    [finding] = sarif["runs"][0]["results"]
    assert finding["level"] == "error"
    assert "did you mean 'csv'" in finding["message"]["text"]
    location = finding["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "specs/everyone.toml"
    assert location["region"] == {"startLine": 5, "startColumn": 10}


def test_validate_junit_has_one_case_per_spec(tree: Path, run_cli: RunCli) -> None:
    _break(tree)
    result = run_cli(["validate", "--output-format", "junit"])
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout)
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 3
    failed = [c for c in cases if c.find("failure") is not None]
    assert [Path(c.get("name", "")).name for c in failed] == ["everyone.toml"]
    failure = failed[0].find("failure")
    assert failure is not None and failure.text is not None
    assert "everyone.toml:5:10: error:" in failure.text
    assert root.get("failures") == "1"


def test_validate_github_annotations(tree: Path, run_cli: RunCli) -> None:
    _break(tree)
    result = run_cli(["validate", "--output-format", "github"])
    [annotation] = [line for line in result.stdout.splitlines() if line.startswith("::")]
    # Repository-relative, as GitHub needs to attach the annotation to the changed line.
    assert annotation.startswith("::error file=specs/everyone.toml,line=5,col=10::")
    assert "'cvs' is not one of" in annotation


def test_validate_json_is_versioned_and_complete(tree: Path, run_cli: RunCli) -> None:
    _break(tree)
    report = json.loads(run_cli(["validate", "--output-format", "json"]).stdout)
    assert report["version"] == 1 and report["ok"] is False
    diagnostic = next(d for s in report["specs"] for d in s["diagnostics"])
    assert set(diagnostic) == {
        "file",
        "line",
        "column",
        "severity",
        "rule",
        "message",
        "json_path",
    }
    assert (diagnostic["line"], diagnostic["column"], diagnostic["json_path"]) == (
        5,
        10,
        "$.export.format",
    )


@pytest.fixture
def changed_tree(tree: Path, run_cli: RunCli) -> Path:
    assert run_cli(["lock"]).exit_code == 0
    spec = tree / "specs" / "segment.yaml"
    spec.write_text(spec.read_text().replace("format: csv", "format: table_json"))
    return tree


def test_plan_sarif_junit_github_json(changed_tree: Path, run_cli: RunCli) -> None:
    sarif = json.loads(run_cli(["plan", "--output-format", "sarif"]).stdout)
    _assert_sarif(sarif)
    [finding] = sarif["runs"][0]["results"]
    assert finding["ruleId"] == "plan-changed"
    assert '$.format: "csv" -> "table_json"' in finding["message"]["text"]

    junit = ET.fromstring(run_cli(["plan", "--output-format", "junit"]).stdout)
    failures = junit.findall("./testsuite/testcase/failure")
    assert [f.get("type") for f in failures] == ["changed"]

    github = run_cli(["plan", "--output-format", "github"]).stdout
    assert github.startswith("::notice file=specs/segment.yaml,line=1,col=1::exportspec plan:")

    plan = json.loads(run_cli(["plan", "--output-format", "json"]).stdout)
    assert plan["version"] == 1 and plan["differs"] is True


def test_colour_only_when_forced_and_never_with_no_color(
    tree: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break(tree)
    assert "\x1b[" not in run_cli(["validate"]).stdout  # not a terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[1;31merror\x1b[0m" in run_cli(["validate"]).stdout
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in run_cli(["validate"]).stdout
