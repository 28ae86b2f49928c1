"""The one retry loop: every retry of an export is decided here, by tenacity.

Attempts are bounded (--retries), waits grow exponentially with full jitter unless the
server sent Retry-After (seconds or an HTTP date, capped), and no wait may run past the
overall deadline. The sleep is injectable, so a batch can share one gate.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from exportspec.errors import TransientError

T = TypeVar("T")


class Retryable(Exception):
    """A failure another attempt may cure: an HTTP `status`, or a network failure before or
    (`mid_body`) during the body; `retry_after` is the server's wish, in seconds."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        mid_body: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.mid_body = mid_body


class DeadlinePassed(TransientError):
    """The overall deadline passed during an attempt."""


class Deadline:
    """The overall deadline (--deadline) on the monotonic clock; None: no deadline."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self._at = None if seconds is None else clock() + seconds

    def left(self) -> float | None:
        return None if self._at is None else self._at - self._clock()

    def cap(self, timeout: float) -> float:
        """`timeout`, shortened to what is left (never zero: that would mean non-blocking)."""
        left = self.left()
        return timeout if left is None else max(0.001, min(timeout, left))

    def check(self) -> None:
        left = self.left()
        if left is not None and left <= 0:
            raise DeadlinePassed(
                f"the overall deadline of {self.seconds:g} s passed before the export "
                "finished (--deadline / EXPORTSPEC_DEADLINE)"
            )


#: The longest wait the backoff curve reaches (Retry-After has its own cap).
BACKOFF_MAX = 60.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to try: `attempts` in all, first one included."""

    attempts: int
    backoff: float = 1.0
    retry_after_max: float = 300.0


def with_retries(
    attempt: Callable[[int], T],
    policy: RetryPolicy,
    deadline: Deadline,
    *,
    notify: Callable[[str], None] = lambda message: None,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Call `attempt(n)` for n = 1, 2, ... until it returns or raises something else than
    Retryable; raise TransientError when the attempts or the deadline run out."""
    backoff = tenacity.wait_random_exponential(multiplier=policy.backoff, max=BACKOFF_MAX)

    def wait(state: tenacity.RetryCallState) -> float:
        asked = _retryable(state).retry_after
        return min(asked, policy.retry_after_max) if asked is not None else backoff(state)

    def stop(state: tenacity.RetryCallState) -> bool:
        left = deadline.left()
        return state.attempt_number >= policy.attempts or (
            left is not None and state.upcoming_sleep > left
        )

    def give_up(state: tenacity.RetryCallState) -> T:
        last = _retryable(state)
        tries = state.attempt_number
        left = deadline.left()
        if tries < policy.attempts and left is not None:
            if last.retry_after is not None and state.upcoming_sleep > left:
                raise TransientError(
                    f"HTTP {last.status} asked to wait {last.retry_after:.0f} s; only "
                    f"{max(left, 0):.0f} s left before --deadline ({deadline.seconds:g} s); "
                    f"the last answer: {last.reason}"
                )
            raise TransientError(
                f"the overall deadline of {deadline.seconds:g} s would pass during the wait "
                f"before attempt {tries + 1} (--deadline / EXPORTSPEC_DEADLINE); "
                f"the last one: {last.reason}"
            )
        last_one = "the last one got" if last.status else "the last one:"
        raise TransientError(
            f"the export failed after {tries} attempt(s); {last_one} {last.reason}"
        )

    def before_sleep(state: tenacity.RetryCallState) -> None:
        last = _retryable(state)
        what = f"HTTP {last.status}" if last.status else last.reason
        # A POST export is computed again from scratch: say so when the body had begun.
        again = "sending the request again" if last.mid_body else "retrying"
        notify(f"{what}; {again} in {state.upcoming_sleep:.1f} s")

    retrying: tenacity.Retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(Retryable),
        wait=wait,
        stop=stop,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
        sleep=time.sleep if sleep is None else sleep,
    )
    numbers = itertools.count(1)
    return retrying(lambda: attempt(next(numbers)))


def _retryable(state: tenacity.RetryCallState) -> Retryable:
    assert state.outcome is not None
    error = state.outcome.exception()
    assert isinstance(error, Retryable)
    return error
