"""Fixtures for the Python API's tests: a clean environment and a copy of a spec."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent.parent / "executor" / "data"
EXAMPLES = Path(__file__).parent.parent.parent / "specs"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No EXPORTSPEC_* setting of the machine running the tests, and a fresh working folder."""
    for name in list(os.environ):
        if name.startswith("EXPORTSPEC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EXPORTSPEC_BACKOFF_FACTOR", "0")  # retries without waiting
    monkeypatch.chdir(tmp_path)


def example(name: str, folder: Path) -> Path:
    """A copy of the example spec `specs/NAME` in `folder`."""
    target = folder / name
    shutil.copy(EXAMPLES / name, target)
    return target


def executor_spec(name: str, folder: Path) -> Path:
    """A copy of the executor tests' spec `NAME` in `folder`."""
    target = folder / name
    shutil.copy(DATA / name, target)
    return target
