"""Run records on their own: what `run_record` writes is what the schema describes, and what
`load_run_record` reads back for `rerun`; every bad record in tests/executor/data/bad-records
is an invalid input located at its line and field."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from exportspec.errors import SpecInvalidError
from exportspec.gitops.report import format_diagnostic
from exportspec.run.models import ExportRequest, RunResult
from exportspec.run.records import load_run_record, run_record, write_run_record
from exportspec.schemas import RUN_RECORD_SCHEMA, load_schema, validator
from exportspec.spec.compile import canonical_json

DATA = Path(__file__).parent.parent / "executor" / "data"
BAD_RECORDS = DATA / "bad-records"
EXPECTED: dict[str, str] = json.loads((BAD_RECORDS / "expected.json").read_text())
STARTED = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def _result(output: Path, *, rerun_of: dict[str, Any] | None = None) -> RunResult:
    body = canonical_json({"format": "csv", "filter": {"type": "all"}})
    request = ExportRequest(
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        export_format="csv",
        name="vip",
        spec_path="specs/vip.yaml",
        spec_sha256="a" * 64,
        variables={"segment": 3, "label": "ž"},
        now="2026-03-01T00:00:00Z",
        rerun_of=rerun_of,
    )
    return RunResult(
        request=request,
        url="https://api.example.com/data/v2/projects/tok/customers/export",
        base_url="https://api.example.com",
        project_token="tok",
        output_path=output,
        status=200,
        attempts=2,
        started_at=STARTED,
        finished_at=STARTED + dt.timedelta(seconds=1.5),
        size=12,
        sha256="b" * 64,
        rows=3,
    )


def _properties(schema: dict[str, Any], node: dict[str, Any]) -> set[str]:
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return set(node.get("properties", {}))


def test_the_schema_describes_every_field_a_record_has(tmp_path: Path) -> None:
    first = run_record(_result(tmp_path / "out.csv"))
    rerun = {
        "record": "out.csv.run.json",
        "record_sha256": "c" * 64,
        "started_at": "2026-03-01T09:30:00Z",
        "output_sha256": "b" * 64,
    }
    again = run_record(_result(tmp_path / "out.csv", rerun_of=rerun))
    schema = load_schema(RUN_RECORD_SCHEMA)
    split_only = {"parts"}  # a split export's (tests/executor/test_split.py)
    for record in (first, again):
        validator(RUN_RECORD_SCHEMA).validate(json.loads(json.dumps(record)))
        assert set(record) == set(schema["properties"]) - split_only == set(schema["required"])
        for key, value in record.items():
            if isinstance(value, dict) and key not in ("variables",):
                described = _properties(schema, schema["properties"][key]) - split_only
                assert set(value) == described, key


def test_a_written_record_reads_back_for_a_rerun(tmp_path: Path) -> None:
    result = _result(tmp_path / "out.csv")
    path = write_run_record(result)
    assert isinstance(path, Path)
    stored = load_run_record(path)
    assert stored.request.body == result.request.body
    assert stored.request.body_sha256 == result.request.body_sha256
    assert (stored.request.name, stored.request.spec_path, stored.request.now) == (
        "vip",
        "specs/vip.yaml",
        "2026-03-01T00:00:00Z",
    )
    assert stored.request.variables == {"segment": 3, "label": "ž"}
    assert stored.request.export_format == "csv"
    assert (stored.base_url, stored.project_token) == ("https://api.example.com", "tok")
    assert stored.output_path == (tmp_path / "out.csv").as_posix()
    assert stored.request.rerun_of == {
        "record": path.as_posix(),
        "record_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "started_at": "2026-03-01T09:30:00Z",
        "output_sha256": "b" * 64,
    }
    # The replay's own record is a record too.
    replay = replace(result, request=stored.request)
    assert load_run_record(write_run_record(replay)).request.rerun_of is not None


def test_the_valid_record_reads() -> None:
    stored = load_run_record(DATA / "valid.run.json")
    assert stored.request.name == "x"
    assert stored.output_path == "exports/x.csv"


def test_every_bad_record_file_has_an_expectation() -> None:
    names = sorted(p.name.removesuffix(".run.json") for p in BAD_RECORDS.glob("*.run.json"))
    assert names == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_bad_record_is_located(name: str) -> None:
    path = BAD_RECORDS / f"{name}.run.json"
    with pytest.raises(SpecInvalidError) as caught:
        load_run_record(path)
    first = caught.value.diagnostics[0]
    assert first.file == str(path)
    assert format_diagnostic(first).startswith(f"{path}:{EXPECTED[name]}")


def test_a_record_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecInvalidError) as caught:
        load_run_record(tmp_path / "missing.run.json")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.message.startswith("cannot read the run record: ")
