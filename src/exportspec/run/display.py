"""What a run shows a person: live progress on a terminal, notes, the dry run, the summary."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import TextIO

from exportspec.run.client import request_headers
from exportspec.run.destinations import Location
from exportspec.run.models import ExportRequest, RunResult
from exportspec.run.settings import ENV_API_KEY_ID, ENV_API_SECRET, ENV_PROJECT_TOKEN, Settings


class Progress:
    """Progress on a terminal, notes (retries) and nothing else; `stream=None` is silent."""

    def __init__(self, stream: TextIO | None, *, live: bool = False, interval: float = 0.25):
        self._stream = stream
        self._live = live and stream is not None
        self._interval = interval
        #: Elapsed time includes the wait for the first byte: the API computes the export first.
        self._started = time.monotonic()
        self._drawn = 0.0
        self._line = False

    def note(self, message: str) -> None:
        if self._stream is None:
            return
        self._clear()
        self._show(f"exportspec: {message}\n")

    def update(self, size: int, rows: int) -> None:
        if not self._live or self._stream is None:
            return
        now = time.monotonic()
        if now - self._drawn < self._interval:
            return
        self._drawn = now
        elapsed = now - self._started
        rate = size / elapsed if elapsed > 0 else 0.0
        self._show(
            f"\r\x1b[K{format_bytes(size)}  {format_bytes(rate)}/s  "
            f"{_clock(elapsed)}  {rows:,} rows"
        )
        self._line = self._stream is not None

    def done(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self._line and self._stream is not None:
            self._show("\r\x1b[K")
            self._line = False

    def _show(self, text: str) -> None:
        """Best effort: a full or closed stderr must not fail the export itself."""
        assert self._stream is not None
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._stream = None


def format_dry_run(
    request: ExportRequest, settings: Settings, output: Location | None, *, sandbox: bool = False
) -> str:
    """The request as it would be sent (Authorization redacted) and an equivalent curl command.

    With `sandbox`, the command targets `exportspec sandbox`, whose public credentials it
    spells out; otherwise it reads them from the environment and never contains them.
    """
    url = settings.export_url
    headers = {"Authorization": "Basic <redacted>", **request_headers()}
    headers["Content-Length"] = str(len(request.body))
    lines = [f"POST {url}", *(f"{k}: {v}" for k, v in headers.items()), ""]
    lines.append(request.body.decode("utf-8"))
    lines.append("")
    if sandbox:
        lines.append("# The same request with curl, to a sandbox started by `exportspec sandbox`:")
        auth = f"-u {shlex.quote(f'{settings.api_key_id}:{settings.api_secret}')}"
    else:
        lines.append("# The same request with curl; credentials come from the environment:")
        auth = f'-u "${ENV_API_KEY_ID}:${ENV_API_SECRET}"'
    curl = [
        "curl -sS --fail --remove-on-error -X POST",
        auth,
        # curl's --compressed asks for and decodes gzip and deflate, as exportspec does.
        "--compressed",
        *(
            f"-H {shlex.quote(f'{k}: {v}')}"
            for k, v in request_headers().items()
            if k != "Accept-Encoding"
        ),
        f"--data-binary {shlex.quote(request.body.decode('utf-8'))}",
    ]
    if isinstance(output, Path):
        curl.append(f"--create-dirs -o {shlex.quote(output.as_posix())}")
    elif output is not None:  # exportspec streams it there; curl can only save a file
        curl.append(f"-o {shlex.quote(output.name)}")
    curl.append(_shell_url(url))
    lines.append(" \\\n  ".join(curl))
    if not settings.project_token:
        lines.append(f"# (no project token given: the URL reads ${ENV_PROJECT_TOKEN})")
    return "\n".join(lines) + "\n"


def format_summary(result: RunResult, record: Location | None) -> str:
    """One line: rows, bytes, seconds, path; for a rerun, whether the bytes are the same."""
    where = "stdout" if result.output_path is None else str(result.output_path)
    text = (
        f"Exported {result.rows:,} rows ({format_bytes(result.size)}) in "
        f"{result.seconds:.1f} s to {where}"
    )
    text += f" (run record: {record})" if record is not None else ""
    replayed = (result.request.rerun_of or {}).get("output_sha256")
    if replayed:  # the same body need not bring the same data: say which it was
        text += (
            "; the same bytes as the replayed run's export"
            if replayed == result.sha256
            else "; not the same bytes as the replayed run's export (the data or the server "
            "changed)"
        )
    return text


def format_bytes(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _shell_url(url: str) -> str:
    """The URL quoted for a shell, leaving a `$EXPORTSPEC_PROJECT_TOKEN` placeholder live."""
    placeholder = f"${ENV_PROJECT_TOKEN}"
    if placeholder not in url:
        return shlex.quote(url)
    before, after = url.split(placeholder, 1)
    return f'{shlex.quote(before)}"{placeholder}"{shlex.quote(after)}'


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
