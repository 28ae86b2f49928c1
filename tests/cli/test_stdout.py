"""A failing stdout: a full disk, a closed descriptor, a reader that leaves early.

These need a real process: the error surfaces in the file descriptor, not in Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SPEC = ROOT / "specs" / "vip-segment.yaml"
INVALID = ROOT / "tests" / "cases" / "invalid"

COMMANDS = {
    "compile": ["compile", str(SPEC)],
    "validate": ["validate", str(SPEC)],
    "schema": ["schema"],
    "sandbox --describe": ["sandbox", "--describe"],
    "dry run": ["run", str(SPEC), "--sandbox", "--dry-run"],
    "run -o -": ["run", str(SPEC), "--sandbox", "-o", "-", "-q"],
}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_full_disk_on_stdout_is_a_configuration_error(args: list[str], tmp_path: Path) -> None:
    with Path("/dev/full").open("wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "exportspec", *args],
            stdout=full, stderr=subprocess.PIPE, timeout=60, check=False, cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 3, done.stderr.decode()
    assert b"cannot write to stdout: No space left on device" in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_closed_stdout_is_a_configuration_error(args: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "exportspec", *args],
        capture_output=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr.decode()
    assert b"stdout is closed" in done.stderr
    assert b"Traceback" not in done.stderr


def test_a_reader_leaving_early_ends_quietly_but_not_with_0(tmp_path: Path) -> None:
    # The reader is gone before the report is written (as `| head -0` would be).
    reader, writer = os.pipe()
    with subprocess.Popen(
        [sys.executable, "-m", "exportspec", "validate", str(INVALID)],
        stdout=writer, stderr=subprocess.PIPE, cwd=tmp_path,
    ) as process:  # fmt: skip
        os.close(writer)
        os.close(reader)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 141, stderr.decode()
    assert b"Traceback" not in stderr and b"Exception ignored" not in stderr


def test_a_closed_stdout_does_not_matter_when_writing_to_a_file(tmp_path: Path) -> None:
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "exportspec",
         "run", str(SPEC), "--sandbox", "-q", "-o", "out.csv"],
        capture_output=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "out.csv").stat().st_size > 0
