"""CI report formats for validate and plan, each parsed back."""

from __future__ import annotations

import json
import subprocess
import sys
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


# --------------------------------------------------------------------------- early failures


def _parsed(output_format: str, stdout: str) -> Any:
    """The document, parsed (and checked, for SARIF); text formats as lines."""
    if output_format in ("json", "sarif"):
        document = json.loads(stdout)
        if output_format == "sarif":
            _assert_sarif(document)
        return document
    if output_format == "junit":
        return ET.fromstring(stdout)
    return stdout.splitlines()


def _break_project(tree: Path) -> None:
    toml = tree / "exportspec.toml"
    toml.write_text(toml.read_text().replace("spec_roots", "spec_rots"))


@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.parametrize("output_format", ["text", "json", "github", "junit", "sarif"])
def test_a_bad_project_file_is_a_result_in_every_format(
    tree: Path, run_cli: RunCli, command: str, output_format: str
) -> None:
    _break_project(tree)
    result = run_cli([command, "--output-format", output_format])
    assert result.exit_code == 3, result.explain()
    assert "exportspec.toml:2:1: error: unknown key 'spec_rots'" in result.stderr  # as before
    document = _parsed(output_format, result.stdout)
    if output_format == "sarif":
        found = document["runs"][0]["results"]
        assert [r["ruleId"] for r in found] == ["unknown-key", "config-error"]
        location = found[0]["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "exportspec.toml"
        assert location["region"] == {"startLine": 2, "startColumn": 1}
        assert "is invalid" in found[1]["message"]["text"] and found[1]["locations"]
    elif output_format == "json":
        assert document["version"] == 1 and document["specs"] == []
        assert document["ok" if command == "validate" else "differs"] in (False, None)
        error = document["error"]
        assert error["exit_code"] == 3 and error["message"].endswith("exportspec.toml is invalid")
        first = error["diagnostics"][0]
        assert (first["line"], first["column"], first["rule"]) == (2, 1, "unknown-key")
    elif output_format == "junit":
        [failure] = document.findall("./testsuite/testcase/failure")
        assert failure.get("type") == "unknown-key" and "spec_rots" in (failure.text or "")
        assert document.get("failures") == "1"
        assert document.find("./testsuite").get("name") == f"exportspec {command}"
    elif output_format == "github":
        assert document[0].startswith("::error file=")
        assert document[0].split("::")[1].endswith("exportspec.toml,line=2,col=1")
        assert "unknown key 'spec_rots'" in document[0]
        assert not document[-1].startswith("::")  # the summary
    else:  # text: the error is said once, on stderr
        assert result.stdout == ""


@pytest.mark.parametrize("output_format", ["json", "sarif", "junit", "github"])
def test_a_usage_error_before_any_result_is_a_result(
    tree: Path, run_cli: RunCli, output_format: str
) -> None:
    result = run_cli(["plan", "--now", "yesterday", "--output-format", output_format])
    assert result.exit_code == 2, result.explain()
    assert "--now 'yesterday'" in result.stderr
    assert "--now 'yesterday'" in result.stdout
    document = _parsed(output_format, result.stdout)
    if output_format == "json":
        assert document["error"]["exit_code"] == 2
        assert document["error"]["diagnostics"][0]["rule"] == "usage-error"
    if output_format == "sarif":
        [found] = document["runs"][0]["results"]
        # No file of its own: placed on the project file (GitHub needs a location).
        uri = found["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == "exportspec.toml" and found["ruleId"] == "usage-error"


@pytest.mark.parametrize("output_format", ["sarif", "junit", "json"])
def test_plan_of_an_invalid_spec_is_a_document(
    tree: Path, run_cli: RunCli, output_format: str
) -> None:
    _break(tree)
    result = run_cli(["plan", "--output-format", output_format])
    assert result.exit_code == 1, result.explain()
    assert "everyone.toml:5:10: error:" in result.stderr  # as before
    document = _parsed(output_format, result.stdout)
    if output_format == "sarif":
        [found] = document["runs"][0]["results"]
        assert found["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    if output_format == "json":
        assert document["differs"] is None and document["error"]["exit_code"] == 1
    if output_format == "junit":
        [case] = document.findall("./testsuite/testcase")
        assert Path(case.get("name", "")).name == "everyone.toml"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_stdout_does_not_hide_the_error(tree: Path) -> None:
    _break_project(tree)
    with Path("/dev/full").open("wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "exportspec", "validate", "--output-format", "sarif"],
            stdout=full, stderr=subprocess.PIPE, timeout=60, check=False, cwd=tree,
        )  # fmt: skip
    assert done.returncode == 3
    assert b"exportspec.toml is invalid" in done.stderr
    assert b"Traceback" not in done.stderr


# --------------------------------------------------------------------------- untrusted text


def test_junit_stays_xml_with_control_characters_in_names(tree: Path, run_cli: RunCli) -> None:
    bad = tree / "specs" / "a\x1b[31mb\x01.toml"
    bad.write_text('version = 1\nname = "x"\n\n[export]\nformat = "cvs"\n')
    result = run_cli(["validate", "--output-format", "junit"])
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout)  # \x1b and \x01 are not XML characters
    names = [c.get("name", "") for c in root.findall("./testsuite/testcase")]
    assert any(name.endswith("a\\x1b[31mb\\x01.toml") for name in names), names


def test_a_lock_cannot_write_workflow_commands_through_validate_locked(
    tree: Path, run_cli: RunCli
) -> None:
    """The issue's example: a lock entry's path that holds a line of its own."""
    assert run_cli(["lock"]).exit_code == 0
    lock = json.loads((tree / "exportspec.lock").read_text())
    lock["specs"]["segment"]["path"] = "specs/segment.yaml\n::error::x\n::add-mask::y"
    (tree / "exportspec.lock").write_text(json.dumps(lock))
    for output_format in ("text", "github"):
        result = run_cli(["validate", "--locked", "--output-format", output_format])
        assert result.exit_code == 1, result.explain()
        lines = (result.stdout + result.stderr).splitlines()
        commands = [line for line in lines if line.lstrip().startswith("::")]
        if output_format == "text":
            assert commands == []
        else:
            assert [c.split(" ", 1)[0] for c in commands] == ["::error"]
        assert "moved from specs/segment.yaml\\n::error::x\\n::add-mask::y since" in (result.stdout)
