"""Spec cases as files: tests/cases/{valid,invalid}/<case>/, found and parametrised automatically.

A case folder holds one `spec.yaml`, `spec.yml` or `spec.toml`, and optionally:
- `args`: extra command-line arguments, one per line (paths are relative to the case);
- valid cases: `expected.json`, the compiled body;
- invalid cases: `expected`, one `LINE:COLUMN: message fragment` per line; every line
  must match a reported error at exactly that position, and every reported error must
  be listed.
Unless `args` sets `--now`, cases run with `--now 2026-01-15T10:30:00Z`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import RunCli

CASES = Path(__file__).parent / "cases"
PINNED_NOW = ["--now", "2026-01-15T10:30:00Z"]


def _cases(kind: str) -> list[Path]:
    return sorted(p for p in (CASES / kind).iterdir() if p.is_dir())


def _spec(case: Path) -> Path:
    specs = [p for p in case.iterdir() if p.stem == "spec"]
    assert len(specs) == 1, f"{case} must hold exactly one spec.* file"
    return specs[0]


def _args(case: Path) -> list[str]:
    file = case / "args"
    if not file.exists():
        return PINNED_NOW
    args = [line.replace("{case}", str(case)) for line in file.read_text().splitlines() if line]
    return args if "--now" in args else [*args, *PINNED_NOW]


@pytest.mark.parametrize("case", _cases("valid"), ids=lambda p: p.name)
def test_valid_case_compiles_to_expected_body(case: Path, run_cli: RunCli) -> None:
    result = run_cli(["compile", str(_spec(case)), *_args(case)])
    assert result.exit_code == 0, result.explain()
    body = result.stdout_bytes
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    assert json.loads(body) == expected
    canonical = json.dumps(expected, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert body == canonical.encode(), "compiled body is not canonical JSON"
    assert "error" not in result.stderr


_EXPECTED_LINE = re.compile(r"^(?P<line>\d+):(?P<column>\d+): (?P<fragment>.+)$")


@pytest.mark.parametrize("case", _cases("invalid"), ids=lambda p: p.name)
def test_invalid_case_reports_located_errors(case: Path, run_cli: RunCli) -> None:
    spec = _spec(case)
    result = run_cli(["validate", str(spec), "--output-format", "json", *_args(case)])
    assert result.exit_code == 1, result.explain()
    report = json.loads(result.stdout)
    errors = [d for s in report["specs"] for d in s["diagnostics"] if d["severity"] == "error"]
    expected = [
        _EXPECTED_LINE.match(line)
        for line in (case / "expected").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert expected and all(expected), f"{case}/expected lines must be LINE:COLUMN: fragment"
    unmatched = list(errors)
    for want in expected:
        assert want is not None
        hits = [
            d
            for d in unmatched
            if d["line"] == int(want["line"])
            and d["column"] == int(want["column"])
            and want["fragment"] in d["message"]
        ]
        assert hits, f"no error at {want.group(0)!r}; got:\n{json.dumps(errors, indent=1)}"
        unmatched.remove(hits[0])
    assert not unmatched, f"unexpected errors:\n{json.dumps(unmatched, indent=1)}"
    assert "Traceback" not in result.stderr
