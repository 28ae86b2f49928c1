"""One export request: POST the body with Basic auth, triage the answer, read the body.

Nothing is retried here; `run.retry` decides that. A failure worth another attempt is
raised as `Retryable`, one that is not as RefusedError or ConfigError. Failures are told
apart by exception type and HTTP status, never by message text.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Self, TypeVar
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from exportspec import __version__
from exportspec.errors import ConfigError, RefusedError, TransientError
from exportspec.jsontext import StrictJsonError, loads_strict
from exportspec.run.settings import ENV_API_KEY_ID, ENV_API_SECRET, ENV_PROJECT_TOKEN, Settings

_Exc = TypeVar("_Exc", bound=BaseException)

#: requests' default `iter_content()` chunk is 1 byte; reads return up to this much.
CHUNK_SIZE = 1 << 20
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"exportspec/{__version__}"
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

#: getaddrinfo answers that another try will not change: no such name, or no address for
#: it. EAI_AGAIN (the resolver cannot be reached or timed out) stays transient.
_NO_SUCH_HOST = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)


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


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: whole seconds or an HTTP date; None when absent,
    zero or not understood (the backoff curve applies then)."""
    text = (value or "").strip()
    if text.isdigit():
        seconds = float(int(text))
    else:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    return seconds if seconds > 0 else None


def _cause(error: BaseException, kind: type[_Exc]) -> _Exc | None:
    """The first exception of `kind` in `error`'s chain (wrapped in args[0] or __cause__)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        nested = current.args[0] if current.args else None
        if not isinstance(nested, BaseException):
            nested = getattr(current, "reason", None)
        current = nested if isinstance(nested, BaseException) else current.__cause__
    return None


def _network_reason(error: BaseException) -> str:
    """A one-line account of a failure before the body began, from the exception types."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "connecting timed out (--connect-timeout)"
    if isinstance(error, requests.exceptions.ReadTimeout) or _cause(error, ReadTimeoutError):
        return "the server sent nothing for longer than the read timeout (--timeout)"
    if _cause(error, ConnectionRefusedError) is not None:
        return "connection refused"
    if _cause(error, ConnectionResetError) is not None:
        return "the connection was reset by the server"
    if (lookup := _cause(error, socket.gaierror)) is not None:
        return f"the host name could not be resolved ({lookup.strerror or lookup})"
    if _cause(error, TimeoutError) is not None:
        return "timed out"
    if (os_error := _cause(error, OSError)) is not None and os_error.strerror:
        return os_error.strerror
    if _cause(error, http.client.RemoteDisconnected) is not None:
        return "the server closed the connection without answering"
    return f"{type(error).__name__} ({_one_line(str(error))})"


class ExportResponse:
    """A 2xx export response whose body is not read yet."""

    def __init__(self, response: requests.Response, read_timeout: float, deadline: Deadline):
        self._response = response
        self._read_timeout = read_timeout
        self._deadline = deadline
        self.status: int = response.status_code
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        length = response.headers.get("Content-Length")
        #: Decoded bytes expected, when the server said so and nothing re-encodes them.
        self.expected_length: int | None = (
            int(length) if length and length.isdigit() and encoding == "identity" else None
        )

    def chunks(self) -> Iterator[bytes]:
        """The body in pieces of up to CHUNK_SIZE, as they arrive.

        Each read waits at most min(--timeout, time left before --deadline); a transfer
        that breaks or ends short raises Retryable, the deadline DeadlinePassed.
        """
        raw = self._response.raw
        size = 0
        while True:
            self._deadline.check()
            self._set_timeout()
            try:
                chunk = raw.read1(CHUNK_SIZE, decode_content=True)
            except (Urllib3HTTPError, http.client.HTTPException, OSError) as exc:
                self._deadline.check()
                raise Retryable(self._broken(exc, size), mid_body=True) from None
            if not chunk:
                break
            size += len(chunk)
            yield chunk
        if self.expected_length is not None and size != self.expected_length:
            raise Retryable(self._short(size), mid_body=True)

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_timeout(self) -> None:
        """No timer thread: the socket's own timeout stops a read at the deadline."""
        timeout = self._deadline.cap(self._read_timeout)
        connection = getattr(self._response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if isinstance(sock, socket.socket):
            sock.settimeout(timeout)

    def _broken(self, error: BaseException, size: int) -> str:
        if _cause(error, ReadTimeoutError) or _cause(error, TimeoutError):
            return "the server sent nothing for longer than the read timeout (--timeout)"
        if _cause(error, ConnectionResetError) is not None:
            return f"the connection was reset by the server after {size} bytes"
        if self.expected_length is not None:
            return self._short(size)
        if isinstance(error, ProtocolError | http.client.IncompleteRead) or _cause(
            error, http.client.IncompleteRead
        ):
            return f"the response ended before its last chunk, after {size} bytes"
        return f"{_network_reason(error)}, after {size} bytes"

    def _short(self, size: int) -> str:
        assert self.expected_length is not None
        missing = self.expected_length - size
        if missing > 0:
            return f"the connection closed after {size} bytes, {missing} more were expected"
        return f"the body ran {-missing} bytes past its Content-Length of {self.expected_length}"


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


class ExportClient:
    """Sends the export POST: Basic auth, timeouts, no redirects, answers triaged."""

    def __init__(self, settings: Settings, deadline: Deadline | None = None) -> None:
        if not settings.has_credentials:
            raise ConfigError(f"no API credentials: set {ENV_API_KEY_ID} and {ENV_API_SECRET}")
        self._settings = settings
        self._deadline = deadline or Deadline(settings.deadline)
        self._session = requests.Session()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._session.close()

    def send(self, url: str, body: bytes) -> ExportResponse:
        """POST `body` as is; return a 2xx export response whose body is unread.

        Raises Retryable (network failure, timeout, 429/5xx), RefusedError (4xx, a
        redirect, an answer that is no export), ConfigError (a certificate or a host name
        that will fail again), DeadlinePassed.
        """
        settings = self._settings
        self._deadline.check()
        assert settings.api_key_id is not None and settings.api_secret is not None
        try:
            response = self._session.post(
                url,
                data=body,
                headers=request_headers(),
                auth=(settings.api_key_id, settings.api_secret),
                timeout=(
                    self._deadline.cap(settings.connect_timeout),
                    self._deadline.cap(settings.read_timeout),
                ),
                stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as exc:
            self._deadline.check()
            raise self._failure(exc, url) from None
        try:
            self._triage(response, url)
        except BaseException:
            response.close()
            raise
        return ExportResponse(response, settings.read_timeout, self._deadline)

    def _failure(self, exc: requests.exceptions.RequestException, url: str) -> Exception:
        if _cause(exc, ssl.SSLCertVerificationError) is not None:
            return ConfigError(
                f"the server's TLS certificate failed verification ({url}): "
                f"{self.scrub(_network_reason(exc))}\nhint: check the base URL; behind a "
                "proxy that re-signs TLS, point REQUESTS_CA_BUNDLE at its CA certificate"
            )
        lookup = _cause(exc, socket.gaierror)
        if lookup is not None and lookup.errno in _NO_SUCH_HOST:
            # A host name DNS does not know is a typo far more often than an outage.
            host = urlsplit(url).hostname or url
            return ConfigError(
                f"the host {host!r} was not found by DNS ({url})\n"
                "hint: check the base URL (--base-url, EXPORTSPEC_BASE_URL or exportspec.toml)"
            )
        return Retryable(self.scrub(_network_reason(exc)))

    def success_false(self, body: bytes) -> RefusedError:
        """The refusal for an HTTP 200 whose body says `"success": false`."""
        return refusal(200, "", body, success_false=True, scrub=self.scrub)

    def scrub(self, text: str) -> str:
        """`text` with the secret and the Authorization value masked (for server-sent text)."""
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

    def _triage(self, response: requests.Response, url: str) -> None:
        status = response.status_code
        content_type = response.headers.get("Content-Type", "")
        if 200 <= status < 300 and status != 204 and not _HTML_RE.match(content_type):
            return
        # Everything the server sent is masked before it is cut to length (_one_line), so a
        # secret straddling the cut cannot leave a readable fragment.
        content_type, reason = self.scrub(content_type), self.scrub(response.reason or "")
        body = _read_some(response)
        if 200 <= status < 300:
            # A captive portal's or proxy's page, or nothing at all: never an export.
            page = "; ".join(api_messages(body, self.scrub)) or "(empty)"
            raise RefusedError(
                f"the server answered HTTP {status} {_one_line(content_type)}, not an export: "
                f"{page}\nhint: {NOT_AN_EXPORT_HINT}"
            )
        if status in TRANSIENT_STATUSES or status >= 500:
            messages = "; ".join(api_messages(body, self.scrub))
            got = f"HTTP {status} {_one_line(reason)}".rstrip()
            wait = parse_retry_after(response.headers.get("Retry-After"))
            reason = f"{got}: {messages}" if messages else got
            raise Retryable(reason, status=status, retry_after=wait)
        if 300 <= status < 400:
            location = self.scrub(response.headers.get("Location", "?"))
            got = f"HTTP {status} {_one_line(reason)}, a redirect to {_one_line(location)}"
            raise RefusedError(
                f"the server answered {got}, for {url}\n"
                "hint: check the base URL (use the final address, not a redirecting one)"
            )
        raise refusal(status, reason, body, scrub=self.scrub)


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
