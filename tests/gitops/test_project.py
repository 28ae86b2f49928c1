"""exportspec.toml: discovery, validation, environments and variable precedence."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunCli
from tests.gitops.conftest import DATA


def _segment_index(run_cli: RunCli, *args: str) -> object:
    result = run_cli(["compile", "specs/segment.yaml", *args])
    assert result.exit_code == 0, result.explain()
    return json.loads(result.stdout_bytes)["filter"]["segment_index"]


def test_default_environment_vars_override_spec_defaults(tree: Path, run_cli: RunCli) -> None:
    assert _segment_index(run_cli) == 1


def test_env_flag_selects_another_environment(tree: Path, run_cli: RunCli) -> None:
    result = run_cli(["compile", "specs/segment.yaml", "--env", "production"])
    body = json.loads(result.stdout_bytes)
    assert (body["filter"]["segment_index"], body["timezone"]) == (2, "America/New_York")


def test_precedence_var_over_vars_file_over_environment(tree: Path, run_cli: RunCli) -> None:
    vars_file = str(DATA / "vars-segment-3.yaml")
    assert _segment_index(run_cli, "--vars-file", vars_file) == 3
    assert _segment_index(run_cli, "--vars-file", vars_file, "--var", "segment=4") == 4


def test_the_project_is_found_from_a_nested_folder(tree: Path, run_cli: RunCli) -> None:
    nested = tree / "specs"
    result = run_cli(["compile", str(nested / "segment.yaml"), "--env", "production"])
    assert json.loads(result.stdout_bytes)["filter"]["segment_index"] == 2


def test_unknown_environment_lists_the_known_ones(tree: Path, run_cli: RunCli) -> None:
    result = run_cli(["validate", "--env", "prod"])
    assert result.exit_code == 3
    assert "unknown environment 'prod'" in result.stderr
    assert "known: production, staging" in result.stderr


def test_env_without_a_project_file_is_a_configuration_error(
    tmp_path: Path, run_cli: RunCli
) -> None:
    spec = tmp_path / "a.yaml"
    spec.write_text("version: 1\nname: a\nexport: {format: csv}\n")
    result = run_cli(["validate", str(spec), "--env", "staging"])
    assert result.exit_code == 3
    assert "unknown environment 'staging' (no exportspec.toml found)" in result.stderr


def test_invalid_project_file_is_a_located_configuration_error(tree: Path, run_cli: RunCli) -> None:
    (tree / "exportspec.toml").write_text(
        '[project]\nspec_root = ["specs"]\n\n[environments.dev]\nbase_url = "ftp://x"\n'
    )
    result = run_cli(["validate"])
    assert result.exit_code == 3
    assert (
        f"{tree / 'exportspec.toml'}:2:1: error: unknown key 'spec_root' "
        "(did you mean 'spec_roots'?)"
    ) in result.stderr
    assert f"{tree / 'exportspec.toml'}:5:12: error: 'ftp://x'" in result.stderr


def test_validate_without_paths_uses_the_spec_roots(tree: Path, run_cli: RunCli) -> None:
    result = run_cli(["validate"])
    assert result.exit_code == 0, result.explain()
    assert result.stdout == "3 spec(s) valid\n"


def test_environment_vars_undeclared_by_a_spec_are_not_an_error(
    tree: Path, run_cli: RunCli
) -> None:
    # `zone` is set by production but everyone.toml declares no variables.
    assert run_cli(["validate", "--env", "production"]).exit_code == 0


def test_environment_value_failing_a_declaration_points_into_the_project_file(
    tree: Path, run_cli: RunCli
) -> None:
    text = (tree / "exportspec.toml").read_text().replace("segment = 1", "segment = -7")
    (tree / "exportspec.toml").write_text(text)
    result = run_cli(["validate", "--output-format", "json"])
    assert result.exit_code == 1
    diagnostics = [d for s in json.loads(result.stdout)["specs"] for d in s["diagnostics"]]
    assert len(diagnostics) == 1
    assert diagnostics[0]["file"].endswith("exportspec.toml")
    assert (diagnostics[0]["line"], diagnostics[0]["column"]) == (10, 11)
    assert "environment 'staging'" in diagnostics[0]["message"]
