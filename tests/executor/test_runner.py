"""The runner and the client, called directly (no CLI) against a loopback server."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from exportspec.errors import ConfigError, RefusedError, TransientError
from exportspec.run.client import ExportClient
from exportspec.run.models import ExportRequest
from exportspec.run.retry import Deadline, Retryable
from exportspec.run.runner import RunOptions, export, run
from exportspec.run.settings import ConnectionFlags, Settings, resolve_settings
from tests.executor.conftest import Reply, ScriptServer, leftovers

BODY = b'{"format":"csv"}'
CSV = b"id,email\n1,a@example.com\n2,b@example.com\n"


def request() -> ExportRequest:
    return ExportRequest(
        body=BODY,
        body_sha256=hashlib.sha256(BODY).hexdigest(),
        export_format="csv",
        name="direct",
        spec_path=None,
        spec_sha256=None,
        variables={},
        now=None,
    )


def settings_for(server: ScriptServer) -> Settings:
    return resolve_settings(ConnectionFlags(base_url=server.base_url, project_token="tok"))


def test_export_writes_the_file_and_reports_what_came(server: ScriptServer, tmp_path: Path) -> None:
    server.script(Reply(body=CSV))
    result = export(request(), settings_for(server), tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes() == CSV
    assert (result.rows, result.size, result.attempts) == (2, len(CSV), 1)
    assert result.sha256 == hashlib.sha256(CSV).hexdigest()
    assert server.requests[0].body == BODY
    assert server.requests[0].path == "/data/v2/projects/tok/customers/export"


def test_the_injected_sleep_is_the_only_wait(server: ScriptServer, tmp_path: Path) -> None:
    server.script(Reply(429, b"{}", {"Retry-After": "30"}), Reply(503), Reply(body=CSV))
    waits: list[float] = []
    result = export(request(), settings_for(server), tmp_path / "out.csv", sleep=waits.append)
    assert result.attempts == 3
    assert waits[0] == 30  # Retry-After, never slept for real
    assert len(waits) == 2


def test_a_broken_body_restarts_into_the_same_file(server: ScriptServer, tmp_path: Path) -> None:
    server.script(Reply(body=CSV, mode="truncate", cut=12), Reply(body=CSV))
    result = export(request(), settings_for(server), tmp_path / "out.csv", sleep=lambda s: None)
    assert result.attempts == 2
    assert (tmp_path / "out.csv").read_bytes() == CSV
    assert leftovers(tmp_path) == []


def test_stdout_cannot_be_rewound_after_its_first_byte(server: ScriptServer) -> None:
    big = b"id\n" + b"1\n" * 100_000  # past the bytes held back to spot `success: false`
    server.script(Reply(body=big, mode="truncate", cut=90_000), Reply(body=big))
    stdout = io.BytesIO()
    with pytest.raises(TransientError, match="a stream output cannot be rewound"):
        export(request(), settings_for(server), None, stdout=stdout, sleep=lambda s: None)
    assert server.count == 1


def test_run_writes_the_record_beside_the_output(server: ScriptServer, tmp_path: Path) -> None:
    server.script(Reply(body=CSV))
    options = RunOptions(request(), tmp_path / "out.csv", ConnectionFlags(server.base_url, "tok"))
    outcome = run(options)
    assert outcome.record == tmp_path / "out.csv.run.json"
    record = json.loads(outcome.record.read_text())
    assert record["response"] == {"status": 200, "attempts": 1}
    assert record["output"]["rows"] == 2


def test_run_dry_run_sends_nothing(server: ScriptServer) -> None:
    outcome = run(RunOptions(request(), None, ConnectionFlags(server.base_url), dry_run=True))
    assert outcome.dry_run_text is not None and outcome.result is None
    assert "Authorization: Basic <redacted>" in outcome.dry_run_text
    assert server.count == 0


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (Reply(401, b'{"error": "bad key"}'), RefusedError, "HTTP 401"),
        (Reply(302, b"", {"Location": "https://elsewhere.example/"}), RefusedError, "redirect"),
        (Reply(200, b"<html>", {"Content-Type": "text/html"}), RefusedError, "not an export"),
        (Reply(503, b"busy", {"Retry-After": "4"}), Retryable, "HTTP 503"),
    ],
)
def test_the_client_triages_each_answer(
    server: ScriptServer, reply: Reply, error: type[Exception], message: str
) -> None:
    server.script(reply)
    settings = settings_for(server)
    with ExportClient(settings) as client, pytest.raises(error, match=message) as caught:
        client.send(settings.export_url, BODY)
    if isinstance(caught.value, Retryable):
        assert caught.value.status == 503
        assert caught.value.retry_after == 4


def test_the_client_refuses_without_credentials(server: ScriptServer) -> None:
    settings = resolve_settings(
        ConnectionFlags(server.base_url, "tok"), environ={}, require_credentials=False
    )
    with pytest.raises(ConfigError, match="no API credentials"):
        ExportClient(settings)


def test_a_connection_refused_is_retryable(closed_port: int) -> None:
    settings = resolve_settings(ConnectionFlags(f"http://127.0.0.1:{closed_port}", "tok"))
    with ExportClient(settings, Deadline(None)) as client, pytest.raises(Retryable) as caught:
        client.send(settings.export_url, BODY)
    assert caught.value.reason == "connection refused"
    assert not caught.value.mid_body


def test_a_403_that_names_the_secret_hints_at_the_secret(server: ScriptServer) -> None:
    server.script(Reply(403, b'{"success": false, "error": "invalid secret"}'))
    settings = settings_for(server)
    with ExportClient(settings) as client, pytest.raises(RefusedError) as caught:
        client.send(settings.export_url, BODY)
    assert "hint: check EXPORTSPEC_API_SECRET" in str(caught.value)
    assert "permission" not in str(caught.value)


def test_a_403_about_permissions_keeps_the_permission_hint(server: ScriptServer) -> None:
    server.script(Reply(403, b'{"success": false, "error": "No permission to export customer"}'))
    settings = settings_for(server)
    with ExportClient(settings) as client, pytest.raises(RefusedError) as caught:
        client.send(settings.export_url, BODY)
    assert "GDPR > Export customers" in str(caught.value)


def test_every_message_is_scrubbed_even_a_split_secret(server: ScriptServer) -> None:
    from tests.executor.conftest import BASIC, SECRET

    split = SECRET[:5] + "\n" + SECRET[5:]
    echo = json.dumps({"error": f"auth {split} / Basic {BASIC[:9]}\x1b{BASIC[9:]}"}).encode()
    server.script(Reply(503, echo, reason=f"Bad {BASIC}"))
    notes = io.StringIO()
    options = RunOptions(request(), None, ConnectionFlags(server.base_url, "tok", retries=1))
    with pytest.raises(TransientError) as caught:
        run(options, messages=notes, stdout=io.BytesIO(), sleep=lambda s: None)
    said = notes.getvalue() + str(caught.value)
    assert "***" in str(caught.value)
    for fragment in (SECRET[5:], BASIC[9:], BASIC):
        assert fragment not in said


def test_a_5xx_outside_the_transient_set_is_not_retried(
    server: ScriptServer, tmp_path: Path
) -> None:
    server.script(Reply(501, b'{"error": "not implemented"}'), Reply(body=CSV))
    with pytest.raises(TransientError, match="HTTP 501"):
        export(request(), settings_for(server), tmp_path / "out.csv", sleep=lambda s: None)
    assert server.count == 1


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "9" * 400}, {"Retry-After": "\u00b2"}],
    ids=["huge-retry-after", "superscript-retry-after"],
)
def test_odd_retry_after_values_fall_back_to_the_backoff(
    server: ScriptServer, tmp_path: Path, headers: dict[str, str]
) -> None:
    server.script(Reply(503, b"busy", headers), Reply(body=CSV))
    waits: list[float] = []
    result = export(request(), settings_for(server), tmp_path / "out.csv", sleep=waits.append)
    assert result.attempts == 2
    assert waits[0] < 60  # the backoff curve, not the header


def test_the_record_url_must_be_one_the_settings_can_name() -> None:
    from exportspec.run.runner import _check_record_target
    from exportspec.run.settings import SettingsLayer

    record = SettingsLayer(
        "the run record r", {"base_url": "http://127.0.0.1:99999", "project_token": "t"}
    )
    settings = resolve_settings(ConnectionFlags("http://127.0.0.1:8000", "t"))
    with pytest.raises(ConfigError, match="the base URL differs"):
        _check_record_target(record, settings)


def test_a_record_without_a_token_sends_nothing_when_none_is_configured(
    server: ScriptServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportspec.run.settings import SettingsLayer

    monkeypatch.setenv("EXPORTSPEC_BASE_URL", server.base_url)
    record = SettingsLayer("the run record r", {"base_url": server.base_url, "project_token": None})
    with pytest.raises(ConfigError, match="project token differs"):
        run(RunOptions(request(), None, recorded=record), stdout=io.BytesIO())
    assert server.count == 0


def test_success_false_gets_a_hint(server: ScriptServer, tmp_path: Path) -> None:
    server.script(Reply(200, b'{"success": false, "error": "No permission"}'))
    with pytest.raises(RefusedError, match="hint: the API's message above says what it refused"):
        export(request(), settings_for(server), tmp_path / "out.csv")
