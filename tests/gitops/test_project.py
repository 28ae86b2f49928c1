"""exportspec.toml: discovery, validation, environments and variable precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exportspec.gitops.project import ENVIRONMENT_NAME
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


@pytest.mark.parametrize("token", [".", "..", "a/b", "a\\\\b", " ../x "])
def test_a_project_token_that_would_walk_the_url_path_is_refused(
    token: str, tree: Path, run_cli: RunCli
) -> None:
    text = (tree / "exportspec.toml").read_text()
    (tree / "exportspec.toml").write_text(text.replace('"staging-token"', f'"{token}"'))
    result = run_cli(["validate"])
    assert result.exit_code == 3, result.explain()
    assert (
        "exportspec.toml:7:17: error: environment 'staging': project_token is not valid: "
        "a project token has only letters, digits, '-', '_', '.' and '~', and not only dots"
    ) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["", "a b", "-x", ".", "../staging"])
def test_an_env_flag_that_is_no_environment_name_states_the_rule(
    name: str, tree: Path, run_cli: RunCli
) -> None:
    result = run_cli(["validate", "--env", name])
    assert result.exit_code == 2, result.explain()
    assert result.stderr.startswith("Usage: exportspec validate ")  # like every usage error
    assert result.stderr.endswith(
        f"\nError: --env {name!r} is not an environment name: use letters, digits, '_', '.' "
        "and '-', starting with a letter or digit\n"
    )


def test_an_environment_name_in_the_file_gets_the_schema_rule(tree: Path, run_cli: RunCli) -> None:
    (tree / "exportspec.toml").write_text('[environments."my env"]\nproject_token = "t"\n')
    result = run_cli(["validate"])
    assert result.exit_code == 3
    assert (
        "error: environment name 'my env' is not allowed: use letters, digits, '_', '.' and '-', "
        "starting with a letter or digit"
    ) in result.stderr
    pattern = json.loads((DATA.parents[2] / "schemas" / "project.schema.json").read_text())
    assert pattern["properties"]["environments"]["propertyNames"]["pattern"] == (
        "^" + ENVIRONMENT_NAME.pattern + "$"
    )


@pytest.mark.parametrize(
    "line",
    [
        "project_token = 8675309",
        'base_url = "ftp://key:s3cr3t@example.com"',
        'base_url = ["https://key:s3cr3t@example.com"]',
    ],
)
def test_schema_errors_do_not_echo_values_that_may_be_secrets(
    line: str, tree: Path, run_cli: RunCli
) -> None:
    (tree / "exportspec.toml").write_text(f"[environments.dev]\n{line}\n")
    result = run_cli(["validate"])
    assert result.exit_code == 3, result.explain()
    assert "s3cr3t" not in result.stderr and "8675309" not in result.stderr
    assert "exportspec.toml:2:" in result.stderr
    assert "the value (not shown: it may be a secret)" in result.stderr


def test_a_credential_key_in_the_project_file_says_where_credentials_go(
    tree: Path, run_cli: RunCli
) -> None:
    (tree / "exportspec.toml").write_text('[environments.dev]\napi_secret = "s3cr3t"\n')
    result = run_cli(["validate"])
    assert result.exit_code == 3
    assert "s3cr3t" not in result.stderr
    assert "unknown key 'api_secret'" in result.stderr
    assert "set EXPORTSPEC_API_KEY_ID and EXPORTSPEC_API_SECRET" in result.stderr


@pytest.mark.parametrize("command", ["validate", "lock", "plan"])
@pytest.mark.parametrize("nested", [False, True], ids=["at-the-root", "in-a-subfolder"])
def test_a_missing_spec_root_names_the_setting_and_the_project_file(
    command: str, nested: bool, tree: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tree / "exportspec.toml"
    toml.write_text(toml.read_text().replace('["specs"]', '["specs", "reports"]'))
    if nested:
        monkeypatch.chdir(tree / "specs")
    result = run_cli([command])
    assert result.exit_code == 2, result.explain()
    shown = toml if nested else Path("exportspec.toml")
    assert result.stderr.endswith(
        f"Error: no PATH given, and spec root 'reports' (project.spec_roots in {shown}) "
        "does not exist\n"
    ), result.explain()


def test_a_missing_default_spec_root_says_the_project_file_sets_none(
    tree: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tree / "exportspec.toml"
    toml.write_text(toml.read_text().replace('spec_roots = ["specs"]\n', ""))
    (tree / "specs").rename(tree / "reports")
    monkeypatch.chdir(tree / "reports")
    result = run_cli(["validate"])
    assert result.exit_code == 2, result.explain()
    assert result.stderr.endswith(
        "Error: no PATH given, and spec root 'specs' (the default: project.spec_roots is not "
        f"set in {toml}) does not exist\n"
    ), result.explain()


def test_a_spec_root_without_specs_names_the_setting(tree: Path, run_cli: RunCli) -> None:
    toml = tree / "exportspec.toml"
    toml.write_text(toml.read_text().replace('["specs"]', '["reports"]'))
    (tree / "reports").mkdir()
    result = run_cli(["validate"])
    assert result.exit_code == 2, result.explain()
    assert result.stderr.endswith(
        "Error: no .yaml, .yml or .toml files under reports "
        "(project.spec_roots in exportspec.toml)\n"
    ), result.explain()


@pytest.mark.parametrize(
    "text", ["", "\n", "# defaults for now\n"], ids=["empty", "blank", "comment"]
)
def test_an_empty_project_file_means_all_defaults(text: str, tree: Path, run_cli: RunCli) -> None:
    """`touch exportspec.toml` marks the project root: an empty TOML document is valid."""
    (tree / "exportspec.toml").write_text(text)
    result = run_cli(["validate"])
    assert result.exit_code == 0, result.explain()
    result = run_cli(["lock"])
    assert result.exit_code == 0, result.explain()
    assert (tree / "exportspec.lock").is_file()


@pytest.mark.parametrize("text", ["\v\f", "#\x00\n", "\r", "# c\x7f\n"], ids=repr)
def test_a_project_file_that_is_not_toml_is_not_taken_for_an_empty_one(
    text: str, tree: Path, run_cli: RunCli
) -> None:
    (tree / "exportspec.toml").write_text(text)
    result = run_cli(["validate"])
    assert result.exit_code == 3, result.explain()
    assert "TOML syntax error" in result.stderr


# --------------------------------------------------------------------------- undeclared vars


def _set_production_vars(tree: Path, line: str) -> Path:
    toml = tree / "exportspec.toml"
    toml.write_text(toml.read_text().replace("segment = 2", line))
    return toml


@pytest.mark.parametrize(
    "command",
    [
        ["validate"],
        ["validate", "specs/segment.yaml", "--output-format", "json"],
        ["compile", "specs/segment.yaml"],
        ["lock"],
        ["plan"],
        ["run", "specs/segment.yaml", "--dry-run"],
    ],
    ids=" ".join,
)
def test_an_environment_variable_no_spec_declares_is_a_warning_once(
    command: list[str], tree: Path, run_cli: RunCli
) -> None:
    toml = _set_production_vars(tree, "segmet = 2")
    if command[0] == "plan":
        assert run_cli(["lock"]).exit_code == 0
    result = run_cli(command)
    assert result.exit_code == 0, result.explain()  # a warning changes no exit code
    warning = (
        f"{toml}:17:1: warning: environment 'production' sets variable 'segmet', which no "
        "spec declares (did you mean 'segment'?) (at $.environments.production.vars.segmet)"
    )
    assert result.stderr.count(warning) == 1, result.explain()
    assert result.stderr.count("warning:") == 1, result.explain()


def test_an_undeclared_environment_variable_without_a_close_name_is_named(
    tree: Path, run_cli: RunCli
) -> None:
    (tree / "exportspec.toml").write_text(
        "[environments.dev]\nvars = { segment = 1, colour = 'red' }\n"
    )
    result = run_cli(["validate"])
    assert result.exit_code == 0, result.explain()
    assert result.stderr == (
        f"{tree / 'exportspec.toml'}:2:23: warning: environment 'dev' sets variable 'colour', "
        "which no spec declares (at $.environments.dev.vars.colour)\n"
    )


def test_one_spec_checked_does_not_warn_about_another_specs_variables(
    tree: Path, run_cli: RunCli
) -> None:
    # `segment` and `zone` are declared by segment.yaml only; everyone.toml declares none.
    for command in (["validate", "specs/everyone.toml"], ["compile", "specs/everyone.toml"]):
        result = run_cli([*command, "--env", "production"])
        assert result.exit_code == 0, result.explain()
        assert "warning" not in result.stderr, result.explain()


def test_a_spec_outside_the_spec_roots_declares_for_itself(tree: Path, run_cli: RunCli) -> None:
    _set_production_vars(tree, "segment = 2\nlimit = 5")
    (tree / "extra").mkdir()
    (tree / "extra" / "capped.yaml").write_text(
        "version: 1\nname: capped\nvars:\n  limit: {type: integer, default: 1}\n"
        "export: {format: csv}\n"
    )
    result = run_cli(["compile", "extra/capped.yaml"])
    assert result.exit_code == 0, result.explain()
    assert "warning" not in result.stderr
    result = run_cli(["validate"])  # the spec roots alone: nothing there declares `limit`
    assert "sets variable 'limit', which no spec declares" in result.stderr


def test_no_warning_while_a_spec_under_the_roots_does_not_load(tree: Path, run_cli: RunCli) -> None:
    _set_production_vars(tree, "segmet = 2")
    (tree / "specs" / "broken.yaml").write_text("version: 1\nname: [\n")
    result = run_cli(["compile", "specs/segment.yaml"])
    assert result.exit_code == 0, result.explain()
    assert "warning" not in result.stderr


def test_an_environment_value_failing_a_variable_format_points_into_the_project_file(
    tree: Path, run_cli: RunCli
) -> None:
    spec = tree / "specs" / "segment.yaml"
    spec.write_text(
        spec.read_text().replace(
            "  zone: {type: string, default: Europe/Bratislava}\n",
            "  zone: {type: string, default: Europe/Bratislava}\n"
            "  since: {type: string, format: date-time, default: '2026-01-01T00:00:00Z'}\n",
        )
    )
    toml = _set_production_vars(tree, "segment = 2\nsince = 2026-01-01")
    result = run_cli(["validate", "--env", "production", "--output-format", "json"])
    assert result.exit_code == 1, result.explain()
    (diagnostic,) = [d for s in json.loads(result.stdout)["specs"] for d in s["diagnostics"]]
    assert (diagnostic["file"], diagnostic["line"], diagnostic["column"]) == (str(toml), 18, 9)
    assert diagnostic["message"] == (
        "variable 'since' from environment 'production': '2026-01-01' is not a 'date-time'"
    )


# --- the output root -------------------------------------------------------------------


def _project_with(tree: Path, text: str) -> Path:
    toml = tree / "exportspec.toml"
    toml.write_text(toml.read_text().replace("[project]\n", f"[project]\n{text}\n", 1))
    return toml


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("output_root = 1", "is not of type 'string'"),
        ('output_root = ""', "should be non-empty"),
        ('output_root = "a\\u0000b"', "output_root"),
    ],
)
def test_a_bad_output_root_is_a_located_configuration_error(
    tree: Path, run_cli: RunCli, line: str, message: str
) -> None:
    toml = _project_with(tree, line)
    result = run_cli(["validate"])
    assert result.exit_code == 3, result.explain()
    assert f"{toml}:2:15: error:" in result.stderr
    assert message in result.stderr


def test_the_output_root_resolves_by_precedence_relative_to_its_source(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportspec.gitops.project import load_project, output_root

    toml = _project_with(tree, 'output_root = "out"')
    toml.write_text(toml.read_text() + '\n[environments.local]\noutput_root = "../shared"\n')
    (tree / "specs" / "sub").mkdir()
    monkeypatch.chdir(tree / "specs" / "sub")
    project = load_project(Path.cwd())
    here = Path.cwd()
    assert output_root(project, None, environ={}) == str(tree / "out")
    assert output_root(project, "local", environ={}) == str(tree.parent / "shared")
    environ = {"EXPORTSPEC_OUTPUT_ROOT": "from-env"}
    assert output_root(project, "local", environ=environ) == str(here / "from-env")
    assert output_root(project, "local", "flag", environ) == str(here / "flag")
    assert output_root(project, "local", "/abs/root", environ) == "/abs/root"
    assert output_root(load_project(tree.parent), None, environ={}) == str(here)


# --- folder searches stay inside the folder searched -----------------------------------

SECRET_SPEC = (
    'version: 1\nname: "TOPSECRET-7788"\n'
    'export: {format: csv, attributes: {type: some, list: [{type: id, id: "ALSO-99"}]}}\n'
)


@pytest.fixture
def outside(tree: Path) -> Path:
    """A folder beside the repository holding a spec whose errors would echo its values."""
    folder = tree.parent / "outside"
    folder.mkdir()
    (folder / "secret.yaml").write_text(SECRET_SPEC)
    return folder


@pytest.mark.parametrize("command", [["validate"], ["validate", "specs"], ["lock"]])
def test_a_symlink_leaving_the_spec_root_is_not_followed(
    tree: Path, outside: Path, run_cli: RunCli, command: list[str]
) -> None:
    (tree / "specs" / "leak.yaml").symlink_to(outside / "secret.yaml")
    (tree / "specs" / "shared").symlink_to(outside)
    result = run_cli(command)
    assert result.exit_code == 0, result.explain()
    assert "TOPSECRET" not in result.stdout + result.stderr
    assert "ALSO-99" not in result.stdout + result.stderr
    if command == ["lock"]:
        lock = json.loads((tree / "exportspec.lock").read_text())
        assert sorted(lock["specs"]) == ["daily", "everyone", "segment"]


def test_a_relative_symlink_climbing_out_is_not_followed_either(
    tree: Path, outside: Path, run_cli: RunCli
) -> None:
    (tree / "specs" / "deep").mkdir()
    (outside / "secret.toml").write_text('version = 1\nname = "TOPSECRET-7788"\n')
    (tree / "specs" / "deep" / "leak.toml").symlink_to(Path("../../../outside/secret.toml"))
    assert (tree / "specs" / "deep" / "leak.toml").is_file()
    result = run_cli(["validate", "--output-format", "json"])
    assert result.exit_code == 0, result.explain()
    assert "TOPSECRET" not in result.stdout + result.stderr
    paths = [s["path"] for s in json.loads(result.stdout)["specs"]]
    assert not any("leak" in p for p in paths)


def test_symlinks_inside_the_spec_root_still_work(tree: Path, run_cli: RunCli) -> None:
    hidden = tree / "specs" / ".shared"
    hidden.mkdir()
    (tree / "specs" / "daily.yaml").rename(hidden / "daily.yaml")
    (tree / "specs" / "daily.yaml").symlink_to(Path(".shared/daily.yaml"))
    (tree / "specs" / "same-segment.yaml").symlink_to("segment.yaml")  # one spec, once
    result = run_cli(["validate", "--output-format", "json"])
    assert result.exit_code == 0, result.explain()
    names = sorted(Path(s["path"]).name for s in json.loads(result.stdout)["specs"])
    assert len(names) == 3 and names[:2] == ["daily.yaml", "everyone.toml"], names


def test_a_file_or_root_named_explicitly_is_taken_wherever_it_points(
    tree: Path, outside: Path, run_cli: RunCli
) -> None:
    (outside / "secret.yaml").write_text(
        (tree / "specs" / "daily.yaml").read_text().replace("name: daily", "name: elsewhere")
    )
    (tree / "linked").symlink_to(outside)
    for target in ("linked", "linked/secret.yaml"):
        result = run_cli(["validate", target])
        assert result.exit_code == 0, result.explain()
        assert "1 spec(s) valid" in result.stdout
