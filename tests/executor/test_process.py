"""Behaviour that needs a real process: signals mid-download, and streaming to stdout."""

from __future__ import annotations

import hashlib
import os
import pty
import resource
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import default_sigint
from tests.executor.conftest import (
    Reply,
    ScriptServer,
    assert_no_secret,
    leftovers,
    python_cmd,
    subprocess_env,
)

BIG = b"id,email\n" + b"".join(b"%d,user%d@example.com\n" % (i, i) for i in range(20000))


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, 130, b"Interrupted."), (signal.SIGTERM, 143, b"Terminated.")],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_mid_download_leaves_no_partial_file(
    server: ScriptServer, spec: Path, tmp_path: Path, signum: int, code: int, said: bytes
) -> None:
    older = tmp_path / "out.csv"
    older.write_bytes(b"older complete export\n")
    server.script(Reply(body=BIG, mode="stall", cut=4096))  # the rest never comes
    process = subprocess.Popen(
        python_cmd("run", str(spec), "-o", "out.csv", "--base-url", server.base_url,
                   "--project-token", "t"),
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=default_sigint,  # noqa: PLW1509 - it only calls signal.signal
    )  # fmt: skip
    try:
        # The server says when the first bytes are on the wire; the temporary file was
        # created before the request went out. (The timeout only guards against a hang.)
        assert server.stalled.wait(60), "the request never arrived"
        assert leftovers(tmp_path), "no temporary file while downloading"
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == code, stderr.decode()
    assert said in stderr
    assert b"Traceback" not in stderr
    assert_no_secret(stdout, stderr)
    assert leftovers(tmp_path) == []
    assert older.read_bytes() == b"older complete export\n"
    assert not (tmp_path / "out.csv.run.json").exists()


def test_dash_output_streams_to_stdout_without_a_record(
    server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    server.script(Reply(body=BIG, mode="chunked", chunk=4096))  # no Content-Length
    done = subprocess.run(
        python_cmd("run", str(spec), "-o", "-", "--base-url", server.base_url,
                   "--project-token", "t"),
        cwd=tmp_path, env=subprocess_env(), capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert hashlib.sha256(done.stdout).digest() == hashlib.sha256(BIG).digest()
    assert b"Exported 20,000 rows" in done.stderr and b"to stdout" in done.stderr
    assert not list(tmp_path.rglob("*.run.json"))
    assert leftovers(tmp_path) == []


def test_dash_output_refusal_writes_nothing_to_stdout(
    server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    server.script(Reply(200, b'{"success": false, "error": "No permission"}'))
    done = subprocess.run(
        python_cmd("run", str(spec), "-o", "-", "--base-url", server.base_url,
                   "--project-token", "t"),
        cwd=tmp_path, env=subprocess_env(), capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 4
    assert done.stdout == b""
    assert b"No permission" in done.stderr


def test_progress_is_drawn_on_a_terminal(server: ScriptServer, spec: Path, tmp_path: Path) -> None:
    server.script(Reply(body=BIG, mode="drip", drip=65536, interval=0.05))  # about 0.4 s
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        python_cmd("run", str(spec), "-o", "out.csv", "--base-url", server.base_url,
                   "--project-token", "t"),
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    seen = b""
    try:
        while True:
            try:
                data = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            seen += data
        assert process.wait(timeout=30) == 0, seen.decode(errors="replace")
    finally:
        process.kill()
        os.close(controller)
    assert seen.count(b"\r\x1b[K") >= 2, seen  # drawn, redrawn, cleared
    assert b" rows" in seen and b"/s" in seen
    assert seen.rstrip().splitlines()[-1].lstrip(b"\r\x1b[K").startswith(b"Exported 20,000 rows")
    assert_no_secret(seen)


def test_a_reader_leaving_mid_export_ends_with_141_not_a_summary(
    server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    server.script(Reply(body=BIG))
    reader, writer = os.pipe()
    with subprocess.Popen(
        python_cmd("run", str(spec), "-o", "-", "--base-url", server.base_url,
                   "--project-token", "t"),
        cwd=tmp_path, env=subprocess_env(), stdout=writer, stderr=subprocess.PIPE,
    ) as process:  # fmt: skip
        os.close(writer)
        assert os.read(reader, 10)  # like `| head -c 10`
        os.close(reader)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 141, stderr.decode()
    assert b"Exported" not in stderr and b"Traceback" not in stderr


def test_dev_stdout_redirected_to_a_file_is_written_through(
    server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    server.script(Reply(body=BIG))
    with (tmp_path / "shell-redirect.csv").open("wb") as out:
        done = subprocess.run(
            python_cmd("run", str(spec), "-o", "/dev/stdout", "-q", "--base-url",
                       server.base_url, "--project-token", "t"),
            cwd=tmp_path, env=subprocess_env(), stdout=out, stderr=subprocess.PIPE,
            timeout=30, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "shell-redirect.csv").read_bytes() == BIG
    assert not Path("/dev/stdout.run.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csv.yaml", "shell-redirect.csv"]


def test_a_full_stderr_does_not_fail_the_export(
    server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    server.script(Reply(503, b"busy"), Reply(body=BIG))  # a retry note goes to stderr
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    with Path("/dev/full").open("wb") as full:
        done = subprocess.run(
            python_cmd("run", str(spec), "-o", "out.csv", "--base-url", server.base_url,
                       "--project-token", "t"),
            cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=full,
            timeout=30, check=False,
        )  # fmt: skip
    assert done.returncode == 0
    assert (tmp_path / "out.csv").read_bytes() == BIG
    assert server.count == 2


MIB = 1 << 20


@pytest.mark.parametrize(
    ("size", "limit"),
    [
        (3 * MIB, MIB + 100_000),  # mid-body, after whole chunks
        (3 * MIB, 3 * MIB - 10),  # at the tail, in the final flush
        (40_000, 39_990),  # a small body, held back then written at once
    ],
    ids=["mid-body", "tail", "small"],
)
def test_a_file_too_large_for_the_disk_is_exit_3_and_leaves_nothing(
    server: ScriptServer, spec: Path, tmp_path: Path, size: int, limit: int
) -> None:
    """RLIMIT_FSIZE stands in for a full disk at a chosen byte: writes past it fail (EFBIG,
    after a short write where some of it fits), wherever the bytes are when it hits."""
    row = b"c0000000,x@example.com\n"
    server.script(Reply(body=(b"id,email\n" + row * (size // len(row) + 1))[:size]))
    older = tmp_path / "out.csv"
    older.write_bytes(b"older complete export\n")

    def limited() -> None:
        default_sigint()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(
        python_cmd("run", str(spec), "-o", "out.csv", "--base-url", server.base_url,
                   "--project-token", "t"),
        cwd=tmp_path, env=subprocess_env(), capture_output=True, timeout=60, check=False,
        preexec_fn=limited,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr.decode()
    assert b"cannot write out.csv: File too large" in done.stderr
    assert b"Traceback" not in done.stderr
    assert leftovers(tmp_path) == []
    assert older.read_bytes() == b"older complete export\n"
    assert not (tmp_path / "out.csv.run.json").exists()
