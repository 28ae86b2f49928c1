"""Hostile server replies through `exportspec run` in a real, memory-limited process.

Whatever answers in the API's place (a misconfigured proxy, a captive portal, a broken or
hostile endpoint): the documented exit code, no traceback, no secret in any byte printed
or written, no raw terminal control in what is printed, nothing written but the output
and its record. The replies live in data/hostile-replies.yaml.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import default_sigint
from tests.executor.conftest import (
    BASIC,
    DATA,
    SECRET,
    Reply,
    ScriptServer,
    assert_no_secret,
    copy_spec,
    python_cmd,
    subprocess_env,
)

CASES: list[dict[str, Any]] = yaml.safe_load((DATA / "hostile-replies.yaml").read_text())
MEMORY = 1 << 30
#: A secret split by the server, as it may echo it: masked all the same.
SECRET_SPLIT = SECRET[:6] + "\\n" + SECRET[6:]


def _text(template: str) -> str:
    return (
        template.replace("{SECRET_SPLIT}", SECRET_SPLIT)
        .replace("{SECRET}", SECRET)
        .replace("{BASIC}", BASIC)
    )


def _reply(raw: dict[str, Any]) -> Reply:
    body = _text(raw.get("body", "")).encode()
    if "body_repeat" in raw:
        piece, count = raw["body_repeat"]
        body += piece.encode() * count + raw.get("body_tail", "").encode()
    headers = {k: _text(str(v)) for k, v in raw.get("headers", {}).items()}
    reason = _text(raw["reason"]) if "reason" in raw else None
    return Reply(raw["status"], body, headers, reason=reason)


def _limited() -> None:
    default_sigint()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_a_hostile_reply_is_handled(
    case: dict[str, Any], server: ScriptServer, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    spec = copy_spec(case.get("spec", "csv.yaml"), root)
    server.script(*(_reply(raw) for raw in case["replies"]))
    done = subprocess.run(
        python_cmd("run", spec.name, "-o", "out.csv", "--retries", "1",
                   "--base-url", server.base_url, "--project-token", "t"),
        cwd=root, env=subprocess_env(), capture_output=True, timeout=120, check=False,
        preexec_fn=_limited,
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == case["exit"], done.stderr.decode(errors="replace")
    assert b"Traceback" not in said
    assert_no_secret(said)
    assert SECRET[6:].encode() not in said  # nor the second half of a split one
    assert b"\x1b" not in done.stderr and b"\x07" not in done.stderr
    assert not any(line.lstrip().startswith(b"::") for line in done.stderr.splitlines())
    written = sorted(p.name for p in root.iterdir() if p != spec)
    assert written == (["out.csv", "out.csv.run.json"] if case["exit"] == 0 else [])
    for file in root.iterdir():
        if file != spec and file.name != "out.csv":  # the export is the server's data
            assert_no_secret(file.read_bytes())
