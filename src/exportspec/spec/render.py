"""Stage 2, render: Jinja2 templates in the string values under `export` and `output`.

Rendering works on the parsed tree, never on file text, so a value can never inject
YAML. A template is an expression: text with `{{ expression }}` parts (and `{# comments
#}`); a `{% statement %}` is an error at its position. A string that is exactly one
`{{ expression }}` yields the expression's native value; any other template renders to a
string. The environment is Jinja2's immutable sandbox, strict about undefined names. It
bounds what a spec can reach, not the CPU and memory it uses: the process that runs us
does (docs/spec-format.md, "Trust model"); running out is a located error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import sys
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from exportspec.spec.declarations import declaration_is_valid
from exportspec.spec.helpers import HELPERS
from exportspec.spec.models import (
    TEMPLATED_SECTIONS,
    Diagnostic,
    JsonPath,
    LoadedDocument,
    Position,
    RenderedSpec,
    TemplateOrigin,
    is_template,
)
from exportspec.spec.variables import RenderInputs, resolve_variables

if TYPE_CHECKING:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

_LONE_EXPRESSION = re.compile(r"^\{\{(?P<expr>.*)\}\}$", re.DOTALL)


# --------------------------------------------------------------------------- environment


@cache
def _environment() -> ImmutableSandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # Not optimized: Jinja's constant folding would evaluate `{{ 10 ** 5000 }}` while
    # compiling and fail on its Python source text, not on the value.
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, optimized=False
    )
    env.filters.update(HELPERS)
    env.globals.update(HELPERS)
    return env


class TemplateFailure(Exception):
    """A template could not be compiled or evaluated; the message is user-facing.

    `offset` is where in the template the problem starts, when it is known.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


_STATEMENT_START = re.compile(r"\{%[-+]?\s*(?P<keyword>\w*)")


def _refuse_statements(source: str) -> None:
    """Raise TemplateFailure at the first `{% … %}` statement of `source`.

    Jinja's lexer finds it, so `{% raw %}` (which leaves no statement node) and an
    unclosed `{% if %}` count too; it reports only the line, so the offset is the first
    `{%` on that line that starts a tag.
    """
    from jinja2.lexer import newline_re

    env = _environment()
    line = next((n for n, kind, _ in env.lex(source) if kind in ("block_begin", "raw_begin")), None)
    if line is None:
        return
    line_start = ([0] + [m.end() for m in newline_re.finditer(source)])[line - 1]
    offset = next(
        (
            m.start()
            for m in _STATEMENT_START.finditer(source, line_start)
            if _is_text_before(source[: m.start()])
        ),
        line_start,
    )
    match = _STATEMENT_START.match(source, offset)
    keyword = match["keyword"] if match else ""
    raise TemplateFailure(
        f"'{{% {keyword} %}}': statements are not allowed; a template is text with "
        "{{ expression }} parts: write a choice as {{ a if condition else b }}",
        offset,
    )


def _is_text_before(prefix: str) -> bool:
    """Whether a tag may start right after `prefix`: Jinja's lexer ends it in plain text,
    not inside `{{ … }}` or `{# … #}`, nor after a `{` that would open `{{`."""
    from jinja2 import TemplateSyntaxError

    try:
        marks = [k for _, k, _ in _environment().lex(prefix) if k.startswith("variable_")]
    except TemplateSyntaxError:
        return False
    return (not marks or marks[-1] == "variable_end") and not prefix.endswith("{")


@cache
def _compiled(source: str) -> tuple[Callable[[Mapping[str, Any]], Any], frozenset[str]]:
    """Compile a template string once per process; also list the names it reads (with no
    statements, nothing in a template assigns a name)."""
    from jinja2 import nodes

    _refuse_statements(source)
    env = _environment()
    names = frozenset(n.name for n in env.parse(source).find_all(nodes.Name) if n.ctx == "load")
    lone = _LONE_EXPRESSION.match(source)
    if lone and "{{" not in lone["expr"] and "}}" not in lone["expr"]:
        expression = env.compile_expression(lone["expr"], undefined_to_none=False)

        def native(context: Mapping[str, Any]) -> Any:
            return expression(**context)

        return native, names
    return env.from_string(source).render, names


def template_names(source: str) -> frozenset[str]:
    """The names a template string reads, from its parsed AST (`now` among them when it
    depends on the moment); raises TemplateFailure like `render_template`."""
    from jinja2 import TemplateSyntaxError

    try:
        return _compiled(source)[1]
    except TemplateSyntaxError as exc:
        raise TemplateFailure(f"template syntax error: {exc.message}") from None


def render_template(source: str, context: Mapping[str, Any]) -> tuple[Any, frozenset[str]]:
    """Render one template string; return its (JSON-compatible) value and the names it read.

    Every failure, MemoryError and RecursionError included, is a TemplateFailure.
    """
    from jinja2 import TemplateSyntaxError, Undefined, UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        function, names = _compiled(source)
        value = function(context)
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return _jsonable(value), names
    except TemplateFailure:
        raise
    except TemplateSyntaxError as exc:
        raise TemplateFailure(f"template syntax error: {exc.message}") from None
    except UndefinedError as exc:
        known = ", ".join(sorted(k for k in context if k not in HELPERS))
        raise TemplateFailure(f"{exc.message}; known names: {known}") from None
    except SecurityError as exc:
        raise TemplateFailure(f"unsafe operation blocked by the sandbox: {exc}") from None
    except Exception as exc:  # any template runtime error is the user's, not ours
        exc.__traceback__ = None  # frees the failed frames, which may hold all the memory
        raise TemplateFailure(f"template failed: {describe_failure(exc)}") from None


def describe_failure(exc: BaseException) -> str:
    """`TypeName: message`, saying what a MemoryError or RecursionError means."""
    if isinstance(exc, MemoryError):
        return "MemoryError: out of memory (the value is too large)"
    if isinstance(exc, RecursionError):
        return "RecursionError: the value is nested too deeply"
    return f"{type(exc).__name__}: {exc}"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        try:
            str(value)  # JSON text holds it only within Python's integer-string digit limit
        except ValueError:
            raise TemplateFailure(
                "template produced an integer too long to write as JSON text "
                f"(more than {sys.get_int_max_str_digits():,} digits)"
            ) from None
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
        position = document.source_map.value_position(path)
        if exc.offset is not None:
            position = _written_position(document, path, value, exc.offset) or position
        problems.append(
            Diagnostic(
                str(document.path),
                f"{exc} (in template {value!r})",
                position,
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


def _written_position(
    document: LoadedDocument, path: JsonPath, value: str, offset: int
) -> Position | None:
    """Where `value[offset]` was written in the spec file, or None when that cannot be told.

    The loaded document keeps only where each value starts, so this reads the file again
    (only when it still has the loaded bytes) and follows the value's lines from there:
    exact when the value is written verbatim up to `offset` (plain, quoted or literal-block
    strings without escapes), which templates nearly always are.
    """
    start = document.source_map.value_position(path)
    try:
        raw = document.path.read_bytes()
    except OSError:
        return None
    if start is None or hashlib.sha256(raw).hexdigest() != document.sha256:
        return None
    lines = raw.decode("utf-8-sig").split("\n")
    parts = value[: offset + 2].split("\n")  # the value's lines, the last ending with '{%'
    for first in (start.line, start.line + 1):  # a block scalar starts on the next line
        columns: list[int] = []
        for number, part in enumerate(parts, first):
            text = lines[number - 1] if number <= len(lines) else ""
            column = text.find(part, start.column - 1 if number == start.line else 0)
            if column < 0:
                break
            columns.append(column)
        else:
            return Position(first + len(parts) - 1, columns[-1] + len(parts[-1]) - 1)
    return None


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
