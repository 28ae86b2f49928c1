"""Fault injection: `--fail SPEC` makes the first requests misbehave, then all is normal.

Grammar (several specs run one after another, in the order given):

    SPEC    = KIND ["=" SECONDS] ["x" COUNT] [":" OPTION ("," OPTION)*]
    KIND    = 429 | 500 | 502 | 503 | 504 | success-false | truncate | reset | slow
    OPTION  = ra=SECONDS | at=start | at=body

- `429x2`: the next 2 requests get HTTP 429 with `Retry-After: 1` (`429x2:ra=0` sends 0;
  `ra=` works on every status fault; only 429 sends a Retry-After by default).
- `500`, `502`, `503`, `504`: that status with `{"success": false, "error": ...}`.
- `success-false`: HTTP 200 with `{"success": false, "error": ...}`.
- `truncate`: the response promises its full length (Content-Length, or chunked framing for
  big exports) and the connection closes after the first half of the body's bytes (rounded
  down; a streamed export is rendered once more beforehand, to measure it).
- `reset`: part of the body is sent, then the connection is reset (TCP RST, SO_LINGER 0).
- `slow=SECONDS`: waits SECONDS before answering (`at=start`, the default: clients time out
  before the headers) or after the headers and the first body chunk (`at=body`).

COUNT defaults to 1; it and `ra=` have at most 18 digits. Status faults answer before
authentication, like a rate limiter or a proxy would; truncate, reset and slow apply to
whatever response the request gets.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from exportspec.errors import abridged

FaultKind = Literal["429", "500", "502", "503", "504", "success-false", "truncate", "reset", "slow"]
STATUS_KINDS = ("429", "500", "502", "503", "504", "success-false")
BODY_KINDS = ("truncate", "reset", "slow")
GRAMMAR = "KIND[=SECONDS][xCOUNT][:ra=SECONDS|at=start|at=body]"
#: Longest `slow=` wait: beyond a day it is a typo, and timers overflow on huge values.
MAX_SLOW_SECONDS = 86_400.0
#: Most digits in COUNT and `ra=`: far more than any test needs, and int() refuses
#: strings of over 4300 digits with a ValueError of its own.
MAX_DIGITS = 18

_SPEC = re.compile(
    r"^(?P<kind>429|50[0234]|success-false|truncate|reset|slow)(?:=(?P<seconds>\d+(?:\.\d+)?))?(?:x(?P<count>\d+))?"
    r"(?::(?P<options>.*))?$"
)


class FaultSpecError(ValueError):
    """A `--fail` value does not follow the grammar."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One misbehaviour, applied to `count` consecutive requests."""

    kind: FaultKind
    count: int = 1
    seconds: float = 0.0
    retry_after: str | None = None
    at_body: bool = False

    @property
    def status(self) -> int:
        """The HTTP status a status fault answers with."""
        return 200 if self.kind == "success-false" else int(self.kind)


def parse_fault(spec: str) -> Fault:
    """Parse one `--fail` value; raises FaultSpecError naming the problem."""
    shown = repr(abridged(spec))
    match = _SPEC.match(spec.strip())
    if match is None:
        kinds = ", ".join(STATUS_KINDS + BODY_KINDS)
        raise FaultSpecError(f"bad fault {shown}: expected {GRAMMAR} with KIND one of {kinds}")
    kind = match["kind"]
    if (kind == "slow") != (match["seconds"] is not None):
        raise FaultSpecError(f"bad fault {shown}: only slow takes =SECONDS, and slow needs it")
    if len((match["count"] or "1").lstrip("0")) > MAX_DIGITS:
        raise FaultSpecError(f"bad fault {shown}: COUNT has at most {MAX_DIGITS} digits")
    count = int(match["count"] or 1)
    if count < 1:
        raise FaultSpecError(f"bad fault {shown}: COUNT must be at least 1")
    seconds = float(match["seconds"] or 0)
    if seconds > MAX_SLOW_SECONDS:
        raise FaultSpecError(f"bad fault {shown}: slow waits at most {MAX_SLOW_SECONDS:g} seconds")
    retry_after = "1" if kind == "429" else None
    at_body = False
    for option in filter(None, (match["options"] or "").split(",")):
        name, _, value = option.partition("=")
        if name == "ra" and kind in STATUS_KINDS and re.fullmatch(r"\d+", value):
            if len(value.lstrip("0")) > MAX_DIGITS:
                raise FaultSpecError(f"bad fault {shown}: ra= has at most {MAX_DIGITS} digits")
            retry_after = str(int(value))
        elif name == "at" and kind == "slow" and value in ("start", "body"):
            at_body = value == "body"
        else:
            raise FaultSpecError(f"bad fault {shown}: option {abridged(option)!r} does not apply")
    return Fault(
        kind,  # type: ignore[arg-type]  # checked against the kinds above
        count=count,
        seconds=seconds,
        retry_after=retry_after,
        at_body=at_body,
    )


class FaultPlan:
    """The queue of faults; each request to the endpoint takes the next one, thread-safely."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        # Counted, not expanded: `429x99999999999` must not allocate a list that long.
        self._queue = deque((fault, fault.count) for fault in faults)
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, specs: Iterable[str]) -> FaultPlan:
        return cls(parse_fault(s) for s in specs)

    def take(self) -> Fault | None:
        """The fault for the next request, or None once all have been used."""
        with self._lock:
            if not self._queue:
                return None
            fault, left = self._queue[0]
            if left > 1:
                self._queue[0] = (fault, left - 1)
            else:
                self._queue.popleft()
            return fault

    @property
    def remaining(self) -> int:
        with self._lock:
            return sum(left for _, left in self._queue)
