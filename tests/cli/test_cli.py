"""The command line: version, help, exit codes, output formats, no tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from exportspec import __version__
from exportspec.cli.app import COMMAND_BY_NAME
from tests.conftest import RunCli

VALID = "version: 1\nname: ok\nexport:\n  format: csv\n"
INVALID = "version: 1\nname: bad\nexport:\n  format: xml\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_version(run_cli: RunCli) -> None:
    result = run_cli(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"exportspec, version {__version__}"


@pytest.mark.parametrize("command", sorted(COMMAND_BY_NAME))
def test_every_command_has_help(command: str, run_cli: RunCli) -> None:
    result = run_cli([command, "--help"])
    assert result.exit_code == 0, result.explain()
    assert "Usage: " in result.stdout and len(result.stdout) > 300


def test_group_help_lists_every_command_and_the_exit_codes(run_cli: RunCli) -> None:
    result = run_cli(["--help"])
    assert result.exit_code == 0
    for name in COMMAND_BY_NAME:
        assert f"  {name} " in result.stdout
    assert "130 interrupted" in result.stdout


def _imported_modules(*args: str) -> set[str]:
    code = (
        "import sys\nfrom exportspec.cli import main\n"
        f"try:\n    main({list(args)!r})\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize("args", [("--version",), ("--help",)])
def test_version_and_help_import_nothing_heavy(args: tuple[str, ...]) -> None:
    modules = _imported_modules(*args)
    assert not {"jsonschema", "requests", "jinja2", "yaml", "urllib3"} & modules


def test_validate_never_imports_the_http_stack(tmp_path: Path) -> None:
    spec = _write(tmp_path, "a.yaml", VALID)
    modules = _imported_modules("validate", str(spec))
    assert "jsonschema" in modules
    assert not {"requests", "urllib3", "fsspec", "s3fs", "botocore"} & modules


def test_exit_code_0_for_valid_specs(tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli(["validate", str(_write(tmp_path, "a.yaml", VALID))])
    assert result.exit_code == 0, result.explain()
    assert result.stdout == "1 spec(s) valid\n"


def test_exit_code_1_and_located_text_for_invalid_specs(tmp_path: Path, run_cli: RunCli) -> None:
    spec = _write(tmp_path, "a.yaml", INVALID)
    result = run_cli(["validate", str(spec)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        f"{spec}:4:11: error: 'xml' is not one of 'csv', 'table_json', 'native_json'"
        " (at $.export.format)"
    )


def test_exit_code_2_for_usage_errors(tmp_path: Path, run_cli: RunCli) -> None:
    spec = _write(tmp_path, "a.yaml", VALID)
    assert run_cli(["validate", str(spec), "--output-format", "xml"]).exit_code == 2
    assert run_cli(["validate", str(tmp_path / "missing.yaml")]).exit_code == 2
    undeclared = run_cli(["validate", str(spec), "--var", "nope=1"])
    assert undeclared.exit_code == 2
    assert "'nope'" in undeclared.stderr
    bad_now = run_cli(["compile", str(spec), "--now", "yesterday"])
    assert bad_now.exit_code == 2
    assert "--now 'yesterday'" in bad_now.stderr


def test_validate_reports_every_file_in_one_run(tmp_path: Path, run_cli: RunCli) -> None:
    _write(tmp_path, "a.yaml", INVALID)
    _write(tmp_path, "b.toml", 'version = 1\nname = "b"\n[export]\nformat = "pdf"\n')
    _write(tmp_path, "c.yml", "version: 1\nname: c\nexport: {format: csv}\n")
    _write(tmp_path, "notes.txt", "not a spec")
    result = run_cli(["validate", str(tmp_path), "--output-format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["version"] == 1
    assert report["summary"] == {"specs": 3, "invalid": 2, "errors": 2, "warnings": 0}
    assert [Path(s["path"]).name for s in report["specs"]] == ["a.yaml", "b.toml", "c.yml"]
    line_b = report["specs"][1]["diagnostics"][0]
    assert (line_b["line"], line_b["column"]) == (4, 10)


def test_github_annotations(tmp_path: Path, run_cli: RunCli) -> None:
    spec = _write(tmp_path, "a.yaml", INVALID)
    result = run_cli(["validate", str(spec), "--output-format", "github"])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith(f"::error file={spec},line=4,col=11::'xml'")


def test_validate_defaults_to_the_specs_folder(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = run_cli(["validate"])
    assert missing.exit_code == 2
    assert "default spec root 'specs' does not exist here (no exportspec.toml found)" in (
        missing.stderr
    )
    (tmp_path / "specs").mkdir()
    _write(tmp_path / "specs", "a.yaml", VALID)
    assert run_cli(["validate"]).exit_code == 0


def test_compile_writes_canonical_json_to_a_file(tmp_path: Path, run_cli: RunCli) -> None:
    spec = _write(
        tmp_path,
        "a.yaml",
        "version: 1\nname: a\nexport:\n  timezone: UTC\n  format: csv\n  filter: {type: all}\n",
    )
    out = tmp_path / "out" / "body.json"
    result = run_cli(["compile", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.explain()
    # Exactly the bytes `run` sends: no trailing newline, in a file or on a pipe.
    body = b'{"filter":{"type":"all"},"format":"csv","timezone":"UTC"}'
    assert out.read_bytes() == body
    assert run_cli(["compile", str(spec)]).stdout_bytes == body


def test_compile_to_an_unwritable_path_is_a_configuration_error(
    tmp_path: Path, run_cli: RunCli
) -> None:
    spec = _write(tmp_path, "a.yaml", VALID)
    out = tmp_path / "a.yaml" / "body.json"  # a folder that cannot exist: a.yaml is a file
    result = run_cli(["compile", str(spec), "-o", str(out)])
    assert result.exit_code == 3, result.explain()
    assert "Traceback" not in result.stderr
    assert f"cannot write {out}" in result.stderr


def test_compile_of_an_invalid_spec_prints_diagnostics_on_stderr(
    tmp_path: Path, run_cli: RunCli
) -> None:
    spec = _write(tmp_path, "a.yaml", INVALID)
    result = run_cli(["compile", str(spec)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"{spec}:4:11: error:" in result.stderr


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "exportspec", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and __version__ in out.stdout


def test_no_traceback_for_a_binary_file(tmp_path: Path) -> None:
    spec = tmp_path / "a.yaml"
    spec.write_bytes(b"\x00\xff\xfe garbage \x80")
    out = subprocess.run(
        [sys.executable, "-m", "exportspec", "validate", str(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout
    assert "not valid UTF-8" in out.stdout


@pytest.mark.parametrize("output_format", ["json", "github", "sarif"])
def test_a_broken_vars_file_is_in_the_machine_report(
    tmp_path: Path, run_cli: RunCli, output_format: str
) -> None:
    spec = _write(tmp_path, "ok.yaml", VALID)
    broken = _write(tmp_path, "vars.yaml", "segment: [1\n")
    result = run_cli(
        ["validate", str(spec), "--vars-file", str(broken), "--output-format", output_format]
    )
    assert result.exit_code == 1, result.explain()
    assert "vars.yaml" in result.stdout
    if output_format == "json":
        (entry,) = json.loads(result.stdout)["specs"]
        (diagnostic,) = entry["diagnostics"]
        assert (diagnostic["line"], diagnostic["column"]) == (2, 1)
    if output_format == "github":
        assert "line=2,col=1" in result.stdout


def test_schema_editor_and_body_exclude_each_other(run_cli: RunCli) -> None:
    result = run_cli(["schema", "--editor", "--body"])
    assert result.exit_code == 2
    assert "exclude each other" in result.stderr


def test_an_undeclared_var_says_when_nothing_is_declared(tmp_path: Path, run_cli: RunCli) -> None:
    spec = _write(tmp_path, "a.yaml", VALID)
    result = run_cli(["compile", str(spec), "--var", "segment=1"])
    assert result.exit_code == 2
    assert "undeclared variable(s) 'segment'; no spec declares any" in result.stderr


def _option_help(run_cli: RunCli, command: str, option: str) -> str | None:
    """The help of `option` in `exportspec COMMAND --help`, on one line; None if absent."""
    result = run_cli([command, "--help"])
    assert result.exit_code == 0, result.explain()
    entries = re.split(r"\n  (?=-)", result.stdout.split("\nOptions:\n", 1)[1])
    for entry in entries:
        names, _, help_text = entry.strip().partition("  ")
        if option in names.replace(",", " ").split():
            return " ".join(help_text.split())
    return None


@pytest.mark.parametrize("command", sorted(COMMAND_BY_NAME))
def test_env_help_says_what_the_environment_gives_this_command(
    command: str, run_cli: RunCli
) -> None:
    env_help = _option_help(run_cli, command, "--env")
    if env_help is None:
        return
    assert "vars" in env_help and "default_environment" in env_help
    # No other command's behaviour, and connection settings only where the command connects.
    assert not re.search(rf"`({'|'.join(COMMAND_BY_NAME)})`", env_help), env_help
    connects = _option_help(run_cli, command, "--base-url") is not None
    assert ("base_url" in env_help) == connects, env_help
    assert ("project_token" in env_help) == connects, env_help


def test_schema_summary_and_help_say_editors_need_the_editor_variant(
    run_cli: RunCli, tmp_path: Path
) -> None:
    group = " ".join(run_cli(["--help"]).stdout.split())
    summary = group.split(" schema ", 1)[1].split(" sandbox ", 1)[0]
    assert "--editor" in summary and "editors" in summary, summary
    help_text = " ".join(run_cli(["schema", "--help"]).stdout.split())
    assert "With --editor" in help_text and "point your editor at that one" in help_text
    # Which is true: a templated value fails the plain schema and passes the editor one.
    from jsonschema import Draft202012Validator

    from exportspec.spec.load import load_document

    spec = load_document(Path(__file__).parents[2] / "specs" / "vip-segment.yaml").data
    plain, editor = (json.loads(run_cli(["schema", *flag]).stdout) for flag in ([], ["--editor"]))
    assert not Draft202012Validator(plain).is_valid(spec)
    assert Draft202012Validator(editor).is_valid(spec)
