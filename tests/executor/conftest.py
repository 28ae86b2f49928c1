"""Loopback servers that misbehave on cue, and helpers to run `exportspec run` against them.

`script_server` answers POSTs with a scripted list of `Reply`s (the last one repeats) and
records every request (arrival time, path, headers, body bytes), so tests can assert what
was sent, how often, and when. A `stall` reply sets `ScriptServer.stalled` once its first
bytes are on the wire: tests wait for that event instead of sleeping.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from tests.executor.stores import (
    AzureStore,
    GcsStore,
    S3Store,
    Store,
    azurite,
    azurite_command,
    cache_folder,
    gcs_emulator,
    store_env,
)

DATA = Path(__file__).parent / "data"
KEY_ID = "key-id-7f3a"
SECRET = "s3cr3t-Zq9-never-print"
BASIC = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
FORBIDDEN = (SECRET.encode(), BASIC.encode())

Mode = Literal[
    "normal", "truncate", "reset", "chunked", "chunked-unterminated", "close", "drip", "stall"
]


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b"id,email\n1,a@example.com\n2,b@example.com\n"
    headers: dict[str, str] = field(default_factory=dict)
    #: normal: Content-Length; truncate: promise len(body), send `cut` bytes, close;
    #: reset: send `cut` bytes then RST; chunked(-unterminated): chunked framing (without
    #: the final 0-chunk); close: no length, body ends at close; drip: `drip` bytes every
    #: `interval` seconds with Content-Length; stall: promise len(body), send `cut` bytes,
    #: set `ScriptServer.stalled`, then send nothing more until the server stops.
    mode: Mode = "normal"
    cut: int = 10
    delay: float = 0.0  # before the status line; the server's stop (teardown) ends it
    interval: float = 0.0
    drip: int = 1
    chunk: int = 7  # chunked(-unterminated): bytes per chunk
    reason: str | None = None  # the status line's phrase; None: the standard one


@dataclass
class Seen:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.replies: list[Reply] = [Reply()]
        self.requests: list[Seen] = []
        self.stop = threading.Event()
        #: Set by a `stall` reply once its first bytes are sent and flushed.
        self.stalled = threading.Event()
        #: Requests being answered now, and the most there ever were at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._counting = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                index = len(server.requests)
                server.requests.append(
                    Seen(time.monotonic(), self.path, dict(self.headers.items()), body)
                )
                reply = server.replies[min(index, len(server.replies) - 1)]
                with server._counting:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        server.answer(self, reply)
                finally:
                    with server._counting:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.daemon_threads = True
        # A client hanging up mid-answer is what several tests do on purpose: stay quiet.
        self.httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.port = self.httpd.server_address[1]
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    @property
    def count(self) -> int:
        return len(self.requests)

    def answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay and self.stop.wait(reply.delay):
            return
        body, out = reply.body, handler.wfile
        handler.send_response(reply.status, reply.reason)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.mode in ("chunked", "chunked-unterminated"):
            handler.send_header("Transfer-Encoding", "chunked")
        elif reply.mode == "close":
            handler.send_header("Connection", "close")
        else:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if reply.mode == "normal":
            out.write(body)
        elif reply.mode == "truncate":
            out.write(body[: reply.cut])
            out.flush()
            handler.close_connection = True
        elif reply.mode == "reset":
            out.write(body[: reply.cut])
            out.flush()
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.connection.close()
            handler.close_connection = True
        elif reply.mode in ("chunked", "chunked-unterminated"):
            for start in range(0, len(body), reply.chunk):
                piece = body[start : start + reply.chunk]
                out.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            if reply.mode == "chunked":
                out.write(b"0\r\n\r\n")
            out.flush()
            handler.close_connection = True
        elif reply.mode == "close":
            out.write(body)
            out.flush()
            handler.close_connection = True
        elif reply.mode == "drip":
            for start in range(0, len(body), reply.drip):
                out.write(body[start : start + reply.drip])
                out.flush()
                if self.stop.wait(reply.interval):
                    return
        elif reply.mode == "stall":
            out.write(body[: reply.cut])
            out.flush()
            self.stalled.set()
            self.stop.wait()
            handler.close_connection = True
            return
        out.flush()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptServer]:
    srv = ScriptServer()
    yield srv
    srv.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials set, fast backoff, no proxies, no EXPORTSPEC_* from the host, cwd in tmp."""
    for name in list(os.environ):
        if name.startswith("EXPORTSPEC_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXPORTSPEC_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("EXPORTSPEC_API_SECRET", SECRET)
    monkeypatch.setenv("EXPORTSPEC_BACKOFF_FACTOR", "0.01")
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """The csv spec from tests/executor/data, copied into the working folder."""
    return copy_spec("csv.yaml", tmp_path)


def copy_spec(name: str, folder: Path) -> Path:
    target = folder / name
    shutil.copy(DATA / name, target)
    return target


def leftovers(folder: Path) -> list[str]:
    """Temporary files left anywhere under `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.part"))


def assert_no_secret(*blobs: bytes | str) -> None:
    for blob in blobs:
        data = blob.encode() if isinstance(blob, str) else blob
        for secret in FORBIDDEN:
            assert secret not in data, f"secret leaked: {data[:500]!r}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment (credentials, fast backoff) for a child `exportspec` process."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(extra)
    return env


def python_cmd(*args: str) -> Sequence[str]:
    return [sys.executable, "-m", "exportspec", *args]


# --- local object stores (tests/executor/stores.py) --------------------------------------

#: The stores the shared destination tests run against, and what each promises.
STORES: list[dict[str, Any]] = yaml.safe_load((DATA / "stores.yaml").read_text())


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    """One server per test process (xdist worker), on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def _gcs_emulator() -> Iterator[GcsStore]:
    with gcs_emulator() as found:
        yield found


@pytest.fixture(scope="session")
def _azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureStore]:
    if not (shutil.which("npm") and shutil.which("node")):
        pytest.skip("Azurite comes from npm: node and npm are not installed")
    command = azurite_command(cache_folder())
    with azurite(command, tmp_path_factory.mktemp("azurite")) as found:
        yield found


def _s3_store(endpoint: str) -> S3Store:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    return S3Store(endpoint, client)


@pytest.fixture
def s3(_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    """The S3 store's credentials and endpoint in the environment (`AWS_ENDPOINT_URL`), small
    upload parts (5 MiB, S3's least) so a small export still has several."""
    for name, value in store_env(_moto_server).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EXPORTSPEC_PART_SIZE", str(5 * 2**20))
    return _s3_store(_moto_server)


@pytest.fixture(
    params=[
        pytest.param(case, id=case["id"], marks=[pytest.mark.network] if case["network"] else [])
        for case in STORES
    ]
)
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Each store in turn (data/stores.yaml), pointed at by the environment, 5 MiB parts."""
    case = request.param
    if case["id"] == "s3":
        return request.getfixturevalue("s3")  # type: ignore[no-any-return]
    found: Store = request.getfixturevalue(case["fixture"])
    for name, value in found.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EXPORTSPEC_PART_SIZE", str(5 * 2**20))
    return found
