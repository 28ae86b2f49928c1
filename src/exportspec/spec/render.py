"""Stage 2, render: Jinja2 templates in the string values under `export` and `output`.

Rendering works on the parsed tree, never on file text, so a value can never inject
YAML. A string that is exactly one `{{ expression }}` yields the expression's native
value; any other template renders to a string. The environment is sandboxed and
strict: an undefined name is an error, not an empty string.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import re
import signal
import threading
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from types import FrameType
from typing import Any

from exportspec.spec.models import (
    TEMPLATED_SECTIONS,
    Diagnostic,
    JsonPath,
    LoadedDocument,
    RenderedSpec,
    TemplateOrigin,
    is_template,
)
from exportspec.spec.variables import RenderInputs, declaration_is_valid, resolve_variables

_LONE_EXPRESSION = re.compile(r"^\{\{(?P<expr>.*)\}\}$", re.DOTALL)


# --------------------------------------------------------------------------- helpers


def _to_datetime(value: Any) -> dt.datetime:
    """A datetime from a datetime, a date or an ISO 8601 string; naive values are UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date or date-time") from None
    else:
        raise TypeError(f"expected a date-time or ISO 8601 string, got {type(value).__name__}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def timestamp(value: Any) -> int:
    """Integer Unix seconds of a datetime, date or ISO 8601 string (naive means UTC)."""
    if isinstance(value, bool):
        raise TypeError("expected a date-time, got a boolean")
    if isinstance(value, int | float):
        return int(value)
    return int(_to_datetime(value).timestamp())


def to_datetime(value: Any) -> dt.datetime:
    """Parse a date-time (an aware UTC datetime when no offset is given)."""
    return _to_datetime(value)


def start_of_day(value: Any, tz: str = "UTC") -> dt.datetime:
    """Midnight at the start of `value`'s day in time zone `tz`."""
    zone = _zone(tz)
    local = _to_datetime(value).astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def days_before(value: Any, days: int) -> dt.datetime:
    """`days` calendar days before `value` (wall-clock arithmetic in its own zone)."""
    return _to_datetime(value) - dt.timedelta(days=int(days))


def days_after(value: Any, days: int) -> dt.datetime:
    """`days` calendar days after `value`."""
    return _to_datetime(value) + dt.timedelta(days=int(days))


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


HELPERS: dict[str, Callable[..., Any]] = {
    "timestamp": timestamp,
    "to_datetime": to_datetime,
    "start_of_day": start_of_day,
    "days_before": days_before,
    "days_after": days_after,
}


# --------------------------------------------------------------------------- environment


#: The largest string, list or integer (in digits) `*`, `**` and `%` may build in a template:
#: body values are small, and CI must not be taken down by `{{ "x" * 10**10 }}`.
MAX_TEMPLATE_VALUE = 100_000


def _too_big(operator: str, left: Any, right: Any) -> bool:
    """Would `left operator right` build an oversized value? Decided before computing it."""
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        return abs(left) > 1 and right * max(abs(left).bit_length(), 1) > MAX_TEMPLATE_VALUE * 3
    if operator == "*":
        for sized, count in ((left, right), (right, left)):
            if isinstance(sized, str | list | tuple) and isinstance(count, int):
                return len(sized) * count > MAX_TEMPLATE_VALUE
    if operator == "%" and isinstance(left, str):
        # printf-style widths and precisions ("%999999999d") allocate before any check can.
        return _widest(_PRINTF_SPECS, left) > MAX_TEMPLATE_VALUE
    return False


#: Where a format string keeps its widths and precisions: printf conversions (`%-09.3f`,
#: `%(name)12s`) and str.format fields (`{:>12}`). Other digits are text, not sizes.
_PRINTF_SPECS = re.compile(r"%(?:\([^)]*\))?[^a-zA-Z%]*")
_FORMAT_FIELDS = re.compile(r"\{[^{}]*\}")


def _widest(specs: re.Pattern[str], text: str) -> int:
    """The largest number inside the format specifications of `text`."""
    numbers = (int(n) for spec in specs.findall(text) for n in re.findall(r"\d+", spec))
    return max(numbers, default=0)


#: str methods and filters whose integer argument sets the size of what they build.
_WIDENING = frozenset(("center", "ljust", "rjust", "zfill", "expandtabs", "indent"))


def _call_too_big(
    name: str, subject: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> bool:
    """Would the str method or filter `name`, applied to `subject`, build an oversized
    string? `'x'.ljust(10**9)`, `s | replace('x', long)` and `'{:>999999999}'.format(1)`
    allocate in one C call, before any time limit can stop them."""
    if name == "generate_lorem_ipsum":  # Jinja's lipsum(n=5, html=True, min=20, max=100)
        given = (*args, *(5, True, 20, 100)[len(args) :])
        n, most = kwargs.get("n", given[0]), kwargs.get("max", given[3])
        words = n * most if isinstance(n, int) and isinstance(most, int) else 0
        return words * 8 > MAX_TEMPLATE_VALUE  # about 8 characters a word, with spaces
    if not isinstance(subject, str):
        return False
    if name in _WIDENING:
        lines = subject.count("\n") + subject.count("\t") + 1
        numbers = [v for v in (*args, *kwargs.values()) if isinstance(v, int)]
        return any(len(subject) + abs(n) * lines > MAX_TEMPLATE_VALUE for n in numbers)
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        new = str(args[1])
        hits = subject.count(args[0]) if args[0] else len(subject) + 1
        return len(subject) + hits * max(0, len(new) - len(args[0])) > MAX_TEMPLATE_VALUE
    if name in ("format", "format_map"):  # str.format: widths in the format fields
        return _widest(_FORMAT_FIELDS, subject) > MAX_TEMPLATE_VALUE
    if name == "printf":  # the `format` filter: `subject % args`
        return _widest(_PRINTF_SPECS, subject) > MAX_TEMPLATE_VALUE
    return False


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (a Jinja filter), refusing arguments that would build an oversized value."""
    from jinja2.exceptions import SecurityError

    skip = 1 if getattr(function, "jinja_pass_arg", None) else 0  # eval context first

    @functools.wraps(function)  # keeps jinja_pass_arg, so Jinja still passes the context
    def bounded(*args: Any, **kwargs: Any) -> Any:
        subject, rest = (args[skip], args[skip + 1 :]) if len(args) > skip else (None, ())
        if _call_too_big(name, subject, rest, kwargs):
            raise SecurityError(_TOO_BIG)
        return function(*args, **kwargs)

    return bounded


_TOO_BIG = f"the result would exceed {MAX_TEMPLATE_VALUE:,} characters, items or digits"


@cache
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BoundedEnvironment(ImmutableSandboxedEnvironment):
        """Jinja2's sandbox, plus a size bound on the operators that can build huge values."""

        intercepted_binops = frozenset(("*", "**", "%"))

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if _too_big(operator, left, right):
                raise SecurityError(
                    f"the result of {operator!r} would exceed {MAX_TEMPLATE_VALUE:,} "
                    "characters, items or digits"
                )
            return super().call_binop(context, operator, left, right)

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            method = getattr(obj, "__wrapped__", obj)  # str.format comes wrapped by the sandbox
            name = getattr(method, "__name__", "")
            if _call_too_big(name, getattr(method, "__self__", None), args, kwargs):
                raise SecurityError(f"{name}(): {_TOO_BIG}")
            return super().call(context, obj, *args, **kwargs)

    env = BoundedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    # The `format` filter is printf-style (`value % args`), unlike str.format.
    checks = {"center": "center", "indent": "indent", "replace": "replace", "format": "printf"}
    for name, check in checks.items():
        env.filters[name] = _bounded_filter(check, env.filters[name])
    env.filters.update(HELPERS)
    env.globals.update(HELPERS)
    return env


@cache
def _compiled(source: str) -> tuple[Callable[[Mapping[str, Any]], Any], frozenset[str]]:
    """Compile a template string once per process; also list the names it reads."""
    from jinja2 import meta

    env = _environment()
    names = frozenset(meta.find_undeclared_variables(env.parse(source)))
    lone = _LONE_EXPRESSION.match(source)
    if lone and "{{" not in lone["expr"] and "}}" not in lone["expr"]:
        expression = env.compile_expression(lone["expr"], undefined_to_none=False)

        def native(context: Mapping[str, Any]) -> Any:
            return expression(**context)

        return native, names
    return env.from_string(source).render, names


class TemplateFailure(Exception):
    """A template could not be compiled or evaluated; message is user-facing."""


#: Wall-clock seconds one template may take. The sandbox bounds each value's size but not
#: loops: two nested `range(100000)` loops would spin for hours and hold CI until it times
#: out. A real template takes milliseconds.
MAX_TEMPLATE_SECONDS = 5.0


class _TemplateTimeout(BaseException):
    """Raised into the rendering code by the SIGALRM that `_time_limit` arms; a
    BaseException, like KeyboardInterrupt, so no `except Exception` on the way swallows it."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _TemplateTimeout in the block after `seconds`; a no-op where signals cannot
    do it (no SIGALRM, or not the main thread, where Python runs signal handlers)."""
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise _TemplateTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)  # and again, should one be lost
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def render_template(source: str, context: Mapping[str, Any]) -> tuple[Any, frozenset[str]]:
    """Render one template string; return its (JSON-compatible) value and the names it read."""
    from jinja2 import TemplateSyntaxError, Undefined, UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        with _time_limit(MAX_TEMPLATE_SECONDS):
            function, names = _compiled(source)
            value = function(context)
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
    except _TemplateTimeout:
        raise TemplateFailure(
            f"the template ran for more than {MAX_TEMPLATE_SECONDS:g} s and was stopped "
            "(loops nested too deep or too long?)"
        ) from None
    except TemplateSyntaxError as exc:
        raise TemplateFailure(f"template syntax error: {exc.message}") from None
    except UndefinedError as exc:
        known = ", ".join(sorted(k for k in context if k not in HELPERS))
        raise TemplateFailure(f"{exc.message}; known names: {known}") from None
    except SecurityError as exc:
        raise TemplateFailure(f"unsafe operation blocked by the sandbox: {exc}") from None
    except Exception as exc:  # any template runtime error is the user's, not ours
        raise TemplateFailure(f"template failed: {type(exc).__name__}: {exc}") from None
    return _jsonable(value), names


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateFailure("template produced NaN or infinity, which JSON cannot hold")
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, dt.datetime | dt.date):
        raise TemplateFailure(
            f"template produced a {type(value).__name__}, which JSON cannot hold; "
            "add '| timestamp' for Unix seconds or '.isoformat()' for text"
        )
    if isinstance(value, str):  # Markup and other str subclasses
        return str(value)
    raise TemplateFailure(f"template produced a {type(value).__name__}, which JSON cannot hold")


# --------------------------------------------------------------------------- the stage


def render_spec(
    document: LoadedDocument, inputs: RenderInputs
) -> tuple[RenderedSpec | None, list[Diagnostic]]:
    """Render `export` and `output`; None when the variables are too broken to render with."""
    data = document.data
    problems = _misplaced_templates(document)
    declarations = data.get("vars", {})
    if declarations is None:
        declarations = {}
    if not isinstance(declarations, dict) or not all(
        isinstance(d, dict) for d in declarations.values()
    ):
        return None, problems  # the schema check reports the malformed declarations
    if not all(declaration_is_valid(d) for d in declarations.values()):
        return None, problems

    resolved, var_problems = resolve_variables(document, declarations, inputs)
    problems += var_problems
    values = {name: chosen.value for name, chosen in resolved.items()}
    if var_problems:
        return None, problems

    context: dict[str, Any] = {**values, "name": data.get("name"), "now": inputs.now}
    origins: dict[JsonPath, TemplateOrigin] = {}
    rendered = dict(data)
    for section in TEMPLATED_SECTIONS:
        if section in data:
            rendered[section] = _render_tree(
                data[section], (section,), context, document, origins, problems
            )
    if any(p.severity == "error" for p in problems):
        return None, problems
    return (
        RenderedSpec(document, rendered, values, inputs.now, origins),
        problems,
    )


def _render_tree(  # noqa: PLR0917 - a private recursive walker
    value: Any,
    path: JsonPath,
    context: Mapping[str, Any],
    document: LoadedDocument,
    origins: dict[JsonPath, TemplateOrigin],
    problems: list[Diagnostic],
) -> Any:
    if isinstance(value, dict):
        return {
            key: _render_tree(item, (*path, key), context, document, origins, problems)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _render_tree(item, (*path, i), context, document, origins, problems)
            for i, item in enumerate(value)
        ]
    if not is_template(value):
        return value
    try:
        result, names = render_template(value, context)
    except TemplateFailure as exc:
        problems.append(
            Diagnostic(
                str(document.path),
                f"{exc} (in template {value!r})",
                document.source_map.value_position(path),
                path,
                rule="template",
            )
        )
        return value
    used = {n: context[n] for n in names if n in context and n not in ("now",)}
    if "now" in names:
        used["now"] = context["now"].isoformat()
    origins[path] = TemplateOrigin(value, used)
    return result


def _misplaced_templates(document: LoadedDocument) -> list[Diagnostic]:
    """Templates in keys anywhere, or in values outside `export`/`output`, are errors."""
    problems: list[Diagnostic] = []
    shown = str(document.path)
    source_map = document.source_map

    def visit(value: Any, path: JsonPath, templated: bool) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                child = (*path, key)
                if is_template(key):
                    problems.append(
                        Diagnostic(
                            shown,
                            f"templates are not allowed in keys: {key!r}",
                            source_map.key_position(child),
                            child,
                            rule="template-in-key",
                        )
                    )
                inside = templated or (not path and key in TEMPLATED_SECTIONS)
                if not path and key == "description":
                    continue  # free text, never rendered
                visit(item, child, inside)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                visit(item, (*path, i), templated)
        elif not templated and is_template(value):
            problems.append(
                Diagnostic(
                    shown,
                    "templates are only rendered in values under 'export' and 'output'; "
                    f"this one would stay literal text: {value!r}",
                    source_map.value_position(path),
                    path,
                    rule="template-not-allowed",
                )
            )

    visit(document.data, (), False)
    return problems
