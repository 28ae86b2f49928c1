"""`exportspec.api`: the CLI's results in-process, typed variables, errors with exit codes,
off the main thread, and silent."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from exportspec import api
from exportspec.sandbox import running_sandbox
from tests.api.conftest import example, executor_spec
from tests.conftest import RunCli

NOW = "2026-01-31T00:00:00Z"

ARRAY_SPEC = """\
version: 1
name: typed
vars:
  segment: {type: integer, default: 0}
  share: {type: number, default: 0.5}
  emails: {type: array, items: {type: string}, default: []}
  strict: {type: boolean, default: false}
export:
  format: csv
  filter:
    type: segment
    segmentation_id: 606488856f8cf6f848b20af8
    segment_index: "{{ segment }}"
  attributes:
    type: some
    list:
      - {type: property, property: email}
output:
  path: "out/{{ emails | length }}-{{ strict }}-{{ share }}.csv"
"""


def _typed_spec(folder: Path) -> Path:
    spec = folder / "typed.yaml"
    spec.write_text(ARRAY_SPEC)
    return spec


# --- the same results as the CLI --------------------------------------------------------


def test_compile_spec_is_what_exportspec_compile_prints(tmp_path: Path, run_cli: RunCli) -> None:
    spec = example("vip-segment.yaml", tmp_path)
    cli = run_cli(["compile", str(spec), "--var", "segment=1", "--now", NOW])
    assert cli.exit_code == 0, cli.explain()
    compiled = api.compile_spec(spec, vars={"segment": 1}, now=NOW)
    assert compiled.body_bytes == cli.stdout_bytes
    assert compiled.sha256 == hashlib.sha256(cli.stdout_bytes).hexdigest()
    assert compiled.body == json.loads(cli.stdout_bytes)
    assert compiled.body["filter"]["segment_index"] == 1
    assert compiled.name == "vip-segment"
    assert compiled.output_path == Path("exports/vip-segment-1.csv")
    assert compiled.now == dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    assert compiled.variables["segment"] == 1


def test_now_as_a_datetime_is_now_as_a_string(tmp_path: Path) -> None:
    spec = example("weekly-snapshot.toml", tmp_path)
    as_text = api.compile_spec(spec, now="2026-01-31T01:00:00+01:00")
    aware = api.compile_spec(spec, now=dt.datetime(2026, 1, 31, tzinfo=dt.UTC))
    naive = api.compile_spec(spec, now=dt.datetime(2026, 1, 31))  # naive means UTC
    assert as_text.body_bytes == aware.body_bytes == naive.body_bytes
    assert aware.now == naive.now == dt.datetime(2026, 1, 31, tzinfo=dt.UTC)


def test_run_spec_exports_what_exportspec_run_exports(tmp_path: Path, run_cli: RunCli) -> None:
    spec = example("vip-segment.yaml", tmp_path)
    cli = run_cli(
        ["run", str(spec), "--sandbox", "-q", "--var", "segment=1", "--now", NOW, "-o", "cli.csv"]
    )
    assert cli.exit_code == 0, cli.explain()
    result = api.run_spec(spec, vars={"segment": 1}, now=NOW, sandbox=True, output="api.csv")
    cli_record = json.loads(Path("cli.csv.run.json").read_text())
    api_record = json.loads(Path("api.csv.run.json").read_text())
    assert result.output == Path("api.csv")
    assert result.record == Path("api.csv.run.json")
    assert Path("api.csv").read_bytes() == Path("cli.csv").read_bytes()
    assert result.sha256 == cli_record["output"]["sha256"] == api_record["output"]["sha256"]
    assert result.rows == cli_record["output"]["rows"] == api_record["output"]["rows"] > 0
    assert result.bytes == cli_record["output"]["bytes"] == Path("api.csv").stat().st_size
    assert result.body_sha256 == api.compile_spec(spec, vars={"segment": 1}, now=NOW).sha256
    assert api_record["request"]["body"] == cli_record["request"]["body"]
    assert result.attempts == 1
    assert result.status == 200
    assert result.name == "vip-segment"
    assert result.finished_at >= result.started_at


def test_run_spec_places_the_output_as_exportspec_run_does(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec's output.path under the output root, the record beside it: the same paths."""
    for folder in ("cli", "api"):
        (tmp_path / folder).mkdir()
        executor_spec("with-output.yaml", tmp_path / folder)
    monkeypatch.chdir(tmp_path / "cli")
    cli = run_cli(["run", "with-output.yaml", "--sandbox", "-q", "--var", "segment=2"])
    assert cli.exit_code == 0, cli.explain()
    monkeypatch.chdir(tmp_path / "api")
    result = api.run_spec("with-output.yaml", vars={"segment": 2}, sandbox=True)
    assert result.output == Path("out/with-output-2.csv")
    assert result.record == Path("out/with-output-2.csv.run.json")
    assert (tmp_path / "cli" / result.output).read_bytes() == result.output.read_bytes()
    assert (tmp_path / "cli" / result.record).is_file()


def test_output_root_places_the_spec_output(tmp_path: Path) -> None:
    spec = executor_spec("with-output.yaml", tmp_path)
    result = api.run_spec(spec, sandbox=True, output_root=tmp_path / "root")
    assert result.output == Path("root/out/with-output-0.csv")
    assert result.output.is_file()


def test_env_selects_an_environment_of_exportspec_toml(tmp_path: Path, run_cli: RunCli) -> None:
    spec = example("vip-segment.yaml", tmp_path)
    (tmp_path / "exportspec.toml").write_text(
        '[project]\nspec_roots = ["."]\n\n[environments.prod.vars]\nsegment = 2\n'
    )
    cli = run_cli(["compile", str(spec), "--env", "prod", "--now", NOW])
    assert cli.exit_code == 0, cli.explain()
    compiled = api.compile_spec(spec, env="prod", now=NOW)
    assert compiled.body_bytes == cli.stdout_bytes
    assert compiled.body["filter"]["segment_index"] == 2
    # vars beat the environment's, as --var does
    assert (
        api.compile_spec(spec, env="prod", vars={"segment": 3}).body["filter"]["segment_index"] == 3
    )
    with pytest.raises(api.ConfigError) as caught:
        api.compile_spec(spec, env="staging")
    assert caught.value.exit_code == 3
    assert "unknown environment 'staging'" in str(caught.value)
    with pytest.raises(api.UsageError) as refused:
        api.compile_spec(spec, env="")  # not the default environment, quietly
    assert refused.value.exit_code == 2
    assert "env='' is not an environment name" in str(refused.value)


def test_warnings_name_environment_variables_no_spec_declares(tmp_path: Path) -> None:
    spec = example("vip-segment.yaml", tmp_path)
    (tmp_path / "exportspec.toml").write_text(
        '[project]\nspec_roots = ["."]\ndefault_environment = "prod"\n\n'
        "[environments.prod.vars]\nsegmnt = 2\n"
    )
    (compiled_warning,) = api.compile_spec(spec).warnings
    (run_warning,) = api.run_spec(spec, sandbox=True).warnings
    assert compiled_warning == run_warning
    assert compiled_warning.severity == "warning"
    assert "did you mean 'segment'?" in compiled_warning.message


# --- typed variables --------------------------------------------------------------------


def test_typed_vars_of_every_json_type(tmp_path: Path) -> None:
    spec = _typed_spec(tmp_path)
    compiled = api.compile_spec(
        spec, vars={"segment": 2, "share": 1, "emails": ("a@example.com",), "strict": True}
    )
    assert compiled.body["filter"]["segment_index"] == 2
    assert compiled.output_path == Path("out/1-True-1.csv")
    assert compiled.variables["emails"] == ["a@example.com"]  # a tuple is a list


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"segment": "1"}, "'1' is not of type 'integer'"),  # not converted, as --var is
        ({"segment": True}, "True is not of type 'integer'"),
        ({"segment": 1.5}, "1.5 is not of type 'integer'"),
        ({"strict": "true"}, "'true' is not of type 'boolean'"),
        ({"emails": "a@example.com"}, "is not of type 'array'"),
        ({"emails": [1]}, "1 is not of type 'string'"),
        ({"share": "0.5"}, "'0.5' is not of type 'number'"),
        ({"share": float("nan")}, "nan is not a finite number"),
        ({"emails": [dt.date(2026, 1, 1)]}, "a date is not a JSON value"),
        ({"emails": {1: "x"}}, "the key 1 is not a str"),
    ],
)
def test_a_value_of_the_wrong_type_is_an_error_naming_the_variable(
    tmp_path: Path, values: dict[str, Any], expected: str
) -> None:
    spec = _typed_spec(tmp_path)
    (name,) = values
    with pytest.raises(api.SpecInvalidError) as caught:
        api.compile_spec(spec, vars=values)
    error = caught.value
    assert error.exit_code == 1
    assert isinstance(error, api.ExportspecError)
    (diagnostic,) = error.diagnostics
    assert isinstance(diagnostic, api.Diagnostic)
    assert diagnostic.message.startswith(f"variable {name!r} from the vars argument: ")
    assert expected in diagnostic.message
    assert diagnostic.json_path == ("vars", name)
    assert diagnostic.file == str(spec)
    # run_spec checks before anything is sent: no sandbox, no credentials needed
    with pytest.raises(api.SpecInvalidError):
        api.run_spec(spec, vars=values)


def test_every_wrong_value_is_reported_at_once(tmp_path: Path) -> None:
    spec = _typed_spec(tmp_path)
    with pytest.raises(api.SpecInvalidError) as caught:
        api.compile_spec(spec, vars={"segment": "x", "strict": 1})
    names = sorted(d.json_path[1] for d in caught.value.diagnostics)
    assert names == ["segment", "strict"]


def test_a_declared_constraint_is_checked(tmp_path: Path) -> None:
    spec = example("vip-segment.yaml", tmp_path)
    with pytest.raises(api.SpecInvalidError) as caught:
        api.compile_spec(spec, vars={"segment": -2})  # minimum: -1
    (diagnostic,) = caught.value.diagnostics
    assert "'segment'" in diagnostic.message
    assert "minimum" in diagnostic.message
    assert diagnostic.position is not None  # at the declaration


def test_an_undeclared_variable_is_a_usage_error(tmp_path: Path) -> None:
    spec = example("vip-segment.yaml", tmp_path)
    with pytest.raises(api.UsageError) as caught:
        api.compile_spec(spec, vars={"segmnt": 1})
    assert caught.value.exit_code == 2
    assert "the vars argument sets undeclared variable(s) 'segmnt'" in str(caught.value)


# --- errors carry exit codes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "error", "code", "words"),
    [
        ({"base_url": "ftp://example.com"}, api.ConfigError, 3, "not an http(s) URL"),
        ({"base_url": "https://example.com"}, api.ConfigError, 3, "no API credentials"),
        ({"now": "yesterday"}, api.UsageError, 2, "now='yesterday'"),
        ({"now": 20260131}, api.UsageError, 2, "now must be a datetime"),
        ({"output": "-"}, api.UsageError, 2, "stdout"),
        ({"output": "x.csv", "output_root": "r"}, api.UsageError, 2, "output_root places"),
        ({"retries": -1}, api.UsageError, 2, "retries=-1"),
        ({"retries": True}, api.UsageError, 2, "retries must be an int"),
        ({"timeout": 0}, api.UsageError, 2, "timeout=0"),
        ({"deadline": float("inf")}, api.UsageError, 2, "deadline=inf"),
        ({"sandbox": True, "base_url": "http://127.0.0.1:1"}, api.UsageError, 2, "sandbox="),
    ],
)
def test_errors_before_sending_carry_exit_codes(
    tmp_path: Path,
    arguments: dict[str, Any],
    error: type[api.ExportspecError],
    code: int,
    words: str,
) -> None:
    spec = example("all-customers.yaml", tmp_path)
    with pytest.raises(error) as caught:
        api.run_spec(spec, **arguments)
    assert caught.value.exit_code == code
    assert words in str(caught.value)
    assert not list(tmp_path.rglob("*.csv*"))


def test_a_missing_project_token_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = example("all-customers.yaml", tmp_path)
    monkeypatch.setenv("EXPORTSPEC_API_KEY_ID", "key")
    monkeypatch.setenv("EXPORTSPEC_API_SECRET", "secret")
    with pytest.raises(api.ConfigError) as caught:
        api.run_spec(spec, base_url="http://127.0.0.1:9")
    assert caught.value.exit_code == 3
    assert "no project token" in str(caught.value)


@pytest.mark.parametrize("path", ["missing.yaml", "."])
def test_a_spec_that_is_not_a_file_is_a_usage_error(tmp_path: Path, path: str) -> None:
    with pytest.raises(api.UsageError) as caught:
        api.compile_spec(path)
    assert caught.value.exit_code == 2


def test_an_invalid_spec_carries_its_diagnostics(tmp_path: Path) -> None:
    spec = executor_spec("invalid.yaml", tmp_path)
    with pytest.raises(api.SpecInvalidError) as caught:
        api.run_spec(spec, sandbox=True)
    assert caught.value.exit_code == 1
    assert caught.value.diagnostics
    assert all(d.file == str(spec) for d in caught.value.diagnostics)


@pytest.mark.parametrize(
    ("faults", "error", "code"),
    [(["success-false"], api.RefusedError, 4), (["503x3"], api.TransientError, 5)],
)
def test_failures_after_sending_carry_exit_codes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    faults: list[str],
    error: type[api.ExportspecError],
    code: int,
) -> None:
    spec = example("all-customers.yaml", tmp_path)
    with running_sandbox(customers=50, fail=faults) as sandbox:
        monkeypatch.setenv("EXPORTSPEC_API_KEY_ID", sandbox.api_key_id)
        monkeypatch.setenv("EXPORTSPEC_API_SECRET", sandbox.api_secret)
        with pytest.raises(error) as caught:
            api.run_spec(
                spec,
                base_url=sandbox.base_url,
                project_token=sandbox.project_token,
                output="out.csv",
                retries=1,
            )
        assert sandbox.request_count == (1 if code == 4 else 2)
    assert caught.value.exit_code == code
    assert not list(tmp_path.glob("out.csv*"))
    assert not list(tmp_path.glob(".*.part"))


def test_credentials_and_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = example("all-customers.yaml", tmp_path)
    with running_sandbox(customers=20, fail=["503x1"]) as sandbox:
        monkeypatch.setenv("EXPORTSPEC_BASE_URL", sandbox.base_url)
        monkeypatch.setenv("EXPORTSPEC_PROJECT_TOKEN", sandbox.project_token)
        monkeypatch.setenv("EXPORTSPEC_API_KEY_ID", sandbox.api_key_id)
        monkeypatch.setenv("EXPORTSPEC_API_SECRET", sandbox.api_secret)
        monkeypatch.setenv("EXPORTSPEC_RETRIES", "0")
        with pytest.raises(api.TransientError):  # EXPORTSPEC_RETRIES applies
            api.run_spec(spec, output="out.csv")
        result = api.run_spec(spec, output="out.csv", retries=0)  # the 503 is spent
    assert result.rows == 20
    assert result.attempts == 1
    record = json.loads(Path("out.csv.run.json").read_text())
    assert record["request"]["url"].startswith(sandbox.base_url)


# --- safe inside another program --------------------------------------------------------


def test_run_spec_works_from_threads(tmp_path: Path) -> None:
    """Airflow runs tasks off the main thread, where `signal.signal` raises."""
    spec = executor_spec("with-output.yaml", tmp_path)
    results: dict[int, api.RunResult] = {}
    errors: list[BaseException] = []

    def work(segment: int) -> None:
        try:
            results[segment] = api.run_spec(spec, vars={"segment": segment}, sandbox=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(results) == [0, 1, 2]
    for segment, result in results.items():
        assert result.output == Path(f"out/with-output-{segment}.csv")
        assert isinstance(result.output, Path) and result.output.is_file()
        assert isinstance(result.record, Path) and result.record.is_file()


def test_no_signal_handler_is_installed(tmp_path: Path) -> None:
    spec = example("all-customers.yaml", tmp_path)
    watched = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE]
    before = [signal.getsignal(s) for s in watched]
    api.run_spec(spec, sandbox=True)
    with pytest.raises(api.ConfigError):
        api.run_spec(spec, base_url="nope")
    assert [signal.getsignal(s) for s in watched] == before


def test_nothing_is_printed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = executor_spec("with-output.yaml", tmp_path)
    api.compile_spec(spec, vars={"segment": 1})
    api.run_spec(spec, vars={"segment": 1}, sandbox=True)
    for wrong in ({"segment": "1"}, {"nope": 1}):
        with pytest.raises(api.ExportspecError):
            api.run_spec(spec, vars=wrong, sandbox=True)
    with pytest.raises(api.ConfigError):
        api.run_spec(spec, base_url="ftp://x")
    monkeypatch.setenv("EXPORTSPEC_API_KEY_ID", "sandbox")
    monkeypatch.setenv("EXPORTSPEC_API_SECRET", "sandbox")
    with running_sandbox(customers=5, fail=["503x2"]) as sandbox:
        with pytest.raises(api.TransientError):  # retry notes are not printed either
            api.run_spec(spec, base_url=sandbox.base_url, project_token="sandbox", retries=1)
        api.run_spec(spec, base_url=sandbox.base_url, project_token="sandbox")
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_importing_and_running_the_api_loads_no_click(tmp_path: Path) -> None:
    spec = example("all-customers.yaml", tmp_path)
    code = (
        "import sys\n"
        "from exportspec import api\n"
        f"api.compile_spec({str(spec)!r})\n"
        f"result = api.run_spec({str(spec)!r}, sandbox=True, output='x.csv')\n"
        "assert result.rows > 0, result\n"
        "assert 'click' not in sys.modules, 'click was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_results_are_frozen(tmp_path: Path) -> None:
    compiled = api.compile_spec(example("all-customers.yaml", tmp_path))
    with pytest.raises(AttributeError):
        compiled.sha256 = "x"  # type: ignore[misc]
    body = compiled.body
    body["format"] = "changed"
    assert compiled.body["format"] == "csv"  # a new dict each time
