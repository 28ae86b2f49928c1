"""The lock file module on its own: what `build_lock` writes, `load_lock` reads back, and every
bad lock in tests/gitops/data/locks is a LockFileError located at its line and field."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from exportspec.errors import ConfigError, ExitCode
from exportspec.gitops.lock import (
    LockFileError,
    build_lock,
    load_lock,
    read_lock,
    write_lock,
)
from exportspec.gitops.project import Project
from exportspec.gitops.report import format_diagnostic
from exportspec.schemas import LOCK_SCHEMA, load_schema, validator
from exportspec.spec.compile import canonical_json
from exportspec.spec.models import CompiledBody, SpecResult
from tests.gitops.conftest import DATA

LOCKS = DATA / "locks"
EXPECTED: dict[str, str] = json.loads((LOCKS / "expected.json").read_text(encoding="utf-8"))
NOW = dt.datetime(2026, 5, 1, 8, tzinfo=dt.UTC)


def compiled_result(
    folder: Path, name: str, body: dict[str, Any], file: str = "", **variables: Any
) -> SpecResult:
    """A valid spec's result: its file `specs/FILE.yaml` (default: the name) and its body."""
    spec = folder / "specs" / f"{file or name}.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(f"version: 1\nname: {name}\nexport: {{format: csv}}\n")
    raw = canonical_json(body)
    compiled = CompiledBody(
        spec_path=spec,
        spec_sha256=hashlib.sha256(spec.read_bytes()).hexdigest(),
        name=name,
        body=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        variables=variables,
        now=NOW,
        output_path=None,
        format=str(body["format"]),
    )
    return SpecResult(spec, compiled, ())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    return Project(root=tmp_path)


def test_what_build_lock_writes_load_lock_reads_back(project: Project) -> None:
    results = [
        compiled_result(
            project.root, "b-segment", {"format": "csv", "timezone": "Europe/Bratislava"}
        ),
        compiled_result(project.root, "a-all", {"format": "table_json"}, segment=3, label="ž 😀"),
    ]
    built, text = build_lock(results, project, environment="staging", now="2026-05-01T08:00:00Z")
    write_lock(built.path, text)
    assert built.path == Path("exportspec.lock")
    loaded = load_lock(built.path)
    assert loaded == built
    assert list(json.loads(text)["specs"]) == ["a-all", "b-segment"]
    assert loaded.entries["a-all"].path == "specs/a-all.yaml"
    assert loaded.entries["a-all"].variables == {"segment": 3, "label": "ž 😀"}
    # The same inputs give the same bytes: a lock diff shows only real changes.
    assert build_lock(results, project, environment="staging", now="2026-05-01T08:00:00Z")[1] == (
        text
    )


def test_kept_entries_are_written_again_as_they_were(project: Project) -> None:
    first = [compiled_result(project.root, "one", {"format": "csv"})]
    old, _ = build_lock(first, project, environment=None, now="2026-05-01T08:00:00Z")
    second = [compiled_result(project.root, "two", {"format": "table_json"})]
    new, text = build_lock(
        second, project, environment=None, now="2026-05-01T08:00:00Z", kept=old.entries
    )
    assert set(new.entries) == {"one", "two"}
    assert new.entries["one"] == old.entries["one"]
    write_lock(new.path, text)
    assert load_lock(new.path) == new


def test_what_build_lock_writes_is_exactly_what_the_schema_describes(project: Project) -> None:
    results = [compiled_result(project.root, "one", {"format": "csv"}, segment=1)]
    _, text = build_lock(results, project, environment=None, now="2026-05-01T08:00:00Z")
    document = json.loads(text)
    validator(LOCK_SCHEMA).validate(document)
    schema = load_schema(LOCK_SCHEMA)
    assert set(schema["properties"]) == set(document) == set(schema["required"])
    entry = schema["$defs"]["entry"]
    split_only = {"split", "parts"}  # a split spec's entry (tests/gitops/test_split_lock.py)
    assert set(entry["properties"]) - split_only == set(document["specs"]["one"])
    format_2 = schema["allOf"][0]["then"]["properties"]["specs"]["additionalProperties"]
    assert set(entry["properties"]) - split_only == {*entry["required"], *format_2["required"]}
    assert document["lock_version"] == 2
    assert document["specs"]["one"]["now_paths"] == []
    assert document["specs"]["one"]["output_path"] is None


def test_an_absent_lock_is_an_empty_one(project: Project) -> None:
    lock = read_lock(project)
    assert not lock.exists
    assert lock.entries == {}
    assert lock.now_text is None


def test_the_valid_lock_reads() -> None:
    lock = load_lock(DATA / "valid.lock")
    assert sorted(lock.entries) == ["daily", "everyone", "segment"]
    assert (lock.environment, lock.now_text) == ("staging", "2026-05-01T08:00:00Z")
    assert lock.entries["segment"].body["timezone"] == "Europe/Bratislava"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_bad_lock_is_located(name: str) -> None:
    path = LOCKS / f"{name}.lock"
    with pytest.raises(LockFileError) as caught:
        load_lock(path)
    assert caught.value.exit_code == ExitCode.CONFIG
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.file == str(path)
    assert format_diagnostic(diagnostic).startswith(f"{path}:{EXPECTED[name]}")
    assert str(caught.value) == (
        f"{path} is invalid; fix it, or delete it and run `exportspec lock` to write it again"
    )


def test_a_lock_the_yaml_loader_cannot_position_still_reads(tmp_path: Path) -> None:
    # libyaml refuses escaped surrogate pairs; JSON has them. The data is JSON's.
    text = (DATA / "valid.lock").read_text(encoding="utf-8")
    path = tmp_path / "exportspec.lock"
    path.write_text(text.replace('"zone": "Europe/Bratislava"', '"zone": "\\ud83d\\ude00"'))
    assert load_lock(path).entries["segment"].variables["zone"] == "😀"
    # A schema error is then named by its field, without a line.
    path.write_text(path.read_text().replace('"lock_version": 1', '"lock_version": 3'))
    with pytest.raises(LockFileError) as caught:
        load_lock(path)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.position is None
    assert diagnostic.json_path == ("lock_version",)


def test_a_lock_that_cannot_be_read_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the lock file"):
        load_lock(tmp_path)  # a folder


def test_a_lock_with_a_byte_order_mark_reads(tmp_path: Path) -> None:
    path = tmp_path / "exportspec.lock"
    path.write_bytes(b"\xef\xbb\xbf" + (DATA / "valid.lock").read_bytes())
    assert load_lock(path).now_text == "2026-05-01T08:00:00Z"
