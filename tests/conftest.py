"""Shared fixtures: a CLI runner that keeps stderr apart and explains failures."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from exportspec.cli import main

# No test reaches a cloud store: the AWS SDK asks no instance-metadata endpoint for
# credentials, and the host's own credentials and profiles are not read (child processes
# inherit this). Tests that need a store start one on 127.0.0.1 (tests/destinations).
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
for _name in (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
):
    os.environ.pop(_name, None)
os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes

    def explain(self) -> str:
        return f"exit={self.exit_code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


RunCli = Callable[..., CliResult]


def default_sigint() -> None:
    """A `preexec_fn`: default SIGINT handling in the child, even when pytest was started
    with it ignored (`nohup`, some CI runners); Python installs its Ctrl-C handler only
    over SIG_DFL."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def run_cli() -> RunCli:
    """Run `exportspec ARGS...` in-process; exceptions propagate so tracebacks are bugs."""

    def run(args: Sequence[str], *, env: dict[str, str] | None = None) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)

    return run


# --- git repositories made in a test ----------------------------------------------------


def git(repo: Path, *args: str) -> str:
    """`git -C REPO ARGS...` with a committer set; its stdout, stripped."""
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    """Commit everything in `repo`; the new commit's hash."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")
