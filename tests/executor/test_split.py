"""Split exports against the sandbox: the parts of every segment plus -1 are the whole,
assembled with one header; a failed part leaves no output; --resume re-sends only it."""

from __future__ import annotations

import collections
import csv
import io
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exportspec.sandbox import Sandbox, running_sandbox
from tests.conftest import RunCli, default_sigint
from tests.executor.conftest import (
    DATA,
    KEY_ID,
    SECRET,
    Reply,
    ScriptServer,
    leftovers,
    python_cmd,
    subprocess_env,
)

SPLIT = DATA / "split"
FORMATS = ("csv", "table_json", "native_json")


def _sandbox(*fail: str) -> Iterator[Sandbox]:
    with running_sandbox(
        customers=300, seed=7, fail=fail, api_key_id=KEY_ID, api_secret=SECRET
    ) as sb:
        yield sb


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    yield from _sandbox()


@pytest.fixture
def failing_once() -> Iterator[Sandbox]:
    """A sandbox whose first request gets HTTP 500."""
    yield from _sandbox("500")


def _run(run_cli: RunCli, sandbox: Sandbox, *args: str) -> Any:
    return run_cli(
        ["run", *args, "--base-url", sandbox.base_url, "--project-token", sandbox.project_token]
    )


def _table(path: Path, fmt: str) -> tuple[list[Any], list[str]]:
    """(header, rows as canonical JSON text) of an export file."""
    if fmt == "csv":
        header, *records = csv.reader(io.StringIO(path.read_text("utf-8"), newline=""))
        return header, [json.dumps(record) for record in records]
    document = json.loads(path.read_bytes())
    head, rows = ("header", "rows") if fmt == "table_json" else ("fields", "data")
    return document[head], [json.dumps(row, sort_keys=True) for row in document[rows]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_segment_and_minus_one_are_the_whole_export(
    fmt: str, sandbox: Sandbox, run_cli: RunCli, tmp_path: Path
) -> None:
    var = ["--var", f"fmt={fmt}"]
    whole = _run(run_cli, sandbox, str(SPLIT / "whole.yaml"), *var)
    assert whole.exit_code == 0, whole.explain()
    parts = _run(run_cli, sandbox, str(SPLIT / "parts.yaml"), *var)
    assert parts.exit_code == 0, parts.explain()
    suffix = "csv" if fmt == "csv" else "json"
    header, rows = _table(tmp_path / f"exports/parts.{suffix}", fmt)
    whole_header, whole_rows = _table(tmp_path / f"exports/whole.{suffix}", fmt)
    assert header == whole_header
    assert len(rows) == 300
    assert collections.Counter(rows) == collections.Counter(whole_rows)
    if fmt == "csv":  # one header: no data row repeats it
        assert json.dumps(header) not in rows
    record = json.loads((tmp_path / f"exports/parts.{suffix}.run.json").read_text())
    assert [p["segment"] for p in record["parts"]] == [0, 1, 2, -1]
    assert sum(p["rows"] for p in record["parts"]) == record["output"]["rows"] == 300
    assert [p["segment"] for p in record["request"]["parts"]] == [0, 1, 2, -1]
    assert not (tmp_path / f"exports/.parts.{suffix}.parts").exists()


def test_a_failed_part_leaves_no_output_and_resume_sends_only_it(
    failing_once: Sandbox, run_cli: RunCli, tmp_path: Path
) -> None:
    spec = str(SPLIT / "parts.yaml")
    # One part at a time, in order: the first request, segment 0's, gets the 500.
    failed = _run(run_cli, failing_once, spec, "--jobs", "1", "--retries", "0")
    assert failed.exit_code == 5, failed.explain()
    assert "1 of 4 parts failed (segment 0)" in failed.stderr
    exports = tmp_path / "exports"
    assert not (exports / "parts.csv").exists()
    assert not (exports / "parts.csv.run.json").exists()
    assert leftovers(tmp_path) == []
    state = exports / ".parts.csv.parts" / "resume.json"
    assert "--resume exports/.parts.csv.parts/resume.json" in failed.stderr
    kept = json.loads(state.read_text())["parts"]
    assert [p["segment"] for p in kept] == [-1, 1, 2]
    sent = failing_once.request_count
    resumed = _run(run_cli, failing_once, "--resume", str(state))
    assert resumed.exit_code == 0, resumed.explain()
    assert failing_once.request_count == sent + 1  # segment 0's part only
    record = json.loads((exports / "parts.csv.run.json").read_text())
    assert record["output"]["rows"] == 300
    assert record["response"]["attempts"] == 1
    assert not state.parent.exists()


def test_a_fresh_run_does_not_reuse_kept_parts(
    failing_once: Sandbox, run_cli: RunCli, tmp_path: Path
) -> None:
    spec = str(SPLIT / "parts.yaml")
    assert _run(run_cli, failing_once, spec, "--jobs", "1", "--retries", "0").exit_code == 5
    sent = failing_once.request_count
    again = _run(run_cli, failing_once, spec)
    assert again.exit_code == 0, again.explain()
    assert failing_once.request_count == sent + 4


def test_a_split_in_a_batch_shares_its_bound(
    sandbox: Sandbox, run_cli: RunCli, tmp_path: Path
) -> None:
    result = _run(
        run_cli, sandbox, str(SPLIT / "parts.yaml"), str(SPLIT / "whole.yaml"), "--jobs", "3"
    )
    assert result.exit_code == 0, result.explain()
    assert (tmp_path / "exports/parts.csv").is_file()
    assert (tmp_path / "exports/whole.csv").is_file()


def test_rerun_replays_every_part(sandbox: Sandbox, run_cli: RunCli, tmp_path: Path) -> None:
    assert _run(run_cli, sandbox, str(SPLIT / "parts.yaml")).exit_code == 0
    sent = sandbox.request_count
    result = run_cli(
        [
            "rerun",
            "exports/parts.csv.run.json",
            "-o",
            "again.csv",
            "--base-url",
            sandbox.base_url,
            "--project-token",
            sandbox.project_token,
        ]
    )
    assert result.exit_code == 0, result.explain()
    assert sandbox.request_count == sent + 4
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "exports/parts.csv").read_bytes()


def test_the_python_api_compiles_and_runs_a_split_spec(tmp_path: Path) -> None:
    from exportspec import api

    spec = SPLIT / "parts.yaml"
    compiled = api.compile_spec(spec)
    assert [json.loads(p.body)["filter"]["segment_index"] for p in compiled.parts] == [0, 1, 2, -1]
    result = api.run_spec(spec, sandbox=True, output=tmp_path / "all.csv")
    assert result.rows == 1000  # the in-process sandbox's default customer base
    assert (tmp_path / "all.csv").is_file()


def test_ctrl_c_mid_split_keeps_the_finished_parts_and_no_temporary_file(
    server: ScriptServer, tmp_path: Path
) -> None:
    spec = tmp_path / "split.yaml"
    spec.write_text((Path(__file__).parents[2] / "specs" / "spend-tiers-split.yaml").read_text())
    body = b"id,email\n1,a@example.com\n"
    server.script(Reply(body=body), Reply(body=body * 1000, mode="stall", cut=30))
    process = subprocess.Popen(
        python_cmd("run", str(spec), "--jobs", "1", "-o", "all.csv", "--timeout", "0.5",
                   "--base-url", server.base_url, "--project-token", "t"),
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=default_sigint,  # noqa: PLW1509 - it only calls signal.signal
    )  # fmt: skip
    try:
        assert server.stalled.wait(60), "the second part never arrived"  # guards a hang only
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr.decode()
    assert b"Traceback" not in stderr
    assert not (tmp_path / "all.csv").exists()
    assert leftovers(tmp_path) == []
    state = json.loads((tmp_path / ".all.csv.parts" / "resume.json").read_text())
    assert [part["segment"] for part in state["parts"]] == [0]  # kept for --resume


def test_parts_whose_headers_differ_are_refused_and_leave_no_output(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    spec = tmp_path / "split.yaml"
    spec.write_text((Path(__file__).parents[2] / "specs" / "spend-tiers-split.yaml").read_text())
    same, other = b"id,email\n1,a@example.com\n", b"id,mail\n2,b@example.com\n"
    server.script(Reply(body=same), Reply(body=other), Reply(body=same))
    connection = ("--base-url", server.base_url, "--project-token", "t")
    result = run_cli(["run", str(spec), "--jobs", "1", "-o", "all.csv", *connection])
    assert result.exit_code == 4, result.stderr
    assert "email" in result.stderr and "mail" in result.stderr
    assert not (tmp_path / "all.csv").exists()
    assert leftovers(tmp_path) == []
