"""Pipeline: many files in one run, duplicate names across files, folders, compile, and
Python's limits (memory, recursion, integer digits) met while checking as located errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from exportspec.errors import SpecInvalidError, UsageError
from exportspec.spec import pipeline
from exportspec.spec.load import load_bytes
from exportspec.spec.models import Diagnostic, LoadedDocument, Position
from exportspec.spec.pipeline import check_document, check_specs, compile_spec
from exportspec.spec.variables import RenderInputs, parse_var_assignments

NOW = dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC)
INPUTS = RenderInputs(now=NOW)


def spec(name: str, extra: str = "") -> str:
    return f"version: 1\nname: {name}\n{extra}export:\n  format: csv\n"


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_duplicate_names_across_files_are_flagged_at_the_later_name(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", spec("same"))
    write(tmp_path, "b.toml", 'version = 1\nname = "same"\n\n[export]\nformat = "csv"\n')
    write(tmp_path, "c.yaml", spec("other"))
    results = {r.path.name: r for r in check_specs([tmp_path], INPUTS)}
    assert results["a.yaml"].ok
    assert results["c.yaml"].ok
    duplicate = results["b.toml"]
    assert not duplicate.ok
    [diagnostic] = duplicate.diagnostics
    assert diagnostic.rule == "duplicate-name"
    assert diagnostic.position == Position(2, 8)
    assert "a.yaml" in diagnostic.message


def test_duplicate_name_is_reported_beside_the_files_other_errors(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", spec("same"))
    write(tmp_path, "b.yaml", "version: 1\nname: same\nexport:\n  format: cvs\n")
    results = {r.path.name: r for r in check_specs([tmp_path], INPUTS)}
    rules = sorted(d.rule for d in results["b.yaml"].diagnostics)
    assert rules == ["duplicate-name", "schema-enum"]


def test_one_bad_file_does_not_hide_the_others(tmp_path: Path) -> None:
    write(tmp_path, "1-broken.yaml", "version: 1\nname: [\n")
    write(tmp_path, "2-invalid.yaml", "version: 1\nname: x\nexport:\n  format: xml\n")
    write(tmp_path, "3-good.yaml", spec("good"))
    write(tmp_path, "4-undefined.yaml", spec("u").replace("format: csv", "format: '{{ nope }}'"))
    write(tmp_path, "5-not-utf8.toml", "")
    (tmp_path / "5-not-utf8.toml").write_bytes(b'name = "\xff"\n')
    results = check_specs([tmp_path], INPUTS)
    assert [r.path.name for r in results] == [
        "1-broken.yaml",
        "2-invalid.yaml",
        "3-good.yaml",
        "4-undefined.yaml",
        "5-not-utf8.toml",
    ]
    assert [r.ok for r in results] == [False, False, True, False, False]
    assert [d.rule for r in results for d in r.diagnostics] == [
        "syntax",
        "schema-enum",
        "template",
        "encoding",
    ]
    assert all(d.file == str(r.path) for r in results for d in r.diagnostics)


def test_every_problem_in_a_file_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "many.yaml",
        "version: 2\nname: Bad\nexport:\n  format: cvs\n  timezone: Mars/Base\n  extra: 1\n",
    )
    [result] = check_specs([path], INPUTS)
    assert [d.position.line for d in result.diagnostics if d.position] == [1, 2, 4, 5, 6]


def test_validate_of_a_folder_recurses_for_spec_suffixes_only(tmp_path: Path) -> None:
    write(tmp_path, "top.yaml", spec("top"))
    write(tmp_path, "nested/deeper/one.yml", spec("one"))
    write(tmp_path, "nested/two.toml", 'version = 1\nname = "two"\n\n[export]\nformat = "csv"\n')
    write(tmp_path, "nested/vars.json", '{"not": "a spec"}')
    write(tmp_path, "nested/notes.txt", "not a spec")
    write(tmp_path, "nested/README.md", "# not a spec")
    write(tmp_path, "nested/spec.yaml.bak", "garbage: [")
    results = check_specs([tmp_path], INPUTS)
    found = sorted(r.path.relative_to(tmp_path).as_posix() for r in results)
    assert found == ["nested/deeper/one.yml", "nested/two.toml", "top.yaml"]
    assert all(r.ok for r in results)


def test_a_file_given_twice_is_checked_once(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", spec("a"))
    results = check_specs([path, tmp_path, path], INPUTS)
    assert len(results) == 1
    assert results[0].ok


def test_var_declared_by_one_spec_of_many_is_fine(tmp_path: Path) -> None:
    decl = "vars:\n  seg: {type: integer, default: 0}\n"
    write(tmp_path, "a.yaml", spec("a", decl))
    write(tmp_path, "b.yaml", spec("b"))
    inputs = RenderInputs(NOW, (parse_var_assignments(["seg=3"]),))
    assert all(r.ok for r in check_specs([tmp_path], inputs))
    with pytest.raises(UsageError, match="'nobody'"):
        check_specs([tmp_path], RenderInputs(NOW, (parse_var_assignments(["nobody=3"]),)))


def test_now_is_identical_for_every_spec_in_one_run(tmp_path: Path) -> None:
    body = "export:\n  format: csv\n  execution_time: '{{ now | timestamp }}'\n"
    write(tmp_path, "a.yaml", "version: 1\nname: a\n" + body)
    write(tmp_path, "b.yaml", "version: 1\nname: b\n" + body)
    results = check_specs([tmp_path], INPUTS)
    bodies = {r.compiled.body for r in results if r.compiled}
    assert bodies == {b'{"execution_time":1768473000,"format":"csv"}'}


def test_compile_spec_gives_canonical_bytes_and_hash(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.yaml",
        "version: 1\nname: a\nexport:\n  timezone: Europe/Bratislava\n  format: csv\n"
        "  attributes:\n    type: some\n    list:\n      - {type: property, property: příjmení}\n",
    )
    compiled = compile_spec(path, INPUTS).compiled
    assert compiled is not None
    assert compiled.body == json.dumps(
        json.loads(compiled.body), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")
    assert "příjmení".encode() in compiled.body
    assert compiled.name == "a"
    assert len(compiled.sha256) == 64


def test_compile_spec_raises_with_every_diagnostic(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "version: 1\nname: a\nexport:\n  format: cvs\n  zone: x\n")
    with pytest.raises(SpecInvalidError) as info:
        compile_spec(path, INPUTS)
    assert [d.position for d in info.value.diagnostics] == [Position(4, 11), Position(5, 3)]


def test_warnings_do_not_make_a_spec_invalid(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "version: 1\nname: a\nexport:\n  format: native_json\n")
    [result] = check_specs([path], INPUTS)
    assert result.ok
    assert [d.severity for d in result.diagnostics] == ["warning"]


# --------------------------------------------------------------------------- Python's limits


def _with_export(text: str, **export: object) -> LoadedDocument:
    """A spec loaded from `text`, then given export values no loader makes (an integer of
    5,000 digits), as a template could."""
    document = load_bytes(text.encode(), path=Path("spec.yaml"))
    data = {**document.data, "export": {**document.data["export"], **export}}
    return dataclasses.replace(document, data=data)


LIMITS_SPEC = (
    "version: 1\nname: a\nexport:\n  format: csv\n  execution_time: 1\n"
    "  filter: {type: segment, segmentation_id: x, segment_index: 0}\n"
)


def test_an_integer_too_long_for_json_text_is_a_located_error() -> None:
    # execution_time has a maximum now: the check that refuses it meets the digit limit
    result = check_document(_with_export(LIMITS_SPEC, execution_time=10**5000), INPUTS)
    [diagnostic] = result.diagnostics
    assert not result.ok
    assert diagnostic.json_path == ("export", "execution_time")
    assert diagnostic.position is not None
    assert "at most 253402300799" in diagnostic.message  # said without writing it out


def test_a_failure_while_building_a_validation_message_is_a_located_error() -> None:
    segment = {"type": "segment", "segmentation_id": "x", "segment_index": 10**5000}
    document = _with_export(LIMITS_SPEC, filter=segment)  # its maximum's message quotes it
    [diagnostic] = check_document(document, INPUTS).diagnostics
    assert diagnostic.rule == "too-large"
    assert "Exceeds the limit (4300 digits)" in diagnostic.message


def test_a_memory_error_while_validating_blames_the_largest_template(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def out_of_memory(*args: object, **kwargs: object) -> list[Diagnostic]:
        raise MemoryError

    monkeypatch.setattr(pipeline, "validate_document", out_of_memory)
    text = (
        "version: 1\nname: a\nexport:\n  format: \"{{ 'csv' }}\"\n"
        "  timezone: \"{{ 'x' * 1000 }}\"\noutput:\n  path: '{{ name }}.csv'\n"
    )
    result = check_document(load_bytes(text.encode(), path=Path("spec.yaml")), INPUTS)
    [diagnostic] = result.diagnostics
    assert not result.ok
    assert diagnostic.json_path == ("export", "timezone")
    assert diagnostic.position == Position(5, 13)
    assert diagnostic.message == (
        "this value could not be checked: MemoryError: out of memory (the value is too large)"
    )
