"""Renderer: date helpers, native values of lone expressions, the sandbox, statements
refused at their position, failures as TemplateFailure, compile-once."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from exportspec.spec import render as renderer
from exportspec.spec.helpers import days_after, days_before, start_of_day, timestamp
from exportspec.spec.load import load_bytes, load_document
from exportspec.spec.models import Position
from exportspec.spec.render import TemplateFailure, render_spec, render_template
from exportspec.spec.variables import RenderInputs

NOW = dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC)
BRATISLAVA = "Europe/Bratislava"


def render(source: str, **context: Any) -> Any:
    value, _ = render_template(source, {"now": NOW, "name": "spec", **context})
    return value


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01T00:00:00Z", 1767225600),
        ("2026-01-01T01:00:00+01:00", 1767225600),
        ("2026-01-01T00:00:00", 1767225600),  # naive: UTC
        ("2026-01-01", 1767225600),  # a date: its midnight, UTC
        (" 2026-01-01 ", 1767225600),
        (dt.date(2026, 1, 1), 1767225600),
        (dt.datetime(2026, 1, 1), 1767225600),  # naive datetime: UTC
        (dt.datetime(2026, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), 1767225600),
        (1767225600, 1767225600),
    ],
)
def test_timestamp_reads_datetimes_dates_and_iso_strings(value: Any, expected: int) -> None:
    assert timestamp(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", True, None, [1]])
def test_timestamp_rejects_what_is_not_a_moment(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        timestamp(value)


def test_start_of_day_in_a_zone() -> None:
    midnight = start_of_day(NOW, BRATISLAVA)
    assert midnight.isoformat() == "2026-01-15T00:00:00+01:00"
    assert timestamp(midnight) == 1768431600
    assert start_of_day(NOW).isoformat() == "2026-01-15T00:00:00+00:00"
    # 23:30 UTC is already the next day in Bratislava
    late = dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC)
    assert start_of_day(late, BRATISLAVA).isoformat() == "2026-01-16T00:00:00+01:00"


def test_start_of_day_on_dst_change_days() -> None:
    spring = start_of_day("2026-03-29T12:00:00Z", BRATISLAVA)  # clocks go forward at 02:00
    assert spring.isoformat() == "2026-03-29T00:00:00+01:00"
    autumn = start_of_day("2026-10-25T12:00:00Z", BRATISLAVA)  # clocks go back at 03:00
    assert autumn.isoformat() == "2026-10-25T00:00:00+02:00"


def test_days_before_is_calendar_days_across_dst() -> None:
    after_change = start_of_day("2026-03-30T12:00:00Z", BRATISLAVA)  # 00:00+02:00
    before = days_before(after_change, 1)
    assert before.isoformat() == "2026-03-29T00:00:00+01:00"
    assert timestamp(after_change) - timestamp(before) == 23 * 3600
    assert days_before(NOW, 7).isoformat() == "2026-01-08T10:30:00+00:00"
    assert days_after("2026-01-31", 1).isoformat() == "2026-02-01T00:00:00+00:00"


def test_unknown_zone_in_a_helper_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        start_of_day(NOW, "Mars/Base")


def test_helpers_are_filters_and_functions_in_templates() -> None:
    assert render("{{ now | timestamp }}") == 1768473000
    assert render("{{ timestamp(now) }}") == 1768473000
    assert render("{{ start_of_day(days_before(now, 7), 'Europe/Bratislava') | timestamp }}") == (
        1767826800
    )
    assert render("{{ (now | start_of_day('Europe/Bratislava')).isoformat() }}") == (
        "2026-01-15T00:00:00+01:00"
    )


# --------------------------------------------------------------------------- native values


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        ("{{ segment }}", {"segment": 3}, 3),
        ("{{segment}}", {"segment": -1}, -1),
        ("{{ segment + 1 }}", {"segment": 3}, 4),
        ("{{ items }}", {"items": [1, "a"]}, [1, "a"]),
        ("{{ flag }}", {"flag": False}, False),
        ("{{ none }}", {}, None),
        ("{{ 1.5 }}", {}, 1.5),
        ("{{ {'a': 1} }}", {}, {"a": 1}),
        ("{{ '0042' }}", {}, "0042"),
        (" {{ segment }}", {"segment": 3}, " 3"),
        ("{{ segment }} ", {"segment": 3}, "3 "),
        ("{{ segment }}{{ segment }}", {"segment": 3}, "33"),
        ("x{{ segment }}", {"segment": 3}, "x3"),
        ("{# comment #}{{ segment }}", {"segment": 3}, "3"),
        ("{{ segment if segment > 2 else -1 }}", {"segment": 3}, 3),
        ("{{ 'a' if segment > 2 else 'b' }}-x", {"segment": 1}, "b-x"),
        ("{{ 'ab' * 3 }}", {}, "ababab"),
        ("{{ [0] * 2 }}", {}, [0, 0]),
        ("{{ 2 ** 10 }}", {}, 1024),
        ("{{ 2 ** -1 }}", {}, 0.5),
        ("{{ '%05d' % 42 }}", {}, "00042"),
        ("{{ 7 % 3 }}", {}, 1),
    ],
)
def test_lone_expression_keeps_its_native_type(
    source: str, context: dict[str, Any], expected: Any
) -> None:
    value = render(source, **context)
    assert value == expected
    assert type(value) is type(expected)


def test_datetime_result_is_a_failure_with_a_hint() -> None:
    with pytest.raises(TemplateFailure, match=r"\| timestamp"):
        render("{{ now }}")


def test_undefined_name_is_a_failure_listing_known_names() -> None:
    with pytest.raises(
        TemplateFailure, match="'segmnet' is undefined; known names: name, now, segment"
    ):
        render("{{ segmnet }}", segment=1)
    with pytest.raises(TemplateFailure, match="undefined"):
        render("x{{ segmnet }}")  # also inside a longer string


def test_syntax_error_is_a_failure() -> None:
    with pytest.raises(TemplateFailure, match="template syntax error"):
        render("{{ fmt ")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ ().__class__.__base__.__subclasses__() }}",
        "x{{ joiner.__init__.__globals__ }}",
        "{{ now.__class__ }}",
        "{{ (1).__class__.__mro__ }}",
        "{{ [].append(1) }}",
        "{{ ''|attr('__class__') }}",
    ],
)
def test_sandbox_escape_attempts_become_template_failures(source: str) -> None:
    with pytest.raises(TemplateFailure) as info:
        render(source)
    assert "sandbox" in str(info.value) or "unsafe" in str(info.value)


# --------------------------------------------------------------------------- statements

HINT = "write a choice as {{ a if condition else b }}"


@pytest.mark.parametrize(
    ("source", "offset", "keyword"),
    [
        ("{% if segment %}a{% else %}b{% endif %}", 0, "if"),
        ("x{% for i in [1, 2] %}{{ i }}{% endfor %}", 1, "for"),
        ("{% set s = 1 %}{{ s }}", 0, "set"),
        ("{% macro m() %}x{% endmacro %}{{ m() }}", 0, "macro"),
        ("{% raw %}{{ segment }}{% endraw %}", 0, "raw"),
        ("{% with s = 1 %}{{ s }}{% endwith %}", 0, "with"),
        ("{{ segment }} {%- if segment -%} x {%- endif %}", 14, "if"),
        ("{%+ if segment %}x{% endif %}", 0, "if"),
        ("{% filter upper %}x{% endfilter %}", 0, "filter"),
        ("{% include 'x' %}", 0, "include"),
        ("{% if segment %}x", 0, "if"),  # unclosed: still a statement, not a syntax error
        ("{% endif %}", 0, "endif"),
        ("{%", 0, ""),
        # '{%' inside a string or a comment is not a tag; the tag after it is.
        ("{{ '{%' }} {% if x %}{% endif %}", 11, "if"),
        ("{# {% #}{% set x = 1 %}", 8, "set"),
        ("a\nb{{ '}}' }}\n  {% for x in y %}{% endfor %}", 16, "for"),
        ("a\r\nb\r{% for x in y %}", 5, "for"),
    ],
)
def test_a_statement_is_refused_at_its_offset_with_a_hint(
    source: str, offset: int, keyword: str
) -> None:
    with pytest.raises(TemplateFailure) as info:
        render(source, segment=3)
    assert info.value.offset == offset
    assert source[offset : offset + 2] == "{%"
    assert str(info.value).startswith(f"'{{% {keyword} %}}': statements are not allowed")
    assert HINT in str(info.value)


@pytest.mark.parametrize("source", ["{{ '{%' }}", "{# {% if x %} #}x", "{{ '%}' }}{{ 1 }}"])
def test_percent_braces_in_strings_and_comments_are_not_statements(source: str) -> None:
    render(source)


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("source", "context", "message"),
    [
        ("{{ 10 ** n }}", {"n": 5000}, "integer too long to write as JSON text"),
        ("{{ [10 ** n] }}", {"n": 5000}, "more than 4,300 digits"),
        ("{{ {'a': 10 ** 5000} }}", {}, "more than 4,300 digits"),
        ("n{{ 10 ** 5000 }}", {}, "ValueError: Exceeds the limit (4300 digits)"),
        ("{{ 1e308 * 10 }}", {}, "NaN or infinity"),
        ("{{ x * 10 }}", {"x": 1e308}, "NaN or infinity"),
        ("{{ " + "[" * 300 + "]" * 300 + " }}", {}, "RecursionError: the value is nested"),
        ("{{ range(10**9) | list }}", {}, "OverflowError: Range too big"),
        ("{{ 1 / 0 }}", {}, "ZeroDivisionError"),
    ],
)
def test_python_limits_become_template_failures(
    source: str, context: dict[str, Any], message: str
) -> None:
    with pytest.raises(TemplateFailure, match=re.escape(message)):
        render(source, **context)


def test_names_read_by_a_template_are_reported() -> None:
    _, names = render_template("{{ a + b }}-{{ now | timestamp }}", {"a": 1, "b": 2, "now": NOW})
    assert names == {"a", "b", "now"}


def test_each_distinct_template_is_compiled_once() -> None:
    renderer._compiled.cache_clear()
    for segment in range(5):
        render("{{ segment * 2 }}", segment=segment)
        render("n{{ segment }}", segment=segment)
    info = renderer._compiled.cache_info()
    assert info.misses == 2
    assert info.hits == 8


# --------------------------------------------------------------------------- the stage


def _document(text: str) -> Any:
    return load_bytes(text.encode(), path=Path("spec.yaml"))


def test_render_spec_renders_only_export_and_output() -> None:
    doc = _document(
        "version: 1\nname: n\ndescription: '{{ not rendered }}'\n"
        "vars:\n  seg: {type: integer, default: 2}\n"
        "export:\n  format: csv\n"
        "  filter: {type: segment, segmentation_id: x, segment_index: '{{ seg }}'}\n"
        "output:\n  path: 'out/{{ name }}-{{ seg }}.csv'\n"
    )
    rendered, problems = render_spec(doc, RenderInputs(now=NOW))
    assert problems == []
    assert rendered is not None
    assert rendered.data["export"]["filter"]["segment_index"] == 2
    assert rendered.data["output"]["path"] == "out/n-2.csv"
    assert rendered.data["description"] == "{{ not rendered }}"
    origin = rendered.origins[("export", "filter", "segment_index")]
    assert origin.source == "{{ seg }}"
    assert dict(origin.variables) == {"seg": 2}


def test_render_spec_reports_every_failing_template_at_its_position() -> None:
    doc = _document(
        "version: 1\nname: n\nexport:\n  format: '{{ a }}'\n  timezone: \"{{ ''.__class__ }}\"\n"
        "output:\n  path: '{{ b'\n"
    )
    rendered, problems = render_spec(doc, RenderInputs(now=NOW))
    assert rendered is None
    located = [(p.position.line, p.position.column) for p in problems if p.position]
    assert located == [(4, 11), (5, 13), (7, 9)]
    assert all(p.rule == "template" for p in problems)


def test_a_statement_is_located_in_the_file_while_it_is_unchanged(tmp_path: Path) -> None:
    text = "version: 1\nname: n\nexport:\n  format: 'x {% if a %}'\n" + r'  timezone: "\t{%"' + "\n"
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    document = load_document(path)
    _, problems = render_spec(document, RenderInputs(now=NOW))
    # the `{%` itself; an escape before it in the file: the value's position
    assert [p.position for p in problems] == [Position(4, 14), Position(5, 13)]
    path.write_text(text.replace("version: 1", "version: 1 "), encoding="utf-8")
    _, problems = render_spec(document, RenderInputs(now=NOW))
    assert [p.position for p in problems] == [Position(4, 11), Position(5, 13)]
