"""Hostile templates under a memory limit: located errors and exit 1, never a traceback.

The sandbox does not bound memory or CPU; the process that runs exportspec does (a CI
job's limits). These tests play that process: `exportspec validate` runs in a child
limited to 1 GiB of address space, so an input that would allocate gigabytes fails there
with a MemoryError instead of taking the test runner down.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import default_sigint

HOSTILE = yaml.safe_load(
    (Path(__file__).parent / "data" / "hostile_templates.yaml").read_text(encoding="utf-8")
)
MEMORY = 1 << 30
#: Not a time bound on the test: a backstop so that a template which only burns CPU fails
#: the test (killed by SIGXCPU) instead of holding the suite, as a CI timeout would.
CPU_SECONDS = 600


def _limited() -> None:
    default_sigint()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def _spec(folder: Path, name: str, template: str | None) -> str:
    """A spec file whose `export.format` (line 4, column 11) is `template`."""
    value = json.dumps(template if template is not None else "csv")  # JSON strings are YAML
    (folder / f"{name}.yaml").write_text(
        f"version: 1\nname: {name}\nexport:\n  format: {value}\n", encoding="utf-8"
    )
    return f"{name}.yaml"


def _validate(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exportspec", "validate", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_limited,
    )


@pytest.mark.parametrize(
    ("template", "error"),
    [(case["template"], case["error"]) for case in HOSTILE],
    ids=[case["template"][:40] for case in HOSTILE],
)
def test_a_hostile_template_is_a_located_error(template: str, error: str, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "hostile", template)
    done = _validate(tmp_path, spec)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    located = re.compile(rf"^hostile\.yaml:4:11: error: .*{re.escape(error)}", re.MULTILINE)
    assert located.search(output), output[-4000:]


def test_specs_after_one_that_ran_out_of_memory_are_still_checked(tmp_path: Path) -> None:
    files = [
        _spec(tmp_path, "a-render", "{{ 'x' * 10**12 }}"),  # fails while rendering
        _spec(tmp_path, "b-validate", "{{ '%*d' % (999999999, 1) }}"),  # while validating
        _spec(tmp_path, "c-good", None),
        _spec(tmp_path, "d-bad", "cvs"),
    ]
    done = _validate(tmp_path, *files, "--output-format", "json")
    assert done.returncode == 1, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    report = json.loads(done.stdout)
    results = {Path(s["path"]).stem: s for s in report["specs"]}
    assert [results[n]["ok"] for n in sorted(results)] == [False, False, True, False]
    for name in ("a-render", "b-validate"):
        [diagnostic] = results[name]["diagnostics"]
        assert (diagnostic["line"], diagnostic["column"]) == (4, 11)
        assert "MemoryError" in diagnostic["message"]
    assert "is not one of" in results["d-bad"]["diagnostics"][0]["message"]
