"""`exportspec run` against real loopback servers: success, retries, refusals, broken transfers."""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import socket
import ssl
import stat
import threading
import time
from pathlib import Path

import pytest

from exportspec import __version__
from tests.conftest import RunCli
from tests.executor.conftest import (
    BASIC,
    DATA,
    KEY_ID,
    SECRET,
    Reply,
    ScriptServer,
    assert_no_secret,
    copy_spec,
    leftovers,
)

CSV = b'registered,email\na,a@example.com\nb,"multi\nline"\nc,c@example.com\n'
#: The download reads at most this much at a time.
MIB = 1 << 20
#: Several reads long, with a quoted newline now and then.
BIG_ROWS = 500_000
BIG = b"registered,note\n" + b"".join(
    b'c%d,"%s"\n' % (i, b"two\nlines" if i % 9973 == 0 else b"one, line") for i in range(BIG_ROWS)
)
OLD = b"an older, complete export\n"


def run(run_cli: RunCli, server: ScriptServer, *args: str) -> tuple[int, str]:
    result = run_cli(["run", *args, "--base-url", server.base_url, "--project-token", "tok"])
    assert_no_secret(result.stdout, result.stderr)
    return result.exit_code, result.stderr


@pytest.fixture
def older(tmp_path: Path) -> Path:
    """An older complete export at the output path, which a failed run must not touch."""
    out = tmp_path / "out.csv"
    out.write_bytes(OLD)
    return out


def assert_untouched(older: Path, tmp_path: Path) -> None:
    assert older.read_bytes() == OLD
    assert not (tmp_path / "out.csv.run.json").exists()
    assert leftovers(tmp_path) == []


# --- success ---------------------------------------------------------------------------


def test_csv_export_streams_to_file_and_writes_a_full_record(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    server.script(Reply(body=CSV, headers={"Content-Type": "text/csv"}))
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv", "--now", "2026-01-02T03:04:05Z")
    assert code == 0, stderr
    assert (tmp_path / "out.csv").read_bytes() == CSV
    assert "Exported 3 rows" in stderr and "out.csv" in stderr

    (seen,) = server.requests
    compiled = run_cli(["compile", str(spec), "--now", "2026-01-02T03:04:05Z"]).stdout_bytes
    assert seen.body == compiled.rstrip(b"\n")
    assert seen.path == "/data/v2/projects/tok/customers/export"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == f"exportspec/{__version__}"
    assert seen.headers["Authorization"] == f"Basic {BASIC}"

    record_bytes = (tmp_path / "out.csv.run.json").read_bytes()
    assert_no_secret(record_bytes)
    record = json.loads(record_bytes)
    assert record["tool"] == {"name": "exportspec", "version": __version__}
    assert record["spec"] == {
        "path": spec.as_posix(),
        "sha256": hashlib.sha256(spec.read_bytes()).hexdigest(),
        "name": "contacts",
    }
    assert record["variables"] == {}
    assert record["now"] == "2026-01-02T03:04:05Z"
    assert record["request"]["method"] == "POST"
    assert record["request"]["url"] == f"{server.base_url}/data/v2/projects/tok/customers/export"
    assert record["request"]["body"] == json.loads(seen.body)
    assert record["request"]["body_sha256"] == hashlib.sha256(seen.body).hexdigest()
    assert record["response"] == {"status": 200, "attempts": 1}
    assert record["output"] == {
        "path": "out.csv",
        "format": "csv",
        "bytes": len(CSV),
        "sha256": hashlib.sha256(CSV).hexdigest(),
        "rows": 3,
        "version_id": None,
    }
    assert record["started_at"] <= record["finished_at"]
    assert record["rerun_of"] is None


@pytest.mark.parametrize(
    ("spec_name", "body", "rows"),
    [
        ("table.yaml", {"header": ["registered", "email"], "rows": [["a", "x"], ["b", None]]}, 2),
        ("native.yaml", {"fields": [{"type": "id", "id": "registered"}], "data": [["a"]]}, 1),
    ],
)
def test_json_formats_count_rows(
    run_cli: RunCli,
    server: ScriptServer,
    tmp_path: Path,
    spec_name: str,
    body: dict[str, object],
    rows: int,
) -> None:
    payload = json.dumps({**body, "success": True}).encode()
    server.script(Reply(body=payload, mode="chunked"))
    code, stderr = run(run_cli, server, str(copy_spec(spec_name, tmp_path)), "-q")
    assert code == 0, stderr
    assert "Exported" not in stderr  # --quiet: no summary (spec warnings still show)
    name = spec_name.removesuffix(".yaml")
    out = tmp_path / "exports" / f"contacts-{name}.json"
    assert out.read_bytes() == payload
    record = json.loads(out.with_name(out.name + ".run.json").read_text())
    assert record["output"]["rows"] == rows
    assert record["output"]["format"] == json.loads(server.requests[0].body)["format"]


def test_default_output_is_the_specs_rendered_output_path(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    spec = copy_spec("with-output.yaml", tmp_path)
    code, stderr = run(run_cli, server, str(spec), "--var", "segment=2")
    assert code == 0, stderr
    assert (tmp_path / "out" / "with-output-2.csv").read_bytes() == Reply().body
    record = json.loads((tmp_path / "out" / "with-output-2.csv.run.json").read_text())
    assert record["variables"] == {"segment": 2}


def test_close_delimited_body_is_accepted(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    server.script(Reply(body=CSV, mode="close"))
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv")
    assert code == 0, stderr
    assert (tmp_path / "out.csv").read_bytes() == CSV


# --- retries ---------------------------------------------------------------------------


def test_429_with_retry_after_waits_then_succeeds(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    server.script(
        Reply(429, b'{"success": false, "error": "slow down"}', {"Retry-After": "1"}), Reply()
    )
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv")
    assert code == 0, stderr
    first, second = server.requests
    assert second.at - first.at >= 0.95  # Retry-After honoured, not the 0.01 s backoff
    assert first.body == second.body
    assert "HTTP 429; retrying in 1.0 s" in stderr
    assert json.loads((tmp_path / "out.csv.run.json").read_text())["response"]["attempts"] == 2


def test_retry_after_http_date_is_capped(
    run_cli: RunCli,
    server: ScriptServer,
    spec: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXPORTSPEC_RETRY_AFTER_MAX", "0.3")
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    server.script(Reply(503, b"busy", {"Retry-After": later}), Reply())
    code, stderr = run(run_cli, server, str(spec))
    assert code == 0, stderr
    assert "HTTP 503; retrying in 0.3 s" in stderr  # an hour asked, the cap applied
    assert server.requests[1].at - server.requests[0].at >= 0.28  # and waited for


@pytest.mark.parametrize("retry_after", ["-5", "1.5", "soon", ""])
def test_invalid_retry_after_falls_back_to_the_backoff(
    run_cli: RunCli, server: ScriptServer, spec: Path, retry_after: str
) -> None:
    server.script(Reply(503, b"busy", {"Retry-After": retry_after}), Reply())
    code, stderr = run(run_cli, server, str(spec))
    assert code == 0, stderr
    assert server.count == 2
    # The 0.01 s backoff factor's wait, not a Retry-After one (-5.0, 1.5, ...).
    assert "HTTP 503; retrying in 0.0 s" in stderr


def test_503_then_success(run_cli: RunCli, server: ScriptServer, spec: Path) -> None:
    server.script(Reply(503, b'{"success": false, "error": "unavailable"}'), Reply())
    code, stderr = run(run_cli, server, str(spec))
    assert code == 0, stderr
    assert server.count == 2


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_status_outlasting_the_retries_exits_5(
    run_cli: RunCli, server: ScriptServer, spec: Path, older: Path, tmp_path: Path, status: int
) -> None:
    server.script(Reply(status, b'{"success": false, "error": "try later"}'))
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv", "--retries", "2")
    assert code == 5, stderr
    assert server.count == 3
    assert f"after 3 attempt(s); the last one got HTTP {status}" in stderr
    assert "try later" in stderr
    assert "Traceback" not in stderr
    assert_untouched(older, tmp_path)


def test_connection_refused_exits_5(
    run_cli: RunCli, closed_port: int, spec: Path, older: Path, tmp_path: Path
) -> None:
    result = run_cli(
        ["run", str(spec), "-o", "out.csv", "--retries", "1", "--project-token", "t",
         "--base-url", f"http://127.0.0.1:{closed_port}"]
    )  # fmt: skip
    assert result.exit_code == 5, result.explain()
    assert "after 2 attempt(s); the last one: connection refused" in result.stderr
    assert_untouched(older, tmp_path)


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(Reply(body=CSV, mode="truncate", cut=20), id="truncated-content-length"),
        pytest.param(Reply(body=CSV, mode="reset", cut=20), id="reset-mid-body"),
        pytest.param(Reply(body=CSV, mode="chunked-unterminated"), id="chunked-no-terminator"),
    ],
)
def test_broken_transfer_is_restarted(
    run_cli: RunCli, server: ScriptServer, spec: Path, older: Path, tmp_path: Path, broken: Reply
) -> None:
    server.script(broken, Reply(body=CSV))
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv")
    assert code == 0, stderr
    assert server.count == 2
    assert "sending the request again" in stderr
    assert (tmp_path / "out.csv").read_bytes() == CSV
    assert json.loads((tmp_path / "out.csv.run.json").read_text())["response"]["attempts"] == 2
    assert leftovers(tmp_path) == []


def test_big_export_arrives_byte_for_byte(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    assert len(BIG) > 2 * MIB
    server.script(Reply(body=BIG, headers={"Content-Type": "text/csv"}))
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv")
    assert code == 0, stderr
    assert (tmp_path / "out.csv").read_bytes() == BIG
    output = json.loads((tmp_path / "out.csv.run.json").read_text())["output"]
    assert output["rows"] == BIG_ROWS
    assert output["sha256"] == hashlib.sha256(BIG).hexdigest()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            Reply(body=BIG, mode="truncate", cut=MIB + 20),
            f"closed after {MIB + 20} bytes",
        ),
        (Reply(body=CSV, mode="truncate", cut=20), f"closed after 20 bytes, {len(CSV) - 20} more"),
        (Reply(body=CSV, mode="reset", cut=20), "reset"),
        (Reply(body=CSV, mode="chunked-unterminated"), "last chunk"),
    ],
)
def test_broken_transfer_every_time_exits_5_and_keeps_the_older_output(
    run_cli: RunCli,
    server: ScriptServer,
    spec: Path,
    older: Path,
    tmp_path: Path,
    broken: Reply,
    message: str,
) -> None:
    server.script(broken)
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv", "--retries", "2")
    assert code == 5, stderr
    assert server.count == 3  # mid-body restarts share the --retries budget
    assert "after 3 attempt(s)" in stderr and message in stderr
    assert_untouched(older, tmp_path)


def test_headers_slower_than_read_timeout_exits_5(
    run_cli: RunCli, server: ScriptServer, spec: Path, older: Path, tmp_path: Path
) -> None:
    # Far longer than the test (the server's stop at teardown ends the wait): a read timeout
    # that did not fire would get the answer after 30 s and end in exit 0, not merely slowly.
    server.script(Reply(delay=30))
    code, stderr = run(
        run_cli, server, str(spec), "-o", "out.csv", "--timeout", "0.3", "--retries", "1"
    )
    assert code == 5, stderr
    assert server.count == 2
    assert "read timeout" in stderr
    assert_untouched(older, tmp_path)


def test_body_gap_longer_than_read_timeout_exits_5(
    run_cli: RunCli, server: ScriptServer, spec: Path, older: Path, tmp_path: Path
) -> None:
    server.script(Reply(body=CSV, mode="drip", drip=10, interval=1.5))
    code, stderr = run(
        run_cli, server, str(spec), "-o", "out.csv", "--timeout", "0.3", "--retries", "0"
    )
    assert code == 5, stderr
    assert "read timeout" in stderr
    assert_untouched(older, tmp_path)


def test_deadline_stops_a_trickling_download(
    run_cli: RunCli, server: ScriptServer, spec: Path, older: Path, tmp_path: Path
) -> None:
    # One byte every 0.1 s never trips the read timeout; only the deadline ends it. The
    # whole body would take a minute: a deadline that did not work ends in exit 0.
    server.script(Reply(body=CSV * 10, mode="drip", drip=1, interval=0.1))
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv", "--deadline", "0.8")
    assert code == 5, stderr
    assert "deadline of 0.8 s passed" in stderr
    assert server.count == 1
    assert_untouched(older, tmp_path)


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "messages", "hint"),
    [
        (400, {"success": False, "errors": ["bad filter", "bad list"]},
         ["bad filter; bad list"], "exportspec validate"),
        (401, {"success": False, "error": "Access key not found"},
         ["Access key not found"], "EXPORTSPEC_API_KEY_ID and EXPORTSPEC_API_SECRET"),
        (403, {"success": False, "errors": {"_global": ["No permission to export customer"]}},
         ["No permission to export customer"], '"GDPR > Export customers"'),
        (404, {"success": False, "message": "Invalid project id"},
         ["Invalid project id"], "check the project token"),
        (400, {"success": False, "errors": {"filter": ["unknown segmentation"]}},
         ["filter: unknown segmentation"], "exportspec validate"),
    ],
)  # fmt: skip
def test_refusals_are_not_retried_and_show_the_api_message(
    run_cli: RunCli,
    server: ScriptServer,
    spec: Path,
    older: Path,
    tmp_path: Path,
    status: int,
    body: dict[str, object],
    messages: list[str],
    hint: str,
) -> None:
    server.script(Reply(status, json.dumps(body).encode()))
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv")
    assert code == 4, stderr
    assert server.count == 1
    assert f"HTTP {status}" in stderr
    for message in messages:
        assert message in stderr
    assert "hint:" in stderr and hint in stderr
    assert_untouched(older, tmp_path)


def test_non_json_refusal_shows_the_text(run_cli: RunCli, server: ScriptServer, spec: Path) -> None:
    text = b"The browser (or proxy) sent a request that this server could not understand."
    server.script(Reply(400, text, {"Content-Type": "text/html"}))
    code, stderr = run(run_cli, server, str(spec))
    assert code == 4
    assert text.decode() in stderr


@pytest.mark.parametrize(
    ("spec_name", "body"),
    [
        ("csv.yaml", b'{"success": false, "error": "No permission to export customer"}'),
        ("csv.yaml", b'  {"error": "No permission to export customer", "success": false}'),
        ("table.yaml", b'{"error": "No permission to export customer", "success": false}'),
    ],
)
def test_http_200_with_success_false_exits_4_without_retry(
    run_cli: RunCli,
    server: ScriptServer,
    older: Path,
    tmp_path: Path,
    spec_name: str,
    body: bytes,
) -> None:
    server.script(Reply(200, body, {"Content-Type": "application/json"}))
    spec = copy_spec(spec_name, tmp_path)
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv")
    assert code == 4, stderr
    assert server.count == 1
    assert "HTTP 200 with success: false" in stderr
    assert "No permission to export customer" in stderr
    assert_untouched(older, tmp_path)


NOT_EXPORTS = {
    "login page": Reply(200, b"<html><title>Sign in to the proxy</title></html>",
                        {"Content-Type": "text/html; charset=utf-8"}),
    "no content": Reply(204, b""),
    "empty body": Reply(200, b""),
    "blank body": Reply(200, b"\n \n"),
}  # fmt: skip


@pytest.mark.parametrize("reply", NOT_EXPORTS.values(), ids=NOT_EXPORTS.keys())
def test_a_2xx_that_is_not_an_export_is_refused(
    run_cli: RunCli, server: ScriptServer, spec: Path, older: Path, tmp_path: Path, reply: Reply
) -> None:
    server.script(reply)
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv")
    assert code == 4, stderr
    assert server.count == 1
    assert "not an export" in stderr and "captive portal" in stderr
    assert_untouched(older, tmp_path)


def test_redirect_is_refused_not_followed(
    run_cli: RunCli, server: ScriptServer, spec: Path
) -> None:
    server.script(Reply(301, b"", {"Location": "https://elsewhere.example/"}))
    code, stderr = run(run_cli, server, str(spec))
    assert code == 4
    assert server.count == 1
    assert "redirect to https://elsewhere.example/" in stderr


def test_certificate_failure_is_a_configuration_error_not_retried(
    run_cli: RunCli, spec: Path
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(DATA / "selfsigned.pem", DATA / "selfsigned.key")
    accepted: list[object] = []
    tls_server = ScriptServer(tls=context)
    original_get_request = tls_server.httpd.get_request

    def counting_get_request() -> tuple[socket.socket, object]:
        accepted.append(None)
        return original_get_request()

    tls_server.httpd.get_request = counting_get_request  # type: ignore[method-assign]
    try:
        code, stderr = run(run_cli, tls_server, str(spec), "--retries", "3")
    finally:
        tls_server.close()
    assert code == 3, stderr
    assert "certificate failed verification" in stderr and "REQUESTS_CA_BUNDLE" in stderr
    assert len(accepted) == 1  # no retries
    assert tls_server.count == 0


SECRET_ECHOES = {
    "reason phrase": Reply(503, reason=f"Busy {SECRET} {BASIC}"),
    "refusal reason": Reply(400, reason=f"Bad {SECRET}", body=b"nope"),
    "redirect target": Reply(302, b"", {"Location": f"https://{KEY_ID}:{SECRET}@x.example/"}),
    "refusal body": Reply(401, json.dumps({"error": f"key {KEY_ID} secret {SECRET}"}).encode()),
}


@pytest.mark.parametrize("reply", SECRET_ECHOES.values(), ids=SECRET_ECHOES.keys())
def test_server_text_echoing_credentials_is_masked(
    run_cli: RunCli, server: ScriptServer, spec: Path, reply: Reply
) -> None:
    server.script(reply)
    code, stderr = run(run_cli, server, str(spec), "--retries", "0")  # run() checks secrets
    assert code in (4, 5), stderr
    assert KEY_ID not in stderr
    assert "***" in stderr


@pytest.mark.parametrize("status", [400, 503])
def test_a_secret_straddling_the_message_cut_leaves_no_fragment(
    run_cli: RunCli, server: ScriptServer, spec: Path, status: int
) -> None:
    server.script(Reply(status, json.dumps({"error": "x" * 490 + " " + SECRET}).encode()))
    code, stderr = run(run_cli, server, str(spec), "--retries", "0")
    assert code in (4, 5), stderr
    assert SECRET[:6] not in stderr
    assert "x ***" in stderr


def test_short_secret_does_not_mangle_our_hints(
    run_cli: RunCli, server: ScriptServer, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTSPEC_API_SECRET", "e")
    server.script(Reply(401, b'{"error": "Access key not found"}'))
    result = run_cli(["run", str(spec), "--base-url", server.base_url, "--project-token", "t"])
    assert result.exit_code == 4
    assert "hint: check EXPORTSPEC_API_KEY_ID and EXPORTSPEC_API_SECRET" in result.stderr


def test_server_text_cannot_drive_the_terminal(
    run_cli: RunCli, server: ScriptServer, spec: Path
) -> None:
    errors = [f"\x1b[2J\x1b]0;pwned\x07line {n}\rover" + "x" * 900 for n in range(50)]
    server.script(Reply(400, json.dumps({"errors": errors}).encode()))
    code, stderr = run(run_cli, server, str(spec))
    assert code == 4
    assert "\x1b" not in stderr and "\x07" not in stderr and "\r" not in stderr
    assert "... and 30 more" in stderr
    assert len(stderr) < 20 * 600  # each message cut at 500 characters


# --- output ----------------------------------------------------------------------------


def test_unwritable_output_is_a_configuration_error(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    code, stderr = run(run_cli, server, str(spec), "-o", "blocker/out.csv")
    assert code == 3
    assert "cannot write blocker/out.csv" in stderr


def test_progress_is_silent_when_stderr_is_not_a_terminal(
    run_cli: RunCli, server: ScriptServer, spec: Path
) -> None:
    code, stderr = run(run_cli, server, str(spec))
    assert code == 0
    assert "\r" not in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("Exported 2 rows")


def test_special_file_output_is_written_through_not_replaced(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    # A FIFO stands in for /dev/null or /dev/stdout, which a test must never risk replacing.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "via-link"
    link.symlink_to(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    server.script(Reply(body=CSV))
    code, stderr = run(run_cli, server, str(spec), "-o", str(link))
    reader.join(timeout=10)
    assert code == 0, stderr
    assert received == [CSV]
    assert stat.S_ISFIFO(fifo.stat().st_mode) and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csv.yaml", "pipe", "via-link"]


def test_symlinked_output_keeps_its_link(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "out.csv"
    real.write_bytes(OLD)
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    server.script(Reply(body=CSV))
    code, stderr = run(run_cli, server, str(spec), "-o", str(link))
    assert code == 0, stderr
    assert link.is_symlink() and real.read_bytes() == CSV
    assert (tmp_path / "latest.csv.run.json").exists()


def test_output_whose_record_name_is_too_long_is_refused_before_sending(
    run_cli: RunCli, server: ScriptServer, spec: Path
) -> None:
    name = "a" * 250  # fits; with ".run.json" it does not
    code, stderr = run(run_cli, server, str(spec), "-o", name)
    assert code == 3, stderr
    assert "would be longer than 255 bytes" in stderr
    assert server.count == 0


def test_record_that_cannot_be_written_says_the_export_is_complete(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    (tmp_path / "out.csv.run.json").mkdir()  # a folder where the record should go
    code, stderr = run(run_cli, server, str(spec), "-o", "out.csv")
    assert code == 3, stderr
    assert "the export is complete in out.csv, but its run record is not" in stderr
    assert (tmp_path / "out.csv").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("command", ["run", "compile"])
def test_empty_output_name_is_a_usage_error(run_cli: RunCli, spec: Path, command: str) -> None:
    result = run_cli([command, str(spec), "-o", ""])
    assert result.exit_code == 2
    assert "needs a file name" in result.stderr
