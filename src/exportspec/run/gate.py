"""One gate shared by the exports of a batch: how many requests are in flight at once.

Additive increase, multiplicative decrease: the bound starts at `limit` (--jobs), is halved
(not below 1) when a request gets 429 or 503, and grows by one after a run of successes,
never above `limit`. As in TCP, one overload halves the bound once: refusals of requests
already on their way when it was halved do not halve it again. Each overload also doubles
the run of successes the next growth needs (up to 64 x `grow_after`, back to `grow_after`
once the bound reaches `limit`): against a server that takes fewer requests than --jobs,
probing above its limit, which costs every worker a Retry-After pause, becomes rare.

While a server's Retry-After is pending, no worker starts a new request. With a `rate`
(requests per minute, --rate), request starts are also spaced at least 60/rate seconds
apart, retries included. A single `exportspec run` uses a gate only for --rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from exportspec.run.retry import Deadline

#: Statuses that say the server is overloaded: the bound is halved.
OVERLOADED = frozenset({429, 503})
#: Requests per minute: at most one a millisecond, so a typo cannot mean "no limit", and
#: at least one a week, so a typo cannot mean "never".
MAX_RATE = 60_000.0
MIN_RATE = 60.0 / (7 * 24 * 3600)
#: The most a run of successes needed to grow is stretched, in multiples of `grow_after`.
MAX_PATIENCE = 64


class Stopping(Exception):
    """The batch is stopping (Ctrl-C, --fail-fast): no new request starts."""


class Gate:
    """Bounds the requests in flight across worker threads (thread-safe)."""

    def __init__(
        self,
        limit: int,
        *,
        grow_after: int = 4,
        retry_after_max: float = 300.0,
        rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("a gate needs a limit of at least 1")
        if rate is not None and not MIN_RATE <= rate <= MAX_RATE:
            raise ValueError(f"a gate's rate is {MIN_RATE:g} to {MAX_RATE:g} requests a minute")
        #: Seconds between two request starts (0: no rate).
        self.spacing = 0.0 if rate is None else 60.0 / rate
        self._next_start = 0.0
        self.limit = limit
        self.allowed = limit
        self.in_flight = 0
        self.grow_after = grow_after
        self.retry_after_max = retry_after_max
        self._clock = clock
        self._successes = 0
        #: Successes in a row that grow the bound by one.
        self.patience = grow_after
        #: Counts the halvings; a slot remembers the epoch it was granted in.
        self._epoch = 0
        self._resume_at = 0.0
        self._stopped = False
        self._cond = threading.Condition()

    def acquire(self, deadline: Deadline | None = None) -> int:
        """Wait for a free slot and no pending Retry-After, and return its ticket for
        `release`; DeadlinePassed once `deadline` passes, Stopping once `stop` was called."""
        with self._cond:
            while True:
                if self._stopped:
                    raise Stopping("the batch is stopping")
                now = self._clock()
                pause = max(self._resume_at, self._next_start) - now
                if pause <= 0 and self.in_flight < self.allowed:
                    self.in_flight += 1
                    self._next_start = now + self.spacing
                    return self._epoch
                left = None if deadline is None else deadline.left()
                if deadline is not None and left is not None and left <= 0:
                    deadline.check()
                waits = [w for w in (pause if pause > 0 else None, left) if w is not None]
                self._cond.wait(min(waits) if waits else None)

    def release(
        self,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        ticket: int | None = None,
    ) -> None:
        """Free a slot; `status` (None: a network failure) and `retry_after` adapt the bound.
        `ticket` (from `acquire`) tells a refusal the bound was already halved for."""
        with self._cond:
            self.in_flight -= 1
            if status in OVERLOADED:
                self._successes = 0
                if ticket is None or ticket >= self._epoch:  # not yet halved for it
                    self.allowed = max(1, self.allowed // 2)
                    self.patience = min(self.patience * 2, self.grow_after * MAX_PATIENCE)
                    self._epoch += 1
            elif status is not None and 200 <= status < 300:
                self._successes += 1
                if self._successes >= self.patience and self.allowed < self.limit:
                    self.allowed += 1
                    self._successes = 0
                    if self.allowed == self.limit:
                        self.patience = self.grow_after
            if retry_after is not None and retry_after > 0:
                wait = min(retry_after, self.retry_after_max)
                self._resume_at = max(self._resume_at, self._clock() + wait)
            self._cond.notify_all()

    def check(self) -> None:
        """Raise Stopping once the batch stops: called between the chunks of a download."""
        if self._stopped:
            raise Stopping("the batch is stopping")

    def sleep(self, seconds: float) -> None:
        """The retry loop's wait: returns early, raising Stopping, when the batch stops."""
        with self._cond:
            end = self._clock() + seconds
            while not self._stopped:
                left = end - self._clock()
                if left <= 0:
                    return
                self._cond.wait(left)
            raise Stopping("the batch is stopping")

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """No new request starts; waiting workers raise Stopping."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
