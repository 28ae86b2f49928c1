"""schema_diagnostics: a failed oneOf/anyOf shows one best-matching branch error, located."""

from __future__ import annotations

from pathlib import Path

from jsonschema import Draft202012Validator

from exportspec.spec.load import load_bytes
from exportspec.spec.validate import schema_diagnostics

SCHEMA = {
    "type": "object",
    "properties": {
        "target": {
            "oneOf": [
                {"required": ["bucket"], "properties": {"bucket": {"type": "string"}}},
                {"required": ["host"], "properties": {"port": {"type": "integer"}}},
            ]
        }
    },
}  # fmt: skip


def test_a_failed_one_of_shows_one_branch_error_not_a_wall() -> None:
    document = load_bytes(b"target:\n  bucket: 5\n", path=Path("t.yaml"))
    (diagnostic,) = schema_diagnostics(Draft202012Validator(SCHEMA), document, document.data)
    # jsonschema's best_match: one branch's error, instead of "is not valid under any of...".
    assert diagnostic.message == "missing required key 'host' in 'target'"
    assert diagnostic.json_path == ("target",)
    assert diagnostic.position is not None and diagnostic.position.line == 1  # at `target:`


# --- body_value_problems: execution_time past the year 9999, shared with the sandbox ------


def test_execution_time_in_milliseconds_is_called_milliseconds() -> None:
    from exportspec.spec.rules import body_value_problems

    ((path, message, rule),) = body_value_problems({"execution_time": 1735689600000})
    assert path == ("execution_time",) and rule == "execution-time"
    assert message == (
        "1735689600000 looks like milliseconds (13 digits, as JavaScript's Date.now() gives): "
        "execution_time is Unix seconds, write 1735689600"
    )


def test_execution_time_is_capped_at_the_end_of_9999() -> None:
    from exportspec.spec.rules import MAX_EXECUTION_TIME, body_value_problems

    assert MAX_EXECUTION_TIME == 253402300799  # 9999-12-31T23:59:59Z
    assert body_value_problems({"execution_time": MAX_EXECUTION_TIME}) == []
    ((_, message, _),) = body_value_problems({"execution_time": MAX_EXECUTION_TIME + 1})
    assert message.startswith("253402300800 is after the end of the year 9999")
    ((_, message, _),) = body_value_problems({"execution_time": 999_999_999_999})
    assert "after the end of the year 9999" in message  # 12 digits: not milliseconds


def test_every_value_from_10_to_the_12_looks_like_milliseconds() -> None:
    from exportspec.spec.rules import body_value_problems

    for value, end in [
        (10**12, "write 1000000000"),
        (1.7356896e12, "write 1735689600"),  # a whole float, as JSON may carry it
        (10**16, "at most 253402300799 (9999-12-31T23:59:59Z)"),
    ]:
        ((_, message, _),) = body_value_problems({"execution_time": value})
        assert "looks like milliseconds" in message and message.endswith(end), message
    ((_, huge, _),) = body_value_problems({"execution_time": 10**5000})  # past int-to-text
    assert huge.startswith("this number looks like milliseconds (thousands of digits")


def test_values_the_schema_refuses_are_left_to_the_schema() -> None:
    from exportspec.spec.rules import body_value_problems

    for value in (True, "1735689600000", 1.5e12 + 0.5, None, -5, [10**13]):
        assert body_value_problems({"execution_time": value}) == []
    assert body_value_problems({}) == []


def test_two_modes_of_one_consent_category_are_two_columns() -> None:
    from exportspec.spec.validate import validate_document

    text = b"""version: 1
name: t
export:
  format: csv
  attributes:
    type: some
    list:
      - {type: consent, category: newsletter, mode: valid}
      - {type: consent, category: newsletter, mode: until}
      - {type: consent, category: newsletter, mode: valid}
      - {type: recommendation, id: r, fillWithRandom: true, size: 2}
      - {type: recommendation, id: r, fillWithRandom: true, size: 3}
"""
    document = load_bytes(text, path=Path("t.yaml"))
    (duplicate,) = validate_document(document, document.data)
    assert duplicate.rule == "duplicate-column"
    assert (
        duplicate.message
        == "duplicate column consent 'newsletter (valid)': already listed as item 0"
    )
    assert duplicate.json_path == ("export", "attributes", "list", 2)
