"""What a batch shows: a line per running export on a terminal, a line per finished one, the
summary table, and the batch result as JSON, JUnit XML or GitHub annotations for CI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO
from xml.sax.saxutils import quoteattr

from exportspec.run.batch import Batch, BatchItem
from exportspec.run.display import Progress, format_bytes
from exportspec.terminal import json_dumps, printable, printable_lines

#: The batch result formats of `--output-format` (text: the summary table on stderr only).
RESULT_FORMATS = ("text", "json", "junit", "github")


class Display:
    """Thread-safe: workers report progress and ends. On a terminal (`live`), the running
    exports' lines are redrawn below the finished ones; elsewhere only ends and notes show."""

    def __init__(self, stream: TextIO | None, *, live: bool = False, interval: float = 0.25):
        self._stream = stream
        self._live = live and stream is not None
        self._interval = interval
        self._lock = threading.Lock()
        self._running: dict[int, tuple[BatchItem, float, int, int]] = {}
        self._drawn = 0
        self._drawn_at = 0.0

    def progress_for(self, item: BatchItem) -> Progress:
        with self._lock:
            self._running[id(item)] = (item, time.monotonic(), 0, 0)
        return _ItemProgress(self, item)

    def finished(self, item: BatchItem) -> None:
        with self._lock:
            self._running.pop(id(item), None)
            self._write([finished_line(item)])

    def note(self, item: BatchItem, message: str) -> None:
        with self._lock:
            self._write([printable(f"{item.spec}: {message}")])

    def update(self, item: BatchItem, size: int, rows: int) -> None:
        if not self._live:
            return
        with self._lock:
            if id(item) not in self._running:
                return
            began = self._running[id(item)][1]
            self._running[id(item)] = (item, began, size, rows)
            if time.monotonic() - self._drawn_at >= self._interval:
                self._write([])

    def close(self) -> None:
        with self._lock:
            self._running.clear()
            self._write([])

    def _write(self, lines: list[str]) -> None:
        """Print `lines` for good, then (live) the running exports below them."""
        if self._stream is None:
            return
        text = f"\x1b[{self._drawn}F\x1b[J" if self._live and self._drawn else ""
        text += "".join(f"{line}\n" for line in lines)
        running = [_running_line(*entry) for entry in self._running.values()]
        if self._live:
            text += "".join(f"{line}\n" for line in running)
            self._drawn, self._drawn_at = len(running), time.monotonic()
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed stderr must not fail the batch
            self._stream = None


class _ItemProgress(Progress):
    """One export's progress, drawn by the batch's display."""

    def __init__(self, display: Display, item: BatchItem) -> None:
        super().__init__(None)
        self._display, self._item = display, item

    def note(self, message: str) -> None:
        self._display.note(self._item, message)

    def update(self, size: int, rows: int) -> None:
        self._display.update(self._item, size, rows)

    def done(self) -> None:
        pass


def _running_line(item: BatchItem, began: float, size: int, rows: int) -> str:
    elapsed = time.monotonic() - began
    return printable(f"  {item.spec}: {format_bytes(size)}  {rows:,} rows  {elapsed:.0f} s")


def finished_line(item: BatchItem) -> str:
    """`specs/a.yaml: ok: 12 rows in 0.3 s to exports/a.csv`, or why it did not."""
    if item.carried is not None:
        return printable(f"{item.spec}: succeeded in the resumed batch; not run again")
    if item.status == "succeeded" and item.result is not None:
        what = f"ok: {item.result.rows:,} rows in {item.seconds or 0:.1f} s to {item.output}"
    elif item.status == "skipped":
        what = "skipped"
    else:
        # Our message may span lines (a hint): kept, indented under the spec's line.
        error = printable_lines(item.error or "").replace("\n", "\n    ")
        return f"{printable(str(item.spec))}: failed (exit {item.exit_code}): {error}"
    return printable(f"{item.spec}: {what}")


def format_table(batch: Batch) -> str:
    """The summary table: spec, status, rows, seconds; then the counts."""
    rows = [("spec", "status", "rows", "seconds")]
    for item in batch.items:
        result = item.result
        if item.carried is not None:
            before, took = item.carried.get("rows"), item.carried.get("seconds")
            rows.append(
                (
                    printable(str(item.spec)),
                    "succeeded (before)",
                    f"{before:,}" if isinstance(before, int) else "-",
                    f"{took:.1f}" if isinstance(took, int | float) else "-",
                )
            )
            continue
        rows.append(
            (
                printable(str(item.spec)),
                item.status if item.status != "failed" else f"failed ({item.exit_code})",
                f"{result.rows:,}" if result is not None else "-",
                f"{item.seconds:.1f}" if item.seconds is not None else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    counts = {
        s: sum(i.status == s for i in batch.items) for s in ("succeeded", "failed", "skipped")
    }
    lines.append(
        f"{len(batch.items)} spec(s): {counts['succeeded']} succeeded, {counts['failed']} "
        f"failed, {counts['skipped']} skipped"
    )
    return "\n".join(lines)


def result_json(batch: Batch) -> str:
    """The batch record's document, for tools that read stdout."""
    from exportspec.run.batch_record import batch_record

    document = batch_record(batch)
    for entry in document["specs"]:
        entry.pop("request", None)  # the bodies are in the record; stdout stays readable
    return json_dumps(document) + "\n"


def result_junit(batch: Batch) -> str:
    """JUnit XML: a test case per spec (failure: failed, skipped: skipped), for CI test tabs."""
    failures = sum(i.status == "failed" for i in batch.items)
    skipped = sum(i.status == "skipped" for i in batch.items)
    seconds = sum(i.seconds or 0.0 for i in batch.items)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name="exportspec" tests="{len(batch.items)}" failures="{failures}" '
        f'skipped="{skipped}" time="{seconds:.3f}">',
        f'  <testsuite name="exportspec {batch.command}" tests="{len(batch.items)}" '
        f'failures="{failures}" skipped="{skipped}" time="{seconds:.3f}">',
    ]
    for item in batch.items:
        name = quoteattr(_xml_text(str(item.spec)))
        head = f'    <testcase classname="exportspec" name={name} time="{item.seconds or 0:.3f}"'
        if item.status == "failed":
            message = quoteattr(_xml_text(f"exit {item.exit_code}: {item.error or ''}"))
            lines += [f"{head}>", f"      <failure message={message}/>", "    </testcase>"]
        elif item.status == "skipped":
            lines += [f"{head}>", "      <skipped/>", "    </testcase>"]
        else:
            lines.append(f"{head}/>")
    lines += ["  </testsuite>", "</testsuites>"]
    return "\n".join(lines) + "\n"


def result_github(batch: Batch) -> str:
    """GitHub Actions workflow commands: an error per failed spec, a notice per exported one."""
    from exportspec.gitops.report import escape_github

    lines = []
    for item in batch.items:
        file = escape_github(printable(str(item.spec)), property_=True)
        if item.status == "failed":
            message = escape_github(printable_lines(f"exit {item.exit_code}: {item.error or ''}"))
            lines.append(f"::error file={file},title=exportspec {batch.command}::{message}")
        elif item.status == "succeeded" and item.result is not None:
            message = escape_github(
                printable(f"exported {item.result.rows:,} rows to {item.output}")
            )
            lines.append(f"::notice file={file},title=exportspec {batch.command}::{message}")
    return "".join(f"{line}\n" for line in lines)


RESULT_WRITERS: dict[str, Callable[[Batch], str]] = {
    "json": result_json,
    "junit": result_junit,
    "github": result_github,
}


def _xml_text(text: str) -> str:
    """Only characters XML 1.0 allows (a spec path may hold others)."""
    return "".join(
        c if c in "\t\n\r" or (" " <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd") else "?"
        for c in printable(text)
    )
