"""Strict JSON reading for everything we did not write ourselves in this process.

Python's `json` accepts `NaN` and `Infinity` (not JSON, and not representable in a body) and
raises RecursionError, not ValueError, on deeply nested input. Callers get one ValueError.
"""

from __future__ import annotations

import json
from typing import Any


class StrictJsonError(ValueError):
    """Not strict JSON: invalid, NaN/Infinity, or nested too deeply."""


def deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` levels of arrays and objects.

    Iterative on purpose: recursion is what a deep value must not be able to exhaust, and
    the code that later walks it (diffs, error messages, dumps) does recurse.
    """
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def reject_constant(name: str) -> Any:
    """A `parse_constant` hook: NaN and Infinity are not JSON and never equal themselves."""
    raise StrictJsonError(f"{name} is not a JSON value")


def loads_strict(text: str | bytes, **hooks: Any) -> Any:
    """`json.loads`, refusing NaN/Infinity and turning deep nesting into a ValueError."""
    try:
        return json.loads(text, parse_constant=reject_constant, **hooks)
    except RecursionError:
        raise StrictJsonError("nested too deeply") from None
    except StrictJsonError:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise StrictJsonError(message) from None
