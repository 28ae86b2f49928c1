"""The sandbox's HTTP server: auth, body checks and streamed exports, like the real endpoint."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from exportspec import __version__
from exportspec.errors import ConfigError, UsageError
from exportspec.jsontext import StrictJsonError
from exportspec.run.settings import is_loopback
from exportspec.sandbox.export import BodyError, parse_request, render
from exportspec.sandbox.faults import STATUS_KINDS, Fault, FaultPlan
from exportspec.sandbox.jsoninput import load_json
from exportspec.sandbox.model import Project
from exportspec.sandbox.responses import Response, error, json_body, status_fault
from exportspec.terminal import guard_line

EXPORT_PATH = re.compile(r"/data/v2/projects/(?P<token>[^/]+)/customers/export")
#: Bodies larger than this are refused with 413; real export bodies are a few hundred bytes.
MAX_BODY = 1024 * 1024
#: Where `exportspec sandbox` listens unless told otherwise.
DEFAULT_PORT = 8787


@dataclass(frozen=True, slots=True)
class Credentials:
    """The one project token and API key the sandbox accepts."""

    project_token: str = "sandbox"
    api_key_id: str = "sandbox"
    api_secret: str = "sandbox"


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP/1.1 server holding the project, credentials and fault plan."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        project: Project,
        credentials: Credentials,
        faults: FaultPlan,
        log: IO[str] | None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.project = project
        self.credentials = credentials
        self.faults = faults
        self.log = log
        self.stopping = threading.Event()
        self.request_count = 0
        #: Slow-fault waits begun, and an event set at the first: a record for tests.
        self.stalls = 0
        self.stalled = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets or drops its connection (an idle keep-alive closed with RST,
        a test hanging up mid-answer) is normal traffic, not a traceback on stderr."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[0], self.server_address[1]
        text = host.decode() if isinstance(host, bytes) else host
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port}"

    def count_request(self) -> None:
        with self._lock:
            self.request_count += 1

    def count_stall(self) -> None:
        with self._lock:
            self.stalls += 1
        self.stalled.set()

    def write_log(self, line: str) -> None:
        """One log line, escaped: request paths and methods are whatever a client sent."""
        if self.log is not None:
            with self._lock:
                print(guard_line(line), file=self.log, flush=True)

    def track(self, connection: socket.socket, *, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def stop(self) -> None:
        """Stop serving, wake delayed responses and close open keep-alive connections."""
        self.stopping.set()
        self.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()


def create_server(
    project: Project,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    credentials: Credentials | None = None,
    faults: FaultPlan | None = None,
    log: IO[str] | None = None,
    allow_remote: bool = False,
) -> SandboxHTTPServer:
    """Bind a sandbox server (not yet serving); port 0 picks a free port.

    Raises UsageError for a non-loopback host without `allow_remote`, ConfigError when the
    address cannot be bound.
    """
    if not allow_remote and not is_loopback(host):
        raise UsageError(
            f"refusing to listen on {host!r}: the sandbox serves loopback only "
            "(127.0.0.1, ::1, localhost) unless allowed explicitly (--allow-remote)"
        )
    try:
        return SandboxHTTPServer(
            (host, port),
            project=project,
            credentials=credentials or Credentials(),
            faults=faults or FaultPlan(),
            log=log,
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"exportspec-sandbox/{__version__}"
    sys_version = ""
    # Headers and body go out in separate writes; without TCP_NODELAY the second one
    # waits for the client's delayed ACK (about 40 ms per small response).
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        self.server.track(self.connection, alive=False)
        # The connection may have been reset, on purpose or by the client.
        with contextlib.suppress(OSError):
            super().finish()

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        # http.server's own messages (malformed request lines) go to the same log.
        self.server.write_log(f"{self.client_address[0]} {format % args}")

    def _handle(self) -> None:
        started = time.monotonic()
        self._sent = 0
        self._status = 0
        self._note = ""
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self._note += " (client disconnected)"
        finally:
            self.server.write_log(
                f'{self.client_address[0]} "{self.command} {self.path}" {self._status} '
                f"{self._sent}B {time.monotonic() - started:.3f}s{self._note}"
            )

    def _dispatch(self) -> None:
        body, problem = self._read_body()
        match = EXPORT_PATH.fullmatch(urlsplit(self.path).path)
        if problem is not None:
            self.close_connection = True
            self._send(problem, None)
            return
        if match is None:
            self._send(error(404, f"Not found: {urlsplit(self.path).path}"), None)
            return
        if self.command != "POST":
            self._send(error(405, "Method not allowed; use POST", ("Allow", "POST")), None)
            return
        self.server.count_request()
        fault = self.server.faults.take()
        if fault is not None:
            self._note = f" fault={fault.kind}"
            if fault.kind in STATUS_KINDS:
                self._send(status_fault(fault), None)
                return
        self._send(self._export(unquote(match["token"]), body), fault)

    def _read_body(self) -> tuple[bytes, Response | None]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return b"", error(411, "Send the body with a Content-Length")
        declared = self.headers.get("Content-Length") or "0"
        # Digits only: int() would also take "+5", "1_000" and " 5", and fail on 4300 digits.
        if not re.fullmatch(r"[0-9]{1,20}", declared):
            return b"", error(400, "Content-Length is not a number of bytes")
        length = int(declared)
        if length > MAX_BODY:
            # Drain a moderately large body so the client reads the 413 instead of a reset.
            if length <= 16 * MAX_BODY:
                while length > 0:
                    got = self.rfile.read(min(length, 65536))
                    if not got:
                        break
                    length -= len(got)
            return b"", error(413, f"Request body larger than {MAX_BODY} bytes")
        return self.rfile.read(length), None

    def _export(self, token: str, raw: bytes) -> Response:
        refused = self._check_auth(token)
        if refused is not None:
            return refused
        if self.headers.get_content_type() != "application/json":
            return error(415, "Content-Type must be application/json")
        try:
            body = load_json(raw)
        except StrictJsonError as exc:
            return json_body(400, {"success": False, "errors": [f"Invalid JSON: {exc}"]})
        try:
            request = parse_request(body, self.server.project)
        except BodyError as exc:
            return json_body(400, {"success": False, "errors": exc.errors})
        content_type = "text/csv; charset=utf-8" if request.format == "csv" else "application/json"
        project = self.server.project
        return Response(
            200,
            render(request, project),
            content_type,
            measure=lambda: sum(map(len, render(request, project))),
        )

    def _check_auth(self, token: str) -> Response | None:
        expected = self.server.credentials
        challenge = ("WWW-Authenticate", 'Basic realm="exportspec sandbox"')
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            return error(401, "Access key not provided (use HTTP Basic auth)", challenge)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return error(401, "Malformed Basic credentials", challenge)
        key_id, colon, secret = decoded.partition(":")
        if not colon:
            return error(401, "Malformed Basic credentials", challenge)
        if not hmac.compare_digest(key_id.encode(), expected.api_key_id.encode()):
            return error(401, "Access key not found", challenge)
        if not hmac.compare_digest(secret.encode(), expected.api_secret.encode()):
            return error(403, "Invalid secret")
        if token != expected.project_token:
            return error(403, f"No permission to access project {token!r}")
        return None

    def _send(self, response: Response, fault: Fault | None) -> None:
        """Write the response; a small body gets Content-Length, a big one chunked framing."""
        slow = fault.seconds if fault is not None and fault.kind == "slow" else None
        # One stall per slow fault: before the headers (at=start) or after the first chunk.
        slow_at_body = slow if fault is not None and fault.at_body else None
        if slow is not None and slow_at_body is None and self._stall(slow):
            return
        first = next(response.chunks, b"")
        second = next(response.chunks, None)
        chunked = second is not None
        self._status = response.status
        self.send_response_only(response.status)
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(first)))
        self.end_headers()
        pieces = iter([first]) if second is None else _prepend(first, second, response.chunks)
        if fault is not None and fault.kind == "truncate":
            self._truncate(pieces, _half_of(response, first, chunked=chunked), chunked=chunked)
            return
        if fault is not None and fault.kind == "reset":
            self._reset(first, chunked=chunked)
            return
        for index, chunk in enumerate(pieces):
            if not chunk:
                continue
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            self._sent += len(chunk)
            if index == 0 and slow_at_body is not None and self._stall(slow_at_body):
                return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _stall(self, seconds: float) -> bool:
        """Wait for a slow fault; True when the server is stopping and the reply is dropped."""
        self.server.count_stall()
        if self.server.stopping.wait(seconds):
            self.close_connection = True
            return True
        return False

    def _truncate(self, pieces: Iterator[bytes], half: int, *, chunked: bool) -> None:
        """Send the first `half` bytes of the body under a promise of all of it (its
        Content-Length, or the framing of the chunk it ends in), then close the connection."""
        for chunk in pieces:
            left = half - self._sent
            if len(chunk) < left:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                self._sent += len(chunk)
                continue
            self.wfile.write((b"%x\r\n" % len(chunk) if chunked else b"") + chunk[:left])
            self._sent += left
            break
        self.close_connection = True

    def _reset(self, first: bytes, *, chunked: bool) -> None:
        """Send half of the first chunk under a promise of all of it, then reset the line."""
        half = first[: len(first) // 2]
        self.wfile.write((b"%x\r\n" % len(first) if chunked else b"") + half)
        self._sent += len(half)
        self.close_connection = True
        # SO_LINGER with timeout 0 turns close() into a TCP RST instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the makefile() reference would keep the socket open
        self.connection.close()


def _half_of(response: Response, first: bytes, *, chunked: bool) -> int:
    """Half of the whole body's length, rounded down (a streamed body is measured)."""
    total = len(first) if not chunked or response.measure is None else response.measure()
    return total // 2


def _prepend(first: bytes, second: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield second
    yield from rest
