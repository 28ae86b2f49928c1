"""Property tests: random and mutated specs never crash the loader, renderer or validator.

Whatever goes in, the outcome is either a compiled body (valid canonical JSON, no error
diagnostics) or at least one error diagnostic naming the file, with a line and column
whenever the file parsed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportspec.spec.load import LoadError, load_bytes
from exportspec.spec.pipeline import check_document
from exportspec.spec.variables import RenderInputs

CASES = Path(__file__).parent / "cases"
INPUTS = RenderInputs(now=dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC))
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

BASE_SPECS: list[tuple[str, bytes]] = sorted(
    (path.suffix, path.read_bytes())
    for kind in ("valid", "invalid")
    for path in (CASES / kind).glob("*/spec.*")
    if path.stat().st_size < 4000  # leave the alias bomb to its own test
)
BASE_DATA: list[dict[str, Any]] = []
for _suffix, _raw in BASE_SPECS:
    try:
        _data = load_bytes(_raw, path=Path("spec" + _suffix)).data
    except LoadError:
        continue
    if isinstance(_data, dict) and "export" in _data:
        BASE_DATA.append(_data)


def check_outcome(raw: bytes, suffix: str) -> None:
    """The invariant: a body, or located diagnostics; never an exception."""
    path = Path("spec" + suffix)
    shown = str(path)
    try:
        document = load_bytes(raw, path=path)
    except LoadError as exc:
        diagnostic = exc.diagnostic
        assert diagnostic.file == shown
        assert diagnostic.severity == "error"
        assert diagnostic.message
        return
    result = check_document(document, INPUTS)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if result.compiled is not None:
        assert not errors
        body = json.loads(result.compiled.body)
        assert isinstance(body, dict)
        assert "format" in body
    else:
        assert errors, "an invalid spec must say why"
    for diagnostic in result.diagnostics:
        assert diagnostic.file == shown
        assert diagnostic.message
        assert diagnostic.position is not None, diagnostic
        assert diagnostic.position.line >= 1
        assert diagnostic.position.column >= 1


# --------------------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["csv", "table_json", "some", "segment", "all", "id", "property", "-1"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

#: Template pieces: names, filters, helpers, escapes. No loops or `*`: a sandboxed template
#: can still burn CPU or memory (`range`, `'x' * 10**9`), which is not what this checks.
TEMPLATE_PIECES = [
    "{{", "}}", "{%", "%}", "{#", "#}", " ", "now", "name", "seg", "missing", "|", "timestamp",
    "start_of_day", "days_before", "to_datetime", "(", ")", ",", "'", '"', "1", "-1", "7", ".",
    "__class__", "__globals__", "[", "]", "if", "else", "endif", "+", "~", "'Europe/Bratislava'",
    "'2026-01-01'", "isoformat()", "lipsum", "cycler", "set", "=", "{", "}",
]  # fmt: skip
templates = st.lists(st.sampled_from(TEMPLATE_PIECES), min_size=1, max_size=12).map("".join)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*path, i))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any, *, delete: bool = False) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if delete and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _replace(value[head], rest, new, delete=delete)
        return copy
    copy_list = list(value)
    if delete and not rest:
        del copy_list[head]
    else:
        copy_list[head] = _replace(value[head], rest, new, delete=delete)
    return copy_list


@st.composite
def mutated_data(draw: st.DrawFn) -> Any:
    data: Any = draw(st.sampled_from(BASE_DATA))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["delete", "json", "template", "insert"]))
        if action == "delete" and path:
            data = _replace(data, path, None, delete=True)
        elif action == "json":
            data = _replace(data, path, draw(json_values))
        elif action == "template":
            data = _replace(data, path, draw(templates))
        else:
            target = data
            for part in path:
                target = target[part]
            if isinstance(target, dict):
                key = draw(st.text(max_size=10) | templates)
                data = _replace(data, path, {**target, key: draw(json_values)})
    return data


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    items = (f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None)
    return "{" + ", ".join(items) + "}"


def to_toml(data: Any) -> bytes:
    """A tiny TOML writer for JSON data (TOML has no null: null values are left out)."""
    if not isinstance(data, dict):
        data = {"value": data}
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in data.items() if v is not None]
    return ("\n".join(lines) + "\n").encode()


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(mutated_data())
def test_mutated_specs_as_yaml_never_crash(data: Any) -> None:
    check_outcome(json.dumps(data, ensure_ascii=False).encode(), ".yaml")


@SETTINGS
@given(mutated_data())
def test_mutated_specs_as_toml_never_crash(data: Any) -> None:
    check_outcome(to_toml(data), ".toml")


@SETTINGS
@given(
    st.sampled_from(BASE_SPECS),
    st.integers(min_value=0, max_value=4000),
    st.binary(max_size=8) | st.text(max_size=8).map(str.encode),
    st.integers(min_value=0, max_value=6),
)
def test_spec_text_with_random_insertions_and_deletions_never_crashes(
    base: tuple[str, bytes], offset: int, insert: bytes, delete: int
) -> None:
    suffix, raw = base
    at = offset % (len(raw) + 1)
    check_outcome(raw[:at] + insert + raw[at + delete :], suffix)


YAML_PIECES = [
    "version: 1\n", "name: x\n", "export:\n", "  format: csv\n", "  filter:\n",
    "    type: segment\n", "- ", "? ", ": ", "&a ", "*a ", "!!str ", "!x ", "[", "]", "{", "}",
    ",", "'", '"', "|\n", ">-\n", "---\n", "...\n", "#", "\t", "  ", "\n", "~", "yes", "0755",
    ".nan", "{{ seg }}", "%YAML 1.2\n",
]  # fmt: skip
TOML_PIECES = [
    "version = 1\n", 'name = "x"\n', "[export]\n", 'format = "csv"\n',
    "[[export.attributes.list]]\n", "[", "]", "[[", "]]", "{", "}", "=", ",", ".", '"', "'",
    '"""', "'''", "a", "export", "\n", "#", " ", "1", "1.5", "nan", "inf", "2026-01-01",
    "T12:00:00Z", "true", "\\u00e9", "\\",
]  # fmt: skip


@SETTINGS
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=25).map("".join))
def test_random_yaml_text_never_crashes(text: str) -> None:
    check_outcome(text.encode(), ".yaml")


@SETTINGS
@given(st.lists(st.sampled_from(TOML_PIECES), max_size=25).map("".join))
def test_random_toml_text_never_crashes(text: str) -> None:
    check_outcome(text.encode(), ".toml")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([".yaml", ".yml", ".toml"]))
def test_random_bytes_never_crash(raw: bytes, suffix: str) -> None:
    check_outcome(raw, suffix)


@SETTINGS
@given(templates, st.sampled_from(["format", "timezone", "execution_time", "segment_index"]))
def test_random_templates_never_crash_the_renderer(template: str, field: str) -> None:
    spec: dict[str, Any] = {
        "version": 1,
        "name": "t",
        "vars": {"seg": {"type": "integer", "default": 1}},
        "export": {
            "format": "csv",
            "filter": {"type": "segment", "segmentation_id": "x", "segment_index": 0},
        },
    }
    if field == "segment_index":
        spec["export"]["filter"]["segment_index"] = template
    else:
        spec["export"][field] = template
    check_outcome(json.dumps(spec).encode(), ".yaml")
    check_outcome(to_toml(spec), ".toml")
