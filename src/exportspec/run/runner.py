"""Stage 5 (policy): send a compiled body, stream the export to disk, write the run record.

The download restarts from scratch when a transfer breaks mid-body, within the same
attempt budget as urllib3's retries. An output file is replaced only by a complete
response; the run record beside it (`OUTPUT.run.json`) says how it was made, so
`rerun` can send the identical bytes again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import queue
import re
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, TextIO

from exportspec.errors import ConfigError, RefusedError, TransientError
from exportspec.jsontext import StrictJsonError, loads_strict
from exportspec.run.models import ExportRequest, RunResult
from exportspec.run.output import (
    AtomicFile,
    JsonBodyError,
    JsonRowCounter,
    is_special_file,
    output_error,
    row_counter,
)
from exportspec.run.settings import ENV_API_KEY_ID, ENV_API_SECRET, ENV_PROJECT_TOKEN, Settings
from exportspec.spec.models import CompiledBody

if TYPE_CHECKING:
    from exportspec.run.client import ExportClient, ExportResponse

#: Bytes held back before writing, to recognise `{"success": false, ...}` sent as an export.
HEAD_BYTES = 64 * 1024
_SUCCESS_FALSE = re.compile(rb'\A\s*\{\s*"success"\s*:\s*false\b')


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
        """Best effort: a full or closed stderr must not fail (or, inside urllib3's retry
        sleep, be mistaken for a network error in) the export itself."""
        assert self._stream is not None
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._stream = None


class _Sink(Protocol):
    restartable: bool

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def discard(self) -> None: ...


class _FileSink:
    """An AtomicFile whose OS errors name the output (disk full, permission denied)."""

    restartable = True

    def __init__(self, target: Path) -> None:
        self._target = target
        try:
            self._file = AtomicFile(target, direct=True)
        except OSError as exc:
            raise output_error(target, exc) from None

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise output_error(self._target, exc) from None

    def commit(self) -> None:
        try:
            self._file.commit()
        except OSError as exc:
            self._file.discard()
            raise output_error(self._target, exc) from None

    def discard(self) -> None:
        self._file.discard()


class _StreamSink:
    """stdout: nothing can be taken back, so a restart is possible only before the first byte.

    A reader that leaves raises BrokenPipeError (exit 141); any other OS error is a
    ConfigError naming the stream.
    """

    def __init__(self, stream: BinaryIO, name: str = "stdout") -> None:
        self._stream = stream
        self._name = name
        self.restartable = True

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.restartable = False
        view = memoryview(data)
        with self._errors():
            # A pipe whose reader left can take part of a write without raising: loop, so
            # the next write raises instead of the rest being dropped silently.
            while view:
                view = view[self._stream.write(view) :]

    def commit(self) -> None:
        with self._errors():
            self._stream.flush()

    def discard(self) -> None:
        pass

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise ConfigError(f"cannot write to {self._name}: {exc.strerror or exc}") from None


class _SpecialFileSink(_StreamSink):
    """A device or FIFO given as -o (/dev/null, /dev/stdout, a named pipe): written through.

    Never restarted: reopening a FIFO would show its reader an end and then block.
    """

    def __init__(self, target: Path) -> None:
        try:
            stream = target.open("wb")
        except OSError as exc:
            raise output_error(target, exc) from None
        super().__init__(stream, str(target))
        self.restartable = False

    def commit(self) -> None:
        with self._errors():
            self._stream.close()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.close()


@dataclass(frozen=True, slots=True)
class _Transfer:
    status: int
    size: int
    sha256: str
    rows: int


def default_output_path(compiled: CompiledBody) -> Path:
    """The spec's rendered `output.path`, else `exports/<name>.<csv|json>`."""
    if compiled.output_path:
        return Path(compiled.output_path)
    suffix = "csv" if compiled.format == "csv" else "json"
    return Path("exports") / f"{compiled.name}.{suffix}"


def submit_export(
    request: ExportRequest,
    settings: Settings,
    output: Path | None,
    *,
    progress: Progress | None = None,
    stdout: BinaryIO | None = None,
) -> RunResult:
    """Send the body, stream the response to `output` (None: `stdout`), return what happened.

    Raises RefusedError (not retried), TransientError (attempts exhausted, deadline
    passed), ConfigError (the output cannot be written). On any failure, Ctrl-C
    included, no temporary file remains and an older output is untouched.
    """
    from exportspec.run.client import BodyBrokenError, ExportClient, backoff_seconds

    progress = progress or Progress(None)
    started = dt.datetime.now(dt.UTC)
    url = settings.export_url
    max_attempts = settings.retries + 1
    attempt = 1
    with ExportClient(settings, notify=progress.note) as client:
        while True:
            # The output is opened first: an unwritable path must not cost an export.
            sink: _Sink
            if output is None:
                assert stdout is not None
                sink = _StreamSink(stdout)
            elif is_special_file(output):
                sink = _SpecialFileSink(output)
            else:
                sink = _FileSink(output)
            try:
                response = client.send(
                    url, request.body, attempt=attempt, max_attempts=max_attempts
                )
                attempt = response.attempts
                with response:
                    transfer = _download(response, sink, request.export_format, progress, client)
                sink.commit()
            except BodyBrokenError as exc:
                sink.discard()
                progress.done()
                reason = client.scrub(str(exc))
                if attempt >= max_attempts or not sink.restartable:
                    why = "" if sink.restartable else " (a stream output cannot be rewound)"
                    raise TransientError(
                        f"the export failed after {attempt} attempt(s){why}; the last one: {reason}"
                    ) from None
                wait = backoff_seconds(settings, attempt)
                progress.note(f"{reason}; sending the request again in {wait:.1f} s")
                time.sleep(wait)
                attempt += 1
                continue
            except BaseException:
                sink.discard()
                progress.done()
                raise
            progress.done()
            return RunResult(
                request=request,
                url=url,
                base_url=settings.base_url,
                project_token=settings.project_token,
                output_path=output,
                status=transfer.status,
                attempts=attempt,
                started_at=started,
                finished_at=dt.datetime.now(dt.UTC),
                size=transfer.size,
                sha256=transfer.sha256,
                rows=transfer.rows,
            )


class _Lanes:
    """Runs each work function on every chunk, in order, on its own thread.

    Each lane is a thread fed through a bounded queue. hashlib and os.write release the
    GIL, so one lane hashing and one writing overlap each other, the socket reads and the
    row counting (which holds the GIL) on the main thread. Measured per GB here
    (benchmarks/RESULTS.md, "Download"): everything on one thread 2.8-3.6 s, hashing and
    writing on one second thread 1.5-1.9 s, on two threads 0.9-1.0 s with counting off.
    """

    def __init__(self, works: Mapping[str, Callable[[bytes], object]]) -> None:
        self._error: BaseException | None = None
        self._aborted = False
        # Four 1 MiB chunks in flight per lane keep the threads busy at constant memory.
        self._queues: list[queue.Queue[bytes | None]] = []
        self._threads: list[threading.Thread] = []
        for name, work in works.items():
            lane: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
            thread = threading.Thread(target=self._drain, args=(lane, work), name=name)
            thread.daemon = True
            thread.start()
            self._queues.append(lane)
            self._threads.append(thread)

    def put(self, chunk: bytes) -> None:
        """Queue `chunk` in every lane; raise what working on an earlier chunk raised."""
        if self._error is not None:
            raise self._error
        for lane in self._queues:
            lane.put(chunk)

    def finish(self) -> None:
        """Wait until every chunk is done; raise what working on one raised."""
        self._join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Drop what is still queued and stop the threads (the sink is discarded next)."""
        self._aborted = True
        self._join()

    def _join(self) -> None:
        for lane, thread in zip(self._queues, self._threads, strict=True):
            if thread.is_alive():
                lane.put(None)
                thread.join()

    def _drain(self, lane: queue.Queue[bytes | None], work: Callable[[bytes], object]) -> None:
        while (chunk := lane.get()) is not None:
            if self._error is not None or self._aborted:
                continue  # keep draining so put() never blocks on a dead consumer
            try:
                work(chunk)
            except BaseException as exc:  # handed to the main thread by put()/finish()
                self._error = exc


def _download(
    response: ExportResponse,
    sink: _Sink,
    export_format: str,
    progress: Progress,
    client: ExportClient,
) -> _Transfer:
    """Stream the body into `sink`, hashing and counting rows alongside; check it is complete."""
    from exportspec.run.client import BodyBrokenError

    counter = row_counter(export_format)
    digest = hashlib.sha256()
    lanes = _Lanes({"exportspec-hash": digest.update, "exportspec-write": sink.write})
    size = 0
    # The first bytes are held back until they cannot be a `success: false` answer.
    head: bytearray | None = bytearray()
    try:
        for chunk in response.iter_chunks():
            size += len(chunk)
            counter.feed(chunk)
            if head is None:
                lanes.put(chunk)
            else:
                head += chunk
                if len(head) >= HEAD_BYTES:
                    if _SUCCESS_FALSE.match(head):
                        raise client.success_false(bytes(head))
                    lanes.put(bytes(head))
                    head = None
            progress.update(size, counter.rows)
        if response.expected_length is not None and size != response.expected_length:
            raise BodyBrokenError(
                f"the body ended after {size} of {response.expected_length} bytes"
            )
        if head is not None:
            _check_small_body(bytes(head), response.status, client)
            lanes.put(bytes(head))
        counter.close()
        lanes.finish()
    except JsonBodyError as exc:
        lanes.abort()
        raise BodyBrokenError(f"{exc} after {size} bytes") from None
    except BaseException:
        lanes.abort()
        raise
    if isinstance(counter, JsonRowCounter) and counter.members.get("success") is False:
        raise client.success_false(json.dumps(counter.members).encode())
    return _Transfer(response.status, size, digest.hexdigest(), counter.rows)


def _check_small_body(body: bytes, status: int, client: ExportClient) -> None:
    """A whole body under HEAD_BYTES: refused if empty (even an empty export has a header)
    or a JSON object saying success: false."""
    from exportspec.run.client import NOT_AN_EXPORT_HINT

    if not body.strip():
        raise RefusedError(
            f"the server answered HTTP {status} with an empty body, not an export\n"
            f"hint: {NOT_AN_EXPORT_HINT}"
        )
    if not body.lstrip().startswith(b"{"):
        return
    try:
        data = loads_strict(body)
    except StrictJsonError:
        return
    if isinstance(data, dict) and data.get("success") is False:
        raise client.success_false(body)


def format_dry_run(
    request: ExportRequest, settings: Settings, output: Path | None, *, sandbox: bool = False
) -> str:
    """The request as it would be sent (Authorization redacted) and an equivalent curl command.

    With `sandbox`, the command targets `exportspec sandbox`, whose public credentials it
    spells out; otherwise it reads them from the environment and never contains them.
    """
    from exportspec.run.client import request_headers

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
        *(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in request_headers().items()),
        f"--data-binary {shlex.quote(request.body.decode('utf-8'))}",
    ]
    if output is not None:
        curl.append(f"--create-dirs -o {shlex.quote(output.as_posix())}")
    curl.append(_shell_url(url))
    lines.append(" \\\n  ".join(curl))
    if not settings.project_token:
        lines.append(f"# (no project token given: the URL reads ${ENV_PROJECT_TOKEN})")
    return "\n".join(lines) + "\n"


def format_summary(result: RunResult, record: Path | None) -> str:
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
