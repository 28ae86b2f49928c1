"""The one error boundary: usage errors look alike, --traceback adds detail, never a code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunCli

INVALID = "version: 1\nname: bad\nexport:\n  format: xml\n"


@pytest.mark.parametrize(
    "args",
    [
        ["run", "{spec}", "--sandbox", "--base-url", "http://127.0.0.1:1"],  # ours
        ["run", "{spec}", "--retries", "-1"],  # click's
        ["schema", "--editor", "--body"],  # ours
    ],
    ids=["sandbox-and-base-url", "bad-retries", "editor-and-body"],
)
def test_every_usage_error_has_the_same_shape(
    run_cli: RunCli, tmp_path: Path, args: list[str]
) -> None:
    spec = tmp_path / "ok.yaml"
    spec.write_text("version: 1\nname: ok\nexport:\n  format: csv\n", encoding="utf-8")
    result = run_cli([arg.format(spec=spec) for arg in args])
    assert result.exit_code == 2, result.explain()
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Usage: exportspec {args[0]} ")
    assert any(line.startswith("Try 'exportspec ") for line in lines)
    assert lines[-1].startswith("Error: ")


@pytest.mark.parametrize("traceback", [False, True])
def test_an_expected_error_never_shows_a_traceback(
    run_cli: RunCli, tmp_path: Path, traceback: bool
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(INVALID, encoding="utf-8")
    flags = ["--traceback"] if traceback else []
    result = run_cli([*flags, "compile", str(spec)])
    assert result.exit_code == 1
    assert "bad.yaml:4:11: error:" in result.stderr
    assert "Traceback (most recent call last)" not in result.stderr


@pytest.mark.parametrize("traceback", [False, True])
def test_an_unexpected_error_is_one_line_unless_asked(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, traceback: bool
) -> None:
    import exportspec.spec.pipeline

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(exportspec.spec.pipeline, "compile_spec", broken)
    spec = tmp_path / "ok.yaml"
    spec.write_text("version: 1\nname: ok\nexport:\n  format: csv\n", encoding="utf-8")
    result = run_cli([*(["--traceback"] if traceback else []), "compile", str(spec)])
    assert result.exit_code == 1
    assert "Error: internal error: RuntimeError: a bug" in result.stderr
    assert ("Traceback (most recent call last)" in result.stderr) is traceback


def test_traceback_is_in_the_help(run_cli: RunCli) -> None:
    assert "--traceback" in run_cli(["--help"]).stdout
