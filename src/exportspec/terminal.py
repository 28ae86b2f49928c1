"""Text from outside (a file, a file name, a server, a lock entry) made safe to print.

A spec, a lock or a server answer may hold control characters: ANSI escapes recolour or
rewrite a terminal, bidi overrides make text read other than it is, a newline starts a line
of its own. In CI a line that starts with `::` is a GitHub Actions workflow command
(`::error`, `::add-mask::`), so a pull request's own files could write them into the log.

- `printable` escapes every such character, Python style (`\\x1b`, `\\u202e`, `\\n`).
- `guard_line` also keeps a line from starting with `::` (after any leading spaces, which
  GitHub's runner skips).
- `printable_lines` keeps the line breaks of our own multi-line messages (a `hint:` line)
  and makes each line safe.
- `json_dumps` writes a JSON document with no raw control, bidi or surrogate character:
  the same values, spelled as JSON `\\uXXXX` escapes.
"""

from __future__ import annotations

import json
import re

#: C0 and C1 controls and DEL; bidi embeddings, overrides, isolates and marks; the Unicode
#: line and paragraph separators; lone surrogates (undecodable bytes of a file name, which
#: no UTF-8 stream can write); U+FFFE and U+FFFF (not XML characters).
_BEYOND_C0 = (
    "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff\ufffe\uffff"
)
_UNSAFE = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
#: In JSON text: `json.dumps` escapes C0 inside strings, and its own line breaks must stay.
_JSON_UNSAFE = re.compile(f"[{_BEYOND_C0}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control, bidi and separator character escaped: one line, inert."""
    return _UNSAFE.sub(_escape, text)


def guard_line(line: str) -> str:
    """`line` escaped, and never starting with `::` (a workflow command in GitHub Actions)."""
    line = printable(line)
    stripped = line.lstrip()
    if stripped.startswith("::"):
        indent = line[: len(line) - len(stripped)]
        line = f"{indent}\\x3a{stripped[1:]}"
    return line


def printable_lines(text: str) -> str:
    """A message of ours that may span lines: each line escaped and guarded."""
    return "\n".join(guard_line(line) for line in text.split("\n"))


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_dumps(document: object, *, indent: int | None = 2) -> str:
    """`json.dumps` (UTF-8 text kept) with no raw control, bidi or surrogate character.

    `json.dumps` already escapes C0 controls inside strings (and its own line breaks must
    stay); in a JSON text anything else this escapes can only stand inside a string, where
    `\\uXXXX` means the same character.
    """
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    return _JSON_UNSAFE.sub(_json_escape, text)
