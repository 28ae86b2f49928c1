"""Stage 5 (HTTP): the export call's session, retry and timeout policy, and response triage.

urllib3's `Retry` handles everything up to the response headers (connection errors,
timeouts, 429/5xx with backoff and Retry-After). A transfer that breaks after the body
began surfaces as `BodyBrokenError`; restarting the whole request is the caller's job
(submit.py), because a POST response cannot be resumed.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import math
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from itertools import takewhile
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import InvalidHeader, MaxRetryError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from exportspec import __version__
from exportspec.errors import ConfigError, RefusedError, TransientError
from exportspec.jsontext import StrictJsonError, loads_strict
from exportspec.run.settings import ENV_API_KEY_ID, ENV_API_SECRET, ENV_PROJECT_TOKEN, Settings

_Exc = TypeVar("_Exc", bound=BaseException)

#: requests' default `iter_content()` chunk is 1 byte (50 min per GiB); 1 MiB measured fastest.
CHUNK_SIZE = 1 << 20
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"exportspec/{__version__}"
BACKOFF_MAX = 60.0
#: Enough of an error body to show its message; the rest is not read.
MESSAGE_BYTES = 64 * 1024
MAX_MESSAGES = 20
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")

HINT_BY_STATUS = {
    400: "the API's message above says what it rejected; `exportspec validate` catches "
    "structural problems, not ids (segmentations, aggregates, properties) the project lacks",
    401: f"check {ENV_API_KEY_ID} and {ENV_API_SECRET} "
    "(the key ID and secret of a private API group)",
    403: 'the API group needs the "GDPR > Export customers" permission, and the project '
    "token must be the token of that group's project",
    404: f"check the project token ({ENV_PROJECT_TOKEN}) and the base URL",
}

NOT_AN_EXPORT_HINT = (
    "check the base URL, and whether a proxy or captive portal answers in the API's place"
)
_HTML_RE = re.compile(r"\s*(text/html|application/xhtml)", re.IGNORECASE)

Notify = Callable[[str], None]


class BodyBrokenError(Exception):
    """The transfer broke after the body began; the whole request must be sent again."""


class _DeadlineError(Exception):
    """The overall deadline passed, or would pass during the next backoff."""


def request_headers() -> dict[str, str]:
    """Headers sent with every export call, besides Authorization."""
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Accept": "*/*"}


def api_messages(body: bytes, scrub: Callable[[str], str] = lambda text: text) -> list[str]:
    """The API's own error text in every documented shape: error, errors (list or dict), message.

    Falls back to the body as text when it is not JSON (a proxy's HTML or plain text). Each
    message is one printable line of bounded length: server text must not drive the terminal.
    `scrub` masks secrets in each message before it is cut, so no fragment of one survives.
    """
    text = body.decode("utf-8", "replace").strip()
    try:
        data = loads_strict(text)
    except StrictJsonError:
        data = None
    messages: list[str] = []
    if isinstance(data, dict):
        if data.get("error"):
            messages.append(str(data["error"]))
        errors = data.get("errors")
        if isinstance(errors, list):
            messages += [str(item) for item in errors]
        elif isinstance(errors, dict):
            for key, value in errors.items():
                items = value if isinstance(value, list) else [value]
                prefix = "" if key in ("_global", "") else f"{key}: "
                messages += [f"{prefix}{item}" for item in items]
        elif errors:
            messages.append(str(errors))
        if data.get("message"):
            messages.append(str(data["message"]))
    if not messages and text and not (isinstance(data, dict) and "success" in data):
        messages.append(text)
    shown = [_one_line(scrub(message)) for message in messages[:MAX_MESSAGES]]
    if len(messages) > MAX_MESSAGES:
        shown.append(f"... and {len(messages) - MAX_MESSAGES} more")
    return shown


def _one_line(text: str) -> str:
    """`text` with control characters and runs of whitespace collapsed, at most 500 characters."""
    collapsed = " ".join(_CONTROL_RE.sub(" ", text).split())
    return collapsed if len(collapsed) <= 500 else collapsed[:500] + "..."


def refusal(
    status: int,
    reason: str,
    body: bytes,
    *,
    success_false: bool = False,
    scrub: Callable[[str], str] = lambda text: text,
) -> RefusedError:
    """The error for a refused request: status, the API's messages and a hint.

    `scrub` masks secrets in what the server sent; our own hint text is left as written.
    """
    messages = api_messages(body, scrub) or ["(no message in the response)"]
    what = (
        "HTTP 200 with success: false"
        if success_false
        else f"HTTP {status} {_one_line(scrub(reason))}".strip()
    )
    text = f"the API refused the request ({what}): " + "; ".join(messages)
    hint = HINT_BY_STATUS.get(status)
    return RefusedError(f"{text}\nhint: {hint}" if hint else text)


class ExportRetry(Retry):
    """urllib3's Retry, plus a wall-clock deadline and a notice before each wait.

    The first retry also waits (urllib3 retries immediately): each attempt re-runs a
    whole export on the server, so hammering it helps nobody.
    """

    deadline: float | None = None
    notify: Notify | None = None

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.deadline, retry.notify = self.deadline, self.notify
        return retry

    def get_backoff_time(self) -> float:
        errors = len(list(takewhile(lambda h: h.redirect_location is None, reversed(self.history))))
        if errors == 0:
            return 0.0
        value = self.backoff_factor * 2.0 ** (errors - 1) + random.random() * self.backoff_jitter
        return float(max(0.0, min(self.backoff_max, value)))

    def increment(self, *args: Any, **kw: Any) -> Self:
        error = kw.get("error")
        if error is not None and (_is_certificate_error(error) or _is_unknown_host(error)):
            # A certificate that fails verification, or a host name that does not exist,
            # will fail again: no retries.
            raise MaxRetryError(kw.get("_pool"), kw.get("url") or "", error) from error  # type: ignore[arg-type]
        return super().increment(*args, **kw)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait: float | None = None
        if self.respect_retry_after_header and response is not None:
            try:
                wait = self.get_retry_after(response)
            except InvalidHeader:  # "-5", "1.5", "soon": fall back to the backoff curve
                wait = None
        if not wait:  # Retry-After: 0 counts as absent, as in urllib3
            wait = self.get_backoff_time()
        if self.deadline is not None and time.monotonic() + wait > self.deadline:
            raise _DeadlineError
        if self.notify is not None and self.history:
            last = self.history[-1]
            what = f"HTTP {last.status}" if last.status else _describe(last.error)
            self.notify(f"{what}; retrying in {wait:.1f} s")
        if wait > 0:
            time.sleep(wait)


#: getaddrinfo answers that another try will not change: no such name, or no address for
#: it. EAI_AGAIN (the resolver cannot be reached or timed out) stays transient.
_NO_SUCH_HOST = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)


def _cause(error: BaseException, kind: type[_Exc]) -> _Exc | None:
    """The first exception of `kind` in `error`'s chain (wrapped in args[0] or __cause__)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        nested = current.args[0] if current.args else None
        current = nested if isinstance(nested, BaseException) else current.__cause__
    return None


def _is_certificate_error(error: BaseException) -> bool:
    if _cause(error, ssl.SSLCertVerificationError) is not None:
        return True
    return isinstance(error, Urllib3SSLError | requests.exceptions.SSLError) and (
        "CERTIFICATE_VERIFY_FAILED" in str(error)
    )


def _is_unknown_host(error: BaseException) -> bool:
    lookup = _cause(error, socket.gaierror)
    return lookup is not None and lookup.errno in _NO_SUCH_HOST


def _unknown_host_error(url: str) -> ConfigError:
    """A base URL whose host name DNS does not know: a typo far more often than an outage."""
    host = urlsplit(url).hostname or url
    return ConfigError(
        f"the host {host!r} was not found by DNS ({url})\n"
        "hint: check the base URL (--base-url, EXPORTSPEC_BASE_URL or exportspec.toml)"
    )


def backoff_seconds(settings: Settings, failures: int) -> float:
    """Wait before the next attempt after `failures` consecutive failures (same curve as Retry)."""
    factor = settings.backoff_factor
    value: float = factor * 2.0 ** (failures - 1) + random.random() * factor
    return min(BACKOFF_MAX, value)


class ExportResponse:
    """A 2xx response whose body is not read yet."""

    def __init__(self, response: requests.Response, client: ExportClient, attempts: int) -> None:
        self._response = response
        self._client = client
        self.status: int = response.status_code
        self.attempts = attempts
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        length = response.headers.get("Content-Length")
        #: Decoded bytes expected, when the server said so and nothing re-encodes them.
        self.expected_length: int | None = (
            int(length) if length and length.isdigit() and encoding == "identity" else None
        )
        self.content_type: str = response.headers.get("Content-Type", "")

    def iter_chunks(self) -> Iterator[bytes]:
        """The body in chunks of up to 1 MiB; a broken transfer raises BodyBrokenError."""
        try:
            yield from self._response.iter_content(CHUNK_SIZE)
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ConnectionError,
            requests.exceptions.ContentDecodingError,
            Urllib3HTTPError,
            http.client.HTTPException,
            OSError,
        ) as exc:
            self._client.check_deadline()
            raise BodyBrokenError(_describe(exc)) from exc
        # The watchdog ends a transfer by shutting the socket, which can look like a clean EOF.
        self._client.check_deadline()

    def close(self) -> None:
        self._client.forget(self._response)
        self._response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ExportClient:
    """Sends the export POST with the settings' retry, timeout, deadline and auth policy.

    Use as a context manager: the overall deadline (if any) starts on entry.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        notify: Notify | None = None,
    ) -> None:
        if not settings.has_credentials:
            raise ConfigError(f"no API credentials: set {ENV_API_KEY_ID} and {ENV_API_SECRET}")
        self._settings = settings
        self._session = session or requests.Session()
        self._adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1)
        self._session.mount("http://", self._adapter)
        self._session.mount("https://", self._adapter)
        self._notify = notify
        self._deadline_at: float | None = None
        self._expired = threading.Event()
        self._lock = threading.Lock()
        self._current: requests.Response | None = None
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Self:
        if self._settings.deadline is not None:
            self._deadline_at = time.monotonic() + self._settings.deadline
            self._timer = threading.Timer(self._settings.deadline, self._expire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._session.close()

    def send(self, url: str, body: bytes, *, attempt: int, max_attempts: int) -> ExportResponse:
        """POST `body` as-is, making attempts `attempt`..`max_attempts`; return a 2xx response.

        Raises RefusedError (4xx), TransientError (retries exhausted, deadline passed).
        """
        settings = self._settings
        retry = ExportRetry(
            total=max_attempts - attempt,
            allowed_methods=frozenset({"POST"}),  # the export only reads, so a retry is safe
            status_forcelist=TRANSIENT_STATUSES,
            backoff_factor=settings.backoff_factor,
            backoff_jitter=settings.backoff_factor,
            backoff_max=BACKOFF_MAX,
            retry_after_max=math.ceil(settings.retry_after_max),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.deadline, retry.notify = self._deadline_at, self._notify
        self._adapter.max_retries = retry
        read_timeout = settings.read_timeout
        if self._deadline_at is not None:
            read_timeout = max(0.001, min(read_timeout, self._deadline_at - time.monotonic()))
        assert settings.api_key_id is not None and settings.api_secret is not None
        try:
            response = self._session.post(
                url,
                data=body,
                headers=request_headers(),
                auth=(settings.api_key_id, settings.api_secret),
                timeout=(settings.connect_timeout, read_timeout),
                stream=True,
                allow_redirects=False,
            )
        except _DeadlineError:
            raise self._deadline_error() from None
        except requests.exceptions.RequestException as exc:
            if _is_certificate_error(exc):
                raise self._certificate_error(exc, url) from None
            if _is_unknown_host(exc):
                raise _unknown_host_error(url) from None
            self.check_deadline()
            raise TransientError(
                f"the export failed after {max_attempts} attempt(s); the last one: "
                f"{self._scrub(_describe(exc))} ({url})"
            ) from None
        history = response.raw.retries.history if response.raw.retries else ()
        made = attempt + len(history)
        self._triage(response, made, url)
        with self._lock:
            self._current = response
        return ExportResponse(response, self, made)

    def _certificate_error(self, exc: BaseException, url: str) -> ConfigError:
        return ConfigError(
            f"the server's TLS certificate failed verification ({url}): "
            f"{self._scrub(_describe(exc))}\nhint: check the base URL; behind a proxy that "
            "re-signs TLS, point REQUESTS_CA_BUNDLE at its CA certificate"
        )

    def check_deadline(self) -> None:
        """Raise TransientError when the overall deadline has passed."""
        if self._expired.is_set() or (
            self._deadline_at is not None and time.monotonic() >= self._deadline_at
        ):
            raise self._deadline_error()

    def forget(self, response: requests.Response) -> None:
        with self._lock:
            if self._current is response:
                self._current = None

    def success_false(self, body: bytes) -> RefusedError:
        """The refusal for an HTTP 200 whose body says `"success": false`."""
        return refusal(200, "", body, success_false=True, scrub=self._scrub)

    def scrub(self, text: str) -> str:
        """`text` with the secret and the Authorization value masked (for server-sent text)."""
        return self._scrub(text)

    def _triage(self, response: requests.Response, attempts: int, url: str) -> None:
        status = response.status_code
        content_type = response.headers.get("Content-Type", "")
        if 200 <= status < 300 and status != 204 and not _HTML_RE.match(content_type):
            return
        # Everything the server sent is masked before it is cut to length (_one_line), so a
        # secret straddling the cut cannot leave a readable fragment.
        content_type, reason = self._scrub(content_type), self._scrub(response.reason or "")
        if 200 <= status < 300:
            # A captive portal's or proxy's page, or nothing at all: never an export.
            body = _read_some(response)
            response.close()
            page = "; ".join(api_messages(body, self._scrub)) or "(empty)"
            raise RefusedError(
                f"the server answered HTTP {status} {_one_line(content_type)}, not an export: "
                f"{page}\nhint: {NOT_AN_EXPORT_HINT}"
            )
        body = _read_some(response)
        response.close()
        if status in TRANSIENT_STATUSES or status >= 500:
            messages = "; ".join(api_messages(body, self._scrub))
            got = f"HTTP {status} {_one_line(reason)}".rstrip() + (
                f": {messages}" if messages else ""
            )
            raise TransientError(
                f"the export failed after {attempts} attempt(s); the last one got {got}"
            )
        if 300 <= status < 400:
            location = self._scrub(response.headers.get("Location", "?"))
            got = f"HTTP {status} {_one_line(reason)}, a redirect to {_one_line(location)}"
            raise RefusedError(
                f"the server answered {got}, for {url}\n"
                "hint: check the base URL (use the final address, not a redirecting one)"
            )
        raise refusal(status, reason, body, scrub=self._scrub)

    def _expire(self) -> None:
        self._expired.set()
        with self._lock:
            response = self._current
        if response is not None:
            _shutdown(response)

    def _deadline_error(self) -> TransientError:
        return TransientError(
            f"the overall deadline of {self._settings.deadline:g} s passed before the "
            "export finished (--deadline / EXPORTSPEC_DEADLINE)"
        )

    def _scrub(self, text: str) -> str:
        if self._settings.public_credentials:
            return text
        key, secret = self._settings.api_key_id or "", self._settings.api_secret or ""
        token = base64.b64encode(f"{key}:{secret}".encode()).decode()
        # Longest first, so a key ID inside the Authorization value cannot break its masking.
        # A key ID is an identifier, not a secret: masked where it is long enough to be unique.
        for value in sorted((token, secret, key if len(key) >= 8 else ""), key=len, reverse=True):
            if value:
                text = text.replace(value, "***")
        return text


def _read_some(response: requests.Response) -> bytes:
    """Up to MESSAGE_BYTES of the body; one read() may return less than asked."""
    data = bytearray()
    try:
        while len(data) < MESSAGE_BYTES:
            piece = response.raw.read(MESSAGE_BYTES - len(data), decode_content=True)
            if not piece:
                break
            data += piece
    except (Urllib3HTTPError, OSError, http.client.HTTPException):
        pass  # show what arrived
    return bytes(data)


def _shutdown(response: requests.Response) -> None:
    """Wake a thread blocked reading this response: close() alone does not interrupt recv()."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _describe(error: BaseException | None) -> str:
    """A one-line account of a network failure, from the innermost useful cause."""
    seen: list[BaseException] = []
    current = error
    while current is not None and current not in seen:
        seen.append(current)
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException) and current.args:
            first = current.args[0]
            nested = first if isinstance(first, BaseException) else None
        current = nested or current.__cause__ or current.__context__
    # Timeouts are told apart by the outer urllib3 error; the innermost is a bare TimeoutError.
    chain = " ".join(f"{type(item).__name__} {item}" for item in seen)
    if "ConnectTimeout" in chain or "connect timeout=" in chain:
        return "connecting timed out (--connect-timeout)"
    if "ReadTimeout" in chain or "read timeout=" in chain:
        return "the server sent nothing for longer than the read timeout (--timeout)"
    for item in reversed(seen):
        text = _describe_one(item)
        if text:
            return text
    if not seen:
        return "unknown error"
    # urllib3's outer messages repeat the pool, URL and retry count; the innermost says why.
    return _one_line(f"{type(seen[-1]).__name__}: {seen[-1]}")


def _describe_one(error: BaseException) -> str | None:
    name = type(error).__name__
    if isinstance(error, http.client.IncompleteRead):
        got = len(error.partial) if isinstance(error.partial, bytes) else error.partial
        if error.expected is not None:
            return f"the connection closed after {got} bytes, {error.expected} more were expected"
        return f"the connection closed after {got} bytes, before the body's end"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError) or "Connection refused" in str(error):
        return "connection refused"
    if isinstance(error, ConnectionResetError) or "reset by peer" in str(error):
        return "the connection was reset by the server"
    if isinstance(error, socket.gaierror):
        return f"the host name could not be resolved ({error.strerror or error})"
    if "NameResolution" in name or "Name or service not known" in str(error):
        return "the host name could not be resolved"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error)
    if "Response ended prematurely" in text:
        return "the response ended before its last chunk (chunked body without terminator)"
    if "Connection broken" in text or "ended prematurely" in text:
        return text.split(":", 1)[-1].strip() or text
    return None
