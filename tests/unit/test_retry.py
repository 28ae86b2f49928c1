"""The one retry loop, on its own: attempts, waits, Retry-After and the deadline."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exportspec.errors import RefusedError, TransientError
from exportspec.run.retry import BACKOFF_MAX, Deadline, Retryable, RetryPolicy, with_retries


class Clock:
    """A monotonic clock that only the (fake) sleep advances."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def failing(*errors: Exception, result: str = "done") -> tuple[list[int], Callable[[int], str]]:
    """An attempt function raising `errors` in turn, then returning `result`."""
    calls: list[int] = []

    def attempt(number: int) -> str:
        calls.append(number)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return calls, attempt


def test_success_after_retries_numbers_the_attempts() -> None:
    clock = Clock()
    calls, attempt = failing(Retryable("connection refused"), Retryable("HTTP 503", status=503))
    notes: list[str] = []
    value = with_retries(
        attempt,
        RetryPolicy(attempts=5, backoff=1.0),
        Deadline(None, clock),
        notify=notes.append,
        sleep=clock.sleep,
    )
    assert value == "done"
    assert calls == [1, 2, 3]
    assert len(clock.slept) == 2
    assert notes[0].startswith("connection refused; retrying in ")
    assert notes[1].startswith("HTTP 503; retrying in ")


def test_full_jitter_stays_under_the_exponential_curve() -> None:
    clock = Clock()
    _, attempt = failing(*[Retryable("x")] * 8)
    with_retries(
        attempt,
        RetryPolicy(attempts=9, backoff=1.0),
        Deadline(None, clock),
        sleep=clock.sleep,
    )
    for n, wait in enumerate(clock.slept, start=1):
        assert 0 <= wait <= min(BACKOFF_MAX, 2.0**n)


def test_retry_after_is_honoured_and_capped() -> None:
    clock = Clock()
    _, attempt = failing(
        Retryable("HTTP 429", status=429, retry_after=7),
        Retryable("HTTP 503", status=503, retry_after=3600),
    )
    with_retries(
        attempt,
        RetryPolicy(attempts=3, retry_after_max=300),
        Deadline(None, clock),
        sleep=clock.sleep,
    )
    assert clock.slept == [7, 300]


def test_attempts_run_out_with_the_last_reason() -> None:
    clock = Clock()
    calls, attempt = failing(*[Retryable("HTTP 503 Service Unavailable", status=503)] * 5)
    with pytest.raises(TransientError, match=r"after 3 attempt\(s\); the last one got HTTP 503"):
        with_retries(
            attempt,
            RetryPolicy(attempts=3),
            Deadline(None, clock),
            sleep=clock.sleep,
        )
    assert calls == [1, 2, 3]


def test_other_errors_are_not_retried() -> None:
    clock = Clock()
    calls, attempt = failing(RefusedError("HTTP 401"))
    with pytest.raises(RefusedError):
        with_retries(
            attempt,
            RetryPolicy(attempts=5),
            Deadline(None, clock),
            sleep=clock.sleep,
        )
    assert calls == [1]
    assert clock.slept == []


def test_a_retry_after_beyond_the_deadline_says_so_without_waiting() -> None:
    clock = Clock()
    deadline = Deadline(10, clock)
    _, attempt = failing(Retryable("HTTP 429 Too Many Requests", status=429, retry_after=100))
    with pytest.raises(TransientError) as caught:
        with_retries(
            attempt,
            RetryPolicy(attempts=5),
            deadline,
            sleep=clock.sleep,
        )
    assert "HTTP 429 asked to wait 100 s; only 10 s left before --deadline" in str(caught.value)
    assert clock.slept == []  # no sleep past the deadline


def test_no_backoff_sleeps_past_the_deadline() -> None:
    clock = Clock()
    deadline = Deadline(5, clock)
    _, attempt = failing(*[Retryable("connection refused")] * 50)
    with pytest.raises(TransientError, match="deadline of 5 s would pass"):
        with_retries(
            attempt,
            RetryPolicy(attempts=50, backoff=1.0),
            deadline,
            sleep=clock.sleep,
        )
    assert sum(clock.slept) <= 5
