"""`exportspec rerun`: the stored body, byte for byte, and a new record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.executor.conftest import Reply, ScriptServer, copy_spec


def first_run(run_cli: RunCli, server: ScriptServer, tmp_path: Path) -> Path:
    spec = copy_spec("with-output.yaml", tmp_path)
    result = run_cli(
        ["run", str(spec), "--var", "segment=3", "--now", "2026-03-01T00:00:00Z", "-q",
         "--base-url", server.base_url, "--project-token", "tok"]
    )  # fmt: skip
    assert result.exit_code == 0, result.explain()
    return tmp_path / "out" / "with-output-3.csv.run.json"


def test_rerun_sends_identical_bytes_and_writes_a_new_record(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    record = first_run(run_cli, server, tmp_path)
    old = json.loads(record.read_text())
    # The spec changes afterwards: rerun must not re-render it.
    (tmp_path / "with-output.yaml").write_text("version: 1\nname: changed\nexport: {format: csv}\n")
    server.script(Reply(body=b"id\n1\n2\n3\n"))
    result = run_cli(["rerun", str(record), "--use-record-url"])
    assert result.exit_code == 0, result.explain()
    first, second = server.requests
    assert second.body == first.body
    assert second.path == first.path == "/data/v2/projects/tok/customers/export"
    assert (tmp_path / "out" / "with-output-3.csv").read_bytes() == b"id\n1\n2\n3\n"
    new = json.loads(record.read_text())
    assert new["request"] == old["request"]
    assert (new["spec"], new["variables"], new["now"]) == (
        old["spec"],
        old["variables"],
        old["now"],
    )
    assert new["output"]["rows"] == 3
    assert new["rerun_of"]["record"] == record.as_posix()
    assert new["rerun_of"]["output_sha256"] == old["output"]["sha256"]
    assert new["started_at"] > old["started_at"]
    assert "not the same bytes as the replayed run's export" in result.stderr
    again = run_cli(["rerun", str(record), "--use-record-url"])  # answered as the last time
    assert again.exit_code == 0, again.explain()
    assert "; the same bytes as the replayed run's export" in again.stderr


def test_rerun_to_another_output_and_server(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    record = first_run(run_cli, server, tmp_path)
    other = ScriptServer()
    try:
        result = run_cli(
            ["rerun", str(record), "-o", "again.csv", "--base-url", other.base_url, "-q"]
        )
        assert result.exit_code == 0, result.explain()
        assert other.requests[0].body == server.requests[0].body
        assert other.requests[0].path == "/data/v2/projects/tok/customers/export"
    finally:
        other.close()
    assert (tmp_path / "again.csv.run.json").exists()


def test_rerun_refuses_an_edited_record(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    record = first_run(run_cli, server, tmp_path)
    data = json.loads(record.read_text())
    data["request"]["body"]["filter"]["segment_index"] = 4
    record.write_text(json.dumps(data))
    result = run_cli(["rerun", str(record)])
    assert result.exit_code == 1
    assert "edited or damaged" in result.stderr
    assert server.count == 1


def test_rerun_dry_run_shows_the_stored_body(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    record = first_run(run_cli, server, tmp_path)
    result = run_cli(["rerun", str(record), "--dry-run", "--use-record-url"])
    assert result.exit_code == 0, result.explain()
    assert server.requests[0].body.decode() in result.stdout.splitlines()
    assert server.count == 1


def test_rerun_of_a_sandbox_record_hints_at_sandbox(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = copy_spec("csv.yaml", tmp_path)
    assert run_cli(["run", str(spec), "--sandbox", "-q"]).exit_code == 0
    (record,) = tmp_path.rglob("*.run.json")
    result = run_cli(["rerun", str(record), "-q"])  # that sandbox's URL is not configured
    assert result.exit_code == 3, result.explain()
    assert "--sandbox for a record made with --sandbox" in result.stderr
    result = run_cli(["rerun", str(record), "-q", "--sandbox"])
    assert result.exit_code == 0, result.explain()


def test_rerun_sends_nothing_when_the_settings_point_elsewhere(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edited record must not choose where the credentials go."""
    record = first_run(run_cli, server, tmp_path)
    monkeypatch.setenv("EXPORTSPEC_BASE_URL", "https://api.example.invalid")
    monkeypatch.setenv("EXPORTSPEC_PROJECT_TOKEN", "tok")
    result = run_cli(["rerun", str(record)])
    assert result.exit_code == 3, result.explain()
    assert f"was sent to {server.base_url} with project token tok" in result.stderr
    assert "the current settings say https://api.example.invalid" in result.stderr
    assert "--use-record-url" in result.stderr
    assert server.count == 1


@pytest.mark.parametrize(
    ("base_url", "token", "differs"),
    [("{server}", "other", "project token"), ("http://localhost:{port}", "tok", "base URL")],
)
def test_rerun_compares_scheme_host_port_and_token(
    run_cli: RunCli,
    server: ScriptServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    base_url: str,
    token: str,
    differs: str,
) -> None:
    record = first_run(run_cli, server, tmp_path)
    monkeypatch.setenv(
        "EXPORTSPEC_BASE_URL", base_url.format(server=server.base_url, port=server.port)
    )
    monkeypatch.setenv("EXPORTSPEC_PROJECT_TOKEN", token)
    result = run_cli(["rerun", str(record)])
    assert result.exit_code == 3, result.explain()
    assert f"the {differs} differs" in result.stderr


def test_rerun_goes_ahead_when_the_settings_agree_with_the_record(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = first_run(run_cli, server, tmp_path)
    monkeypatch.setenv("EXPORTSPEC_BASE_URL", server.base_url + "/")  # the same place
    monkeypatch.setenv("EXPORTSPEC_PROJECT_TOKEN", "tok")
    result = run_cli(["rerun", str(record), "-q"])
    assert result.exit_code == 0, result.explain()
    assert server.count == 2


#: Each file is a bad run record; expected.json holds the start of the first diagnostic it
#: gives after the record's name (LINE:COLUMN: error: MESSAGE (at $.field)).
BAD_RECORDS = Path(__file__).parent / "data" / "bad-records"
EXPECTED = json.loads((BAD_RECORDS / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_records_are_located_errors(run_cli: RunCli, tmp_path: Path, name: str) -> None:
    record = tmp_path / f"{name}.run.json"
    record.write_bytes((BAD_RECORDS / record.name).read_bytes())
    result = run_cli(["rerun", str(record), "--dry-run", "--use-record-url"])
    assert result.exit_code == 1, result.explain()
    assert result.stderr.startswith(f"{record}:{EXPECTED[name]}"), result.stderr
    assert "Traceback" not in result.stderr
    assert "Error:" not in result.stderr  # an invalid input, reported as one


def test_every_bad_record_file_has_an_expectation() -> None:
    assert sorted(p.name.removesuffix(".run.json") for p in BAD_RECORDS.glob("*.run.json")) == (
        sorted(EXPECTED)
    )


def test_deeply_nested_record_is_an_error(run_cli: RunCli, tmp_path: Path) -> None:
    record = tmp_path / "deep.run.json"
    record.write_text('{"request": {"body": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    result = run_cli(["rerun", str(record), "--dry-run", "--use-record-url"])
    assert result.exit_code == 1, result.explain()
    assert f"{record}: error: not a run record: nesting is deeper than 64 levels" in result.stderr


def test_rerun_writes_beside_the_record_wherever_it_is_started(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = first_run(run_cli, server, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    server.script(Reply(body=b"id\n9\n"))
    result = run_cli(["rerun", str(record), "-q", "--use-record-url"])
    assert result.exit_code == 0, result.explain()
    assert (tmp_path / "out" / "with-output-3.csv").read_bytes() == b"id\n9\n"
    assert list(elsewhere.iterdir()) == []


def test_rerun_given_the_export_points_at_its_record(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    record = first_run(run_cli, server, tmp_path)
    export = record.with_name(record.name.removesuffix(".run.json"))
    result = run_cli(["rerun", str(export)])
    assert result.exit_code == 1
    assert "looks like an export, not its run record" in result.stderr
    assert f"exportspec rerun {record}" in result.stderr
    assert server.count == 1


def test_rerun_says_where_the_record_went_before_asking_for_credentials(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = copy_spec("csv.yaml", tmp_path)
    assert run_cli(["run", str(spec), "--sandbox", "-q"]).exit_code == 0
    (record,) = tmp_path.rglob("*.run.json")
    monkeypatch.delenv("EXPORTSPEC_API_KEY_ID")
    monkeypatch.delenv("EXPORTSPEC_API_SECRET")
    result = run_cli(["rerun", str(record), "-q"])
    assert result.exit_code == 3, result.explain()
    assert "--sandbox for a record made with --sandbox" in result.stderr
    assert "no API credentials" not in result.stderr
