"""JSON that reaches the sandbox from outside: request bodies and `--data` lines.

Stricter than `loads_strict`: a number too big for a float (`1e400`) parses as infinity,
which no export can print as JSON, and nesting is capped well below the recursion limit
because parsing a value is not the deepest thing done with it: the schema check's error
messages repr it, and an export dumps and compares it, from deeper in a server thread.
"""

from __future__ import annotations

import math
from typing import Any

from exportspec.errors import abridged
from exportspec.jsontext import StrictJsonError, deeper_than, loads_strict

#: Deepest nesting accepted; export bodies have 4 levels, customer properties a few.
MAX_DEPTH = 100


def load_json(text: str | bytes) -> Any:
    """Parse strict JSON with finite numbers and at most MAX_DEPTH levels.

    Raises StrictJsonError (a ValueError) saying what is wrong.
    """
    value = loads_strict(text, parse_float=_finite_float)
    if deeper_than(value, MAX_DEPTH):
        raise StrictJsonError(f"nested too deeply (more than {MAX_DEPTH} levels)")
    return value


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise StrictJsonError(f"number {abridged(text, 40)} is out of range")
    return number
