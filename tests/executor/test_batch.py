"""`exportspec run` with several specs: a batch under one shared gate, against loopback servers."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
from pathlib import Path

import pytest

from exportspec.errors import ExitCode
from exportspec.run.batch import SEVERITY, most_severe
from exportspec.run.gate import Gate, Stopping
from exportspec.schemas import validator
from tests.conftest import RunCli, default_sigint
from tests.executor.conftest import (
    Reply,
    ScriptServer,
    assert_no_secret,
    leftovers,
    python_cmd,
    subprocess_env,
)

CSV = b"registered,email\na,a@example.com\nb,b@example.com\n"

SPEC = (Path(__file__).parent / "data" / "named.yaml.template").read_text()


def make_specs(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    specs = []
    for number in range(count):
        spec = folder / f"s{number}.yaml"
        spec.write_text(SPEC.format(name=f"s{number}"))
        specs.append(spec)
    return specs


def run(run_cli: RunCli, server: ScriptServer, *args: str) -> tuple[int, str]:
    result = run_cli(["run", *args, "--base-url", server.base_url, "--project-token", "tok"])
    assert_no_secret(result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stderr


def batch_records(root: Path) -> list[Path]:
    return sorted((root / "batches").glob("*.batch.json"))


def test_jobs_bounds_requests_in_flight(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 6)
    server.script(Reply(body=CSV, delay=0.1))
    code, stderr = run(run_cli, server, "specs", "--jobs", "3")
    assert code == 0, stderr
    assert server.count == 6
    assert 1 <= server.max_in_flight <= 3
    for number in range(6):
        assert (tmp_path / "exports" / f"s{number}.csv").read_bytes() == CSV
        assert (tmp_path / "exports" / f"s{number}.csv.run.json").is_file()
    assert "6 spec(s): 6 succeeded, 0 failed, 0 skipped" in stderr
    assert leftovers(tmp_path) == []


def test_jobs_from_the_environment(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_specs(tmp_path / "specs", 3)
    monkeypatch.setenv("EXPORTSPEC_JOBS", "1")
    server.script(Reply(body=CSV, delay=0.05))
    code, stderr = run(run_cli, server, "specs")
    assert code == 0, stderr
    assert server.max_in_flight == 1


def test_no_request_starts_while_a_retry_after_is_pending(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 3)
    # The first request is told to wait; the second is answered slowly, so without a shared
    # gate its worker would start the third spec well before the Retry-After expires.
    server.script(
        Reply(status=429, body=b"slow down", headers={"Retry-After": "1"}),
        Reply(body=CSV, delay=0.3),
        Reply(body=CSV),
    )
    code, stderr = run(run_cli, server, "specs", "--jobs", "2")
    assert code == 0, stderr
    assert server.count == 4
    told = server.requests[0].at
    for later in server.requests[2:]:
        assert later.at >= told + 1.0


def test_a_failing_spec_does_not_stop_the_others(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 3)
    (tmp_path / "specs" / "bad.yaml").write_text("version: 1\nname: bad\nexport: {}\n")
    server.script(
        Reply(body=CSV),
        Reply(status=400, body=b'{"success": false, "errors": ["no"]}'),
        Reply(body=CSV),
    )
    code, stderr = run(run_cli, server, "specs", "--jobs", "1")
    assert code == ExitCode.REFUSED, stderr  # 4 is more severe than the invalid spec's 1
    assert server.count == 3
    assert (tmp_path / "exports" / "s0.csv").is_file()
    assert not (tmp_path / "exports" / "s1.csv").exists()
    assert (tmp_path / "exports" / "s2.csv").is_file()
    assert "2 succeeded, 2 failed, 0 skipped" in stderr
    (record,) = batch_records(tmp_path)
    data = json.loads(record.read_text())
    statuses = {Path(s["path"]).name: (s["status"], s["exit_code"]) for s in data["specs"]}
    assert statuses == {
        "bad.yaml": ("failed", 1),
        "s0.yaml": ("succeeded", 0),
        "s1.yaml": ("failed", 4),
        "s2.yaml": ("succeeded", 0),
    }
    assert data["exit_code"] == 4


def test_fail_fast_starts_no_new_export(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 3)
    server.script(Reply(status=400, body=b'{"success": false, "errors": ["no"]}'))
    code, stderr = run(run_cli, server, "specs", "--jobs", "1", "--fail-fast")
    assert code == ExitCode.REFUSED, stderr
    assert server.count == 1
    assert "1 failed, 2 skipped" in stderr


def test_output_with_several_specs_is_a_usage_error(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    specs = make_specs(tmp_path / "specs", 2)
    code, stderr = run(run_cli, server, *map(str, specs), "-o", "out.csv")
    assert code == ExitCode.USAGE, stderr
    assert server.count == 0


def test_two_specs_with_one_output_are_a_usage_error(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "a", 1)
    make_specs(tmp_path / "b", 1)  # the same name: exports/s0.csv twice
    code, stderr = run(run_cli, server, "a", "b")
    assert code == ExitCode.USAGE, stderr
    assert "both write" in stderr
    assert server.count == 0


def test_the_batch_record_validates_against_its_schema(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 2)
    server.script(Reply(body=CSV))
    code, stderr = run(
        run_cli, server, "specs", "--now", "2026-01-02T03:04:05Z", "--batch-record", "b.json"
    )
    assert code == 0, stderr
    assert batch_records(tmp_path) == []
    data = json.loads((tmp_path / "b.json").read_text())
    assert list(validator("batch-record.schema.json").iter_errors(data)) == []
    assert data["now"] == "2026-01-02T03:04:05Z"
    assert data["settings"]["jobs"] == 2
    for entry in data["specs"]:
        assert entry["status"] == "succeeded" and entry["rows"] == 2
        assert entry["bytes"] == len(CSV) and entry["attempts"] == 1
    assert_no_secret(json.dumps(data))


def test_a_default_batch_record_lands_under_the_output_root(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 2)
    server.script(Reply(body=CSV))
    code, stderr = run(run_cli, server, "specs", "--output-root", "out")
    assert code == 0, stderr
    (record,) = batch_records(tmp_path / "out")
    assert record.name.endswith("Z.batch.json") and "T" in record.name
    assert (
        list(validator("batch-record.schema.json").iter_errors(json.loads(record.read_text())))
        == []
    )


def test_one_folder_with_one_spec_is_a_single_run(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 1)
    server.script(Reply(body=CSV))
    code, stderr = run(run_cli, server, "specs")
    assert code == 0, stderr
    assert "Exported 2 rows" in stderr
    assert not (tmp_path / "batches").exists()


def test_ctrl_c_mid_batch_leaves_no_temporary_file_and_writes_the_record(
    server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 3)
    server.script(Reply(body=CSV * 1000, mode="stall", cut=100))  # the rest never comes
    process = subprocess.Popen(
        python_cmd("run", "specs", "--jobs", "2", "--timeout", "0.5", "--batch-record",
                   "b.json", "--base-url", server.base_url, "--project-token", "t"),
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=default_sigint,  # noqa: PLW1509 - it only calls signal.signal
    )  # fmt: skip
    try:
        assert server.stalled.wait(60), "the request never arrived"  # guards a hang only
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr.decode()
    assert b"Interrupted." in stderr and b"Traceback" not in stderr
    assert_no_secret(stdout, stderr)
    assert leftovers(tmp_path) == [], stderr.decode()
    data = json.loads((tmp_path / "b.json").read_text())
    assert list(validator("batch-record.schema.json").iter_errors(data)) == []
    assert data["exit_code"] == 130
    assert all(entry["status"] != "succeeded" for entry in data["specs"])


# --- the gate and the exit-code order, without a server -------------------------------


def test_the_gate_halves_once_per_overload_and_grows_back_ever_more_patiently() -> None:
    gate = Gate(4, grow_after=2)
    tickets = [gate.acquire() for _ in range(4)]
    assert gate.in_flight == 4
    gate.release(status=429, ticket=tickets[0])
    assert (gate.allowed, gate.patience) == (2, 4)
    gate.release(status=503, ticket=tickets[1])  # on its way before the halving: no more
    assert (gate.allowed, gate.patience) == (2, 4)
    gate.release(status=200, ticket=tickets[2])
    gate.release(status=200, ticket=tickets[3])
    gate.release(status=429, ticket=gate.acquire())  # a new overload
    assert (gate.allowed, gate.patience) == (1, 8)
    gate.release(status=429, ticket=gate.acquire())
    assert gate.allowed == 1  # never below 1
    for _ in range(15):
        gate.release(status=200, ticket=gate.acquire())
    assert gate.allowed == 1  # 16 successes needed now
    gate.release(status=200, ticket=gate.acquire())
    assert gate.allowed == 2
    for _ in range(100):
        gate.release(status=200, ticket=gate.acquire())
    assert (gate.allowed, gate.patience) == (4, 2)  # never above the limit; patience reset


def test_a_stopped_gate_starts_nothing() -> None:
    gate = Gate(1)
    gate.stop()
    with pytest.raises(Stopping):
        gate.acquire()
    with pytest.raises(Stopping):
        gate.sleep(10)


def test_the_most_severe_exit_code_wins() -> None:
    assert SEVERITY == (130, 143, 131, 129, 5, 4, 3, 1, 0)
    assert most_severe([0, 1, 3]) == 3
    assert most_severe([4, 5, 1]) == 5
    assert most_severe([5, 129]) == 129
    assert most_severe([143, 130]) == 130
    assert most_severe([]) == 0


def test_resume_runs_only_the_specs_that_did_not_succeed(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 3)
    refused = Reply(status=400, body=b'{"success": false, "errors": ["no"]}')
    server.script(Reply(body=CSV), refused, Reply(body=CSV))
    now = "2026-01-02T03:04:05Z"
    code, stderr = run(run_cli, server, "specs", "--jobs", "1", "--now", now)
    assert code == ExitCode.REFUSED, stderr
    (record,) = batch_records(tmp_path)
    before = json.loads(record.read_text())
    failed_body = server.requests[1].body

    server.script(Reply(body=CSV))
    code, stderr = run(run_cli, server, "--resume", str(record))
    assert code == 0, stderr
    assert server.count == 4
    assert server.requests[3].body == failed_body  # the same spec, at the batch's now
    assert (tmp_path / "exports" / "s1.csv").read_bytes() == CSV
    after = json.loads(record.read_text())
    assert list(validator("batch-record.schema.json").iter_errors(after)) == []
    assert after["now"] == now and after["exit_code"] == 0
    assert [s["status"] for s in after["specs"]] == ["succeeded"] * 3
    assert after["specs"][0] == before["specs"][0]  # kept as it was, not run again
    assert batch_records(tmp_path) == [record]


def test_resume_refuses_a_malformed_record(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.batch.json"
    bad.write_text('{"batch_record_version": 2}')
    code, stderr = run(run_cli, server, "--resume", str(bad))
    assert code == ExitCode.SPEC_INVALID, stderr
    assert server.count == 0


def test_rate_spaces_the_request_starts(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 4)
    server.script(Reply(body=CSV))
    code, stderr = run(run_cli, server, "specs", "--jobs", "4", "--rate", "300")
    assert code == 0, stderr
    starts = sorted(seen.at for seen in server.requests)
    # 300 a minute: one start every 0.2 s at the client; allow for arrival jitter.
    assert all(later - earlier >= 0.15 for earlier, later in itertools.pairwise(starts))


def test_rate_from_the_environment_is_checked(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 2)
    result = run_cli(["run", "specs", "--sandbox"], env={"EXPORTSPEC_RATE": "0"})
    assert result.exit_code == ExitCode.USAGE
    assert "EXPORTSPEC_RATE" in result.stderr or "--rate" in result.stderr
    assert server.count == 0


@pytest.mark.parametrize("output_format", ["json", "junit", "github"])
def test_the_batch_result_for_ci(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, output_format: str
) -> None:
    import xml.etree.ElementTree as ET

    make_specs(tmp_path / "specs", 3)
    refused = Reply(status=400, body=b'{"success": false, "errors": ["no"]}')
    server.script(Reply(body=CSV), refused, Reply(body=CSV))
    connection = ["--base-url", server.base_url, "--project-token", "tok"]
    args = ["run", "specs", "--jobs", "1", "--output-format", output_format, *connection]
    result = run_cli(args)
    assert result.exit_code == ExitCode.REFUSED, result.stderr
    if output_format == "json":
        document = json.loads(result.stdout)
        assert list(validator("batch-record.schema.json").iter_errors(document)) == []
        assert [s["status"] for s in document["specs"]] == ["succeeded", "failed", "succeeded"]
    elif output_format == "junit":
        suite = ET.fromstring(result.stdout).find("testsuite")
        assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
        failed = [case.get("name") for case in suite if case.find("failure") is not None]
        assert failed == ["specs/s1.yaml"]
    else:
        lines = result.stdout.splitlines()
        assert [line.split("::")[1] for line in lines if line.startswith("::error")] == [
            "error file=specs/s1.yaml,title=exportspec run"
        ]
        assert sum(line.startswith("::notice") for line in lines) == 2


def test_resume_sends_the_stored_body_even_when_the_spec_changed(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    specs = make_specs(tmp_path / "specs", 2)
    server.script(Reply(body=CSV), Reply(status=503, body=b"busy"))
    code, stderr = run(run_cli, server, "specs", "--jobs", "1", "--retries", "0")
    assert code == ExitCode.TRANSIENT, stderr
    (record,) = batch_records(tmp_path)
    stored = server.requests[1].body
    specs[1].write_text(specs[1].read_text() + "      - {type: property, property: email}\n")

    server.script(Reply(body=CSV))
    code, stderr = run(run_cli, server, "--resume", str(record))
    assert code == 0, stderr
    assert server.count == 3
    assert server.requests[2].body == stored


def test_a_terminal_shows_a_line_per_running_export_below_the_finished_ones() -> None:
    import io

    from exportspec.run.batch import BatchItem
    from exportspec.run.batch_report import Display

    stream = io.StringIO()
    display = Display(stream, live=True, interval=0)
    first, second = BatchItem(Path("specs/a.yaml")), BatchItem(Path("specs/b.yaml"))
    display.progress_for(first).update(2_000_000, 10)
    display.progress_for(second).update(5_000, 1)
    assert stream.getvalue().endswith(
        "\x1b[1F\x1b[J  specs/a.yaml: 2.0 MB  10 rows  0 s\n  specs/b.yaml: 5.0 kB  1 rows  0 s\n"
    )
    first.status, first.exit_code, first.error = "failed", 4, "refused"
    display.finished(first)
    assert stream.getvalue().endswith(
        "\x1b[2F\x1b[Jspecs/a.yaml: failed (exit 4): refused\n  specs/b.yaml: 5.0 kB  1 rows  0 s\n"
    )
    display.close()
    assert stream.getvalue().endswith("\x1b[1F\x1b[J")


def test_a_spec_may_not_write_over_another_spec_or_its_record(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    specs = make_specs(tmp_path / "specs", 2)
    specs[0].write_text(specs[0].read_text() + "output: {path: specs/s1.yaml}\n")
    code, stderr = run(run_cli, server, "specs")
    assert code == ExitCode.USAGE
    assert "over the spec specs/s1.yaml of this batch" in stderr
    specs[0].write_text(SPEC.format(name="s0") + "output: {path: exports/s1.csv.run.json}\n")
    code, stderr = run(run_cli, server, "specs")
    assert code == ExitCode.USAGE
    assert "both write" in stderr and "its run record" in stderr
    assert server.count == 0


def test_a_base_url_with_credentials_stops_the_batch_before_a_record_holds_it(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 2)
    leaky = server.base_url.replace("http://", "http://user:Hunter2Secret@")
    result = run_cli(["run", "specs", "--base-url", leaky, "--output-format", "json"])
    assert result.exit_code == ExitCode.CONFIG
    assert "Hunter2Secret" not in result.stdout + result.stderr
    assert batch_records(tmp_path) == []
    assert server.count == 0


def test_resume_refuses_an_output_the_record_moved_outside_the_output_root(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 2)
    server.script(Reply(body=CSV), Reply(status=400, body=b'{"success": false}'))
    code, _ = run(run_cli, server, "specs", "--jobs", "1")
    assert code == ExitCode.REFUSED
    (record,) = batch_records(tmp_path)
    data = json.loads(record.read_text())
    data["specs"][1]["output"] = "../escape.csv"
    record.write_text(json.dumps(data))
    code, stderr = run(run_cli, server, "--resume", str(record))
    assert code == ExitCode.CONFIG
    assert "outside the output root" in stderr
    data["specs"][1]["output"] = "specs/s0.yaml"
    record.write_text(json.dumps(data))
    code, stderr = run(run_cli, server, "--resume", str(record))
    assert code == ExitCode.CONFIG
    assert "would replace" in stderr
    assert server.count == 2
    assert not (tmp_path.parent / "escape.csv").exists()


def test_resume_from_another_folder_writes_where_the_batch_did(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_specs(tmp_path / "specs", 2)
    server.script(Reply(body=CSV), Reply(status=400, body=b'{"success": false}'))
    code, _ = run(run_cli, server, "specs", "--jobs", "1")
    assert code == ExitCode.REFUSED
    (record,) = batch_records(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    server.script(Reply(body=CSV))
    code, stderr = run(run_cli, server, "--resume", str(record), "--output-root", str(tmp_path))
    assert code == 0, stderr
    assert (tmp_path / "exports" / "s1.csv").read_bytes() == CSV
    assert not (elsewhere / "exports").exists()


@pytest.mark.parametrize("rate", ["nan", "0", "1e-300", "inf"])
def test_a_rate_that_means_nothing_is_a_usage_error(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, rate: str
) -> None:
    make_specs(tmp_path / "specs", 2)
    code, stderr = run(run_cli, server, "specs", "--rate", rate)
    assert code == ExitCode.USAGE, stderr
    assert server.count == 0


def test_a_failed_spec_records_its_attempts(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 2)
    server.script(Reply(status=503, body=b"busy"))
    code, _ = run(run_cli, server, "specs", "--jobs", "1", "--retries", "1")
    assert code == ExitCode.TRANSIENT
    (record,) = batch_records(tmp_path)
    assert [s["attempts"] for s in json.loads(record.read_text())["specs"]] == [2, 2]


def test_a_batch_record_named_resume_json_resumes(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    make_specs(tmp_path / "specs", 2)
    server.script(Reply(body=CSV), Reply(status=400, body=b'{"success": false}'))
    code, _ = run(run_cli, server, "specs", "--jobs", "1", "--batch-record", "r/resume.json")
    assert code == ExitCode.REFUSED
    server.script(Reply(body=CSV))
    code, stderr = run(run_cli, server, "--resume", "r/resume.json")
    assert code == 0, stderr
    assert server.count == 3


def test_missing_credentials_end_the_batch_once_before_anything_is_sent(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_specs(tmp_path / "specs", 3)
    monkeypatch.delenv("EXPORTSPEC_API_SECRET")
    code, stderr = run(run_cli, server, "specs")
    assert code == ExitCode.CONFIG
    assert stderr.count("EXPORTSPEC_API_SECRET") >= 1 and "spec(s):" not in stderr
    assert batch_records(tmp_path) == []
    assert server.count == 0
