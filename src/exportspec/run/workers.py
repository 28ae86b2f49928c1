"""Run tasks on a few worker threads that Ctrl-C can leave: a batch's exports, a split's parts.

The threads are daemons, and the caller's thread waits on a condition rather than in
`Thread.join` (which Ctrl-C can leave marking a running thread stopped, Python 3.11). A
download blocked in a silent socket read cannot be interrupted from another thread: on
Ctrl-C or a stopping signal the caller stops the gate, which ends the others between
chunks, waits up to STOP_GRACE for them to remove their temporary files, and re-raises;
one still silent then is cut off when the process ends (`concurrent.futures` would instead
join it at exit, for as long as its read timeout).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

#: Seconds a stopping caller waits for its workers to remove their temporary files.
STOP_GRACE = 5.0


def run_on_threads(
    tasks: Sequence[T],
    jobs: int,
    work: Callable[[T], None],
    *,
    on_stop: Callable[[], None],
    stop_after: Callable[[T], bool] = lambda _: False,
) -> None:
    """Call `work(task)` for each task, in order, on up to `jobs` threads.

    `work` must not raise (it records its own failures). `stop_after(task)` true starts no
    further task (--fail-fast). On any exception in the caller's thread (Ctrl-C, a
    signal), `on_stop()` is called, the workers get STOP_GRACE seconds, and it re-raises.
    """
    queue = list(reversed(tasks))
    lock = threading.Lock()
    stop = threading.Event()
    finished = threading.Condition()
    running = 0

    def worker() -> None:
        nonlocal running
        try:
            while not stop.is_set():
                with lock:
                    if not queue:
                        return
                    task = queue.pop()
                work(task)
                if stop_after(task):
                    stop.set()
        finally:
            with finished:
                running -= 1
                finished.notify_all()

    threads = [
        threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(jobs, len(tasks))))
    ]
    try:
        for thread in threads:
            with finished:
                running += 1
            thread.start()
        with finished:
            while running:
                finished.wait(0.5)
    except BaseException:
        stop.set()
        on_stop()
        with finished:
            finished.wait_for(lambda: running == 0, STOP_GRACE)
        raise
