"""One body schema, no second opinion: what the sandbox refuses for its shape, `validate`
refuses first, at the spec's position; what both accept, both accept.

The bodies are data files (data/bad-bodies.jsonl, data/good-bodies.jsonl), each sent to
the sandbox and also written as the `export` of a spec for `exportspec validate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exportspec.sandbox import Sandbox
from tests.conftest import RunCli

from .conftest import DATA, post


def _cases(name: str, *, project: bool) -> list[Any]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip() and not line.startswith("#")]
    return [
        pytest.param(c["body"], c.get("error", ""), id=c["id"])
        for c in cases
        if c.get("project", False) is project
    ]


def _validate(body: Any, tmp_path: Path, run_cli: RunCli) -> tuple[int, list[dict[str, Any]]]:
    """`exportspec validate` of a spec whose `export` is `body` (JSON is YAML 1.2)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({"version": 1, "name": "case", "export": body}, indent=1))
    result = run_cli(["validate", str(spec), "--output-format", "json"])
    assert "Traceback" not in result.stderr, result.explain()
    report = json.loads(result.stdout)
    return result.exit_code, [d for s in report["specs"] for d in s["diagnostics"]]


def _related(sandbox_path: str, spec_path: str) -> bool:
    """The same place, or one inside the other (`$.attributes` and `$.attributes.list`)."""
    body_path = "$" + spec_path.removeprefix("$.export")
    return body_path.startswith(sandbox_path) or sandbox_path.startswith(body_path)


@pytest.mark.parametrize(("body", "error"), _cases("bad-bodies.jsonl", project=False))
def test_what_the_sandbox_refuses_validate_refuses_at_the_spec_position(
    sandbox: Sandbox, body: Any, error: str, tmp_path: Path, run_cli: RunCli
) -> None:
    response = post(sandbox, body)
    assert response.status_code == 400, response.text
    refused = [e.split(": ", 1)[0] for e in response.json()["errors"]]
    exit_code, diagnostics = _validate(body, tmp_path, run_cli)
    errors = [d for d in diagnostics if d["severity"] == "error"]
    assert exit_code == 1 and errors, diagnostics
    for diagnostic in errors:
        assert diagnostic["line"] >= 1 and diagnostic["column"] >= 1, diagnostic
    for path in refused:
        assert any(_related(path, d["json_path"]) for d in errors), (path, errors)


@pytest.mark.parametrize(("body", "error"), _cases("bad-bodies.jsonl", project=True))
def test_project_data_is_the_sandbox_s_own_check(
    sandbox: Sandbox, body: Any, error: str, tmp_path: Path, run_cli: RunCli
) -> None:
    # An id the project lacks is no shape problem: validate cannot know the project.
    assert post(sandbox, body).status_code == 400
    exit_code, diagnostics = _validate(body, tmp_path, run_cli)
    assert exit_code == 0, diagnostics


@pytest.mark.parametrize(("body", "error"), _cases("good-bodies.jsonl", project=False))
def test_what_validate_accepts_the_sandbox_serves(
    sandbox: Sandbox, body: Any, error: str, tmp_path: Path, run_cli: RunCli
) -> None:
    exit_code, diagnostics = _validate(body, tmp_path, run_cli)
    assert exit_code == 0, diagnostics
    response = post(sandbox, body)
    assert response.status_code == 200, response.text
