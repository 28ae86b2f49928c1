"""The example CI workflow in docs/ is well-formed and uses real exportspec commands."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from exportspec.cli.app import COMMAND_BY_NAME

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
