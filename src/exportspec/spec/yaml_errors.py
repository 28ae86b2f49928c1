"""YAML syntax errors as users can act on them (libyaml's message, its position, a hint),
and reading back what was written at a node's position."""

from __future__ import annotations

import re

import yaml

from exportspec.spec.load import LoadError
from exportspec.spec.models import Diagnostic, Position

#: Node properties as written: an anchor (`&name`) and a tag (`!x`, `!!x`, `!h!x`, `!<uri>`),
#: in either order; neither holds whitespace or a flow indicator.
_PROPERTY = re.compile(r"(?:&(?P<anchor>[^\s,\[\]{}]*)|(?P<tag>!<[^>]*>|![^\s,\[\]{}]*))[ \t]*")
#: An alias as written: `*name`.
_ALIAS = re.compile(r"\*([^\s,\[\]{}]*)")


#: (fragment of libyaml's message, hint) for the syntax errors users meet most.
_HINTS: tuple[tuple[str, str], ...] = (
    (
        "mapping values are not allowed",
        "usually a missing space after a colon, a wrong indent, "
        "or an unquoted value that contains ': '",
    ),
    (
        "block sequence entries are not allowed",
        "a list under a key starts on the next line, indented: 'key:' then '  - item'",
    ),
    (
        "found unknown escape character",
        "in double quotes a backslash starts an escape: write \\\\ for one, or use single quotes",
    ),
    (
        "could not find expected ':'",
        "a key without its ':', or a value continued at a key's indent",
    ),
    (
        "did not find expected alphabetic or numeric character",
        "'&' and '*' start an anchor or an alias: quote a value that starts with them; "
        "anchor names use letters, digits, '-' and '_'",
    ),
    ("did not find expected ',' or", "a ',' missing between two items, or a bracket not closed"),
    ("found unknown directive name", "only %YAML 1.2 and %TAG directives exist"),
    (
        "did not find expected <document start>",
        "something follows the end of the document: an extra bracket, or a wrong indent",
    ),
)
_INDENT_PROBLEMS = ("did not find expected key", "did not find expected '-' indicator")


def syntax_error(exc: yaml.MarkedYAMLError, lines: list[str], shown: str) -> LoadError:
    mark = exc.problem_mark or exc.context_mark
    context, problem = exc.context or "", exc.problem or ""
    began = exc.context_mark
    at = char_at(lines, mark.line, mark.column) if mark is not None else ""
    if "found undefined alias" in problem and mark is not None:
        alias = _ALIAS.match(line_text(lines, mark.line), mark.column)
        name = alias[1] if alias else "?"
        message = f"alias '*{name}' refers to no anchor: define '&{name}' before the alias"
    elif "found duplicate anchor" in context and mark is not None and began is not None:
        anchor, _ = properties(lines, mark.line, mark.column)
        message = (
            f"anchor '&{anchor}' is defined twice (first at line {began.line + 1}, "
            f"column {began.column + 1}); give each anchor its own name"
        )
    elif "expected a single document" in context + problem:
        message = "a spec file holds one YAML document; remove the extra '---' documents"
    else:
        if context and began is not None and mark is not None and began.line != mark.line:
            context += f" (started at line {began.line + 1}, column {began.column + 1})"
        message = "; ".join(part for part in (context, problem) if part)
        hint = _hint(
            context, problem, at, line_text(lines, mark.line)[: mark.column] if mark else ""
        )
        if hint:
            message += f" ({hint})"
    return LoadError(
        Diagnostic(
            shown,
            f"YAML syntax error: {message}",
            end_position(lines, mark.line, mark.column) if mark else None,
            rule="syntax",
        )
    )


def _hint(context: str, problem: str, at: str, before: str) -> str | None:
    """A hint for libyaml's message; `at` is the character at its position, `before` the
    text of that line before it."""
    if at == "\t":
        return "a tab: indent YAML with spaces"
    if "cannot start any token" in problem and at in ("@", "`", "%"):
        return f"a plain value cannot start with '{at}': quote the value"
    if "unexpected end of stream" in problem and "quoted scalar" in context:
        return "a quote is not closed"
    if any(fragment in problem for fragment in _INDENT_PROBLEMS):
        last = before.rstrip()[-1:]
        if last == "'":
            return "text after a closing quote; inside single quotes write '' for '"
        if last == '"':
            return 'text after a closing quote; inside double quotes write \\" for "'
        if last in ("]", "}"):
            return "text after a closing bracket"
        if last:
            return None
        return (
            "usually a wrong indent: the keys of one mapping, and the '-' of one list, "
            "start in the same column"
        )
    for fragment, hint in _HINTS:
        if fragment in problem:
            return hint
    return None


def end_position(lines: list[str], line: int, column: int) -> Position:
    """A mark's position; libyaml's end of a stream without a final newline is past it."""
    if line >= len(lines):
        return Position(len(lines), len(lines[-1]) + 1)
    return Position(line + 1, column + 1)


def line_text(lines: list[str], line: int) -> str:
    return lines[line] if 0 <= line < len(lines) else ""


def char_at(lines: list[str], line: int, column: int) -> str:
    return line_text(lines, line)[column : column + 1]


def properties(lines: list[str], line: int, column: int) -> tuple[str | None, str | None]:
    """The anchor name and the tag as written at a node's start, if any (same line only)."""
    anchor = tag = None
    text = line_text(lines, line)
    while (found := _PROPERTY.match(text, column)) is not None:
        if found["anchor"] is not None and anchor is None:
            anchor = found["anchor"]
        elif found["tag"] is not None and tag is None:
            tag = found["tag"]
        else:
            break
        column = found.end()
    return anchor, tag
