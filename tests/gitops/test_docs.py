"""The example CI workflow in docs/ is well-formed and uses real exportspec commands."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from exportspec.cli.app import COMMAND_BY_NAME
from tests.conftest import RunCli

WORKFLOW = Path(__file__).parent.parent.parent / "docs" / "github-actions-exportspec.yml"


def test_workflow_is_valid_yaml_with_validate_plan_and_run() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert set(workflow["jobs"]) == {"check", "run"}
    scripts = "\n".join(
        step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]
    )
    used = set(re.findall(r"exportspec (\w+)", scripts))
    assert {"validate", "plan", "run"} <= used <= set(COMMAND_BY_NAME)
    assert "--output-format github" in scripts and "--locked" in scripts


README = WORKFLOW.parent.parent / "README.md"
SPECS = WORKFLOW.parent.parent / "specs"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_readme_spec_is_the_real_example_file() -> None:
    (spec,) = _blocks("yaml")
    assert spec == (SPECS / "vip-segment.yaml").read_text()


def test_the_readme_project_file_works_with_the_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    (project,) = [b for b in _blocks("toml") if "[environments." in b]
    shutil.copytree(SPECS, tmp_path / "specs")
    (tmp_path / "exportspec.toml").write_text(project)
    monkeypatch.chdir(tmp_path)
    for args in (["validate"], ["lock"], ["plan", "--detailed-exitcode"], ["validate", "--locked"]):
        result = run_cli(args)
        assert result.exit_code == 0, result.explain()
    assert "warning" not in result.stderr
