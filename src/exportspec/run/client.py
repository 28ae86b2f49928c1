"""One export request: POST the body with Basic auth, triage the answer, read the body.

Nothing is retried here; `run.retry` decides that. A failure worth another attempt is
raised as `Retryable`, one that is not as RefusedError or ConfigError. Failures are told
apart by exception type and HTTP status, never by message text.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import os
import re
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from exportspec import __version__
from exportspec.errors import ConfigError, RefusedError, TransientError
from exportspec.run.answers import NOT_AN_EXPORT_HINT, api_messages, one_line, refusal
from exportspec.run.retry import Deadline, Retryable
from exportspec.run.settings import ENV_API_KEY_ID, ENV_API_SECRET, Settings, is_loopback

_Exc = TypeVar("_Exc", bound=BaseException)

#: requests' default `iter_content()` chunk is 1 byte; reads return up to this much.
CHUNK_SIZE = 1 << 20
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"exportspec/{__version__}"
#: Enough of an error body to show its message; the rest is not read.
MESSAGE_BYTES = 64 * 1024

_HTML_RE = re.compile(r"\s*(text/html|application/xhtml)", re.IGNORECASE)

#: A number a header may hold: ASCII digits only, and few enough to stay a sane number.
_DIGITS = re.compile(r"[0-9]{1,18}")

#: getaddrinfo answers that another try will not change: no such name, or no address for
#: it. EAI_AGAIN (the resolver cannot be reached or timed out) stays transient.
_NO_SUCH_HOST = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)


def request_headers() -> dict[str, str]:
    """Headers sent with every export call, besides Authorization."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        # Said explicitly: urllib3 would also offer br and zstd when those packages happen
        # to be installed. Sizes and --max-bytes count the decoded bytes.
        "Accept-Encoding": "gzip, deflate",
    }


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: whole seconds or an HTTP date; None when absent,
    zero or not understood (the backoff curve applies then)."""
    text = (value or "").strip()
    if _DIGITS.fullmatch(text):
        seconds = float(text)
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
    return f"{type(error).__name__} ({one_line(str(error))})"


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
            int(length) if length and _DIGITS.fullmatch(length) and encoding == "identity" else None
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


class ExportClient:
    """Sends the export POST: Basic auth, timeouts, no redirects, answers triaged."""

    def __init__(self, settings: Settings, deadline: Deadline | None = None) -> None:
        if not settings.has_credentials:
            raise ConfigError(f"no API credentials: set {ENV_API_KEY_ID} and {ENV_API_SECRET}")
        self._settings = settings
        self._deadline = deadline or Deadline(settings.deadline)
        self._secrets = _secrets_pattern(settings)
        host = urlsplit(settings.base_url).hostname or ""
        # Loopback traffic (the sandbox, tests) never goes through a proxy; it is the only
        # plain-http traffic with credentials we allow, so no proxy ever sees those.
        self._proxies = _NO_PROXIES if is_loopback(host) else None
        if urlsplit(settings.base_url).scheme == "https":
            _check_ca_files(os.environ)
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
                proxies=self._proxies,
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
        if isinstance(exc, requests.exceptions.InvalidSchema | requests.exceptions.InvalidURL):
            why = self.scrub(one_line(str(exc)))
            if self._proxies is None and requests.utils.get_environ_proxies(url):
                return ConfigError(
                    f"the proxy for {url} cannot be used: {why}\nhint: check HTTPS_PROXY, "
                    "HTTP_PROXY and ALL_PROXY; a socks:// proxy needs "
                    "`pip install 'requests[socks]'`"
                )
            return ConfigError(f"cannot send to {url}: {why}; check the base URL")
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
        """`text` with the secret and the Authorization value masked (for server-sent text),
        also where the server split them with whitespace or control characters."""
        return self._secrets.sub("***", text) if self._secrets is not None else text

    def _triage(self, response: requests.Response, url: str) -> None:
        status = response.status_code
        content_type = response.headers.get("Content-Type", "")
        if 200 <= status < 300 and status != 204 and not _HTML_RE.match(content_type):
            return
        # Everything the server sent is masked before it is cut to length (one_line), so a
        # secret straddling the cut cannot leave a readable fragment.
        content_type, reason = self.scrub(content_type), self.scrub(response.reason or "")
        body = _read_some(response)
        if 200 <= status < 300:
            # A captive portal's or proxy's page, or nothing at all: never an export.
            page = "; ".join(api_messages(body, self.scrub)) or "(empty)"
            raise RefusedError(
                f"the server answered HTTP {status} {one_line(content_type)}, not an export: "
                f"{page}\nhint: {NOT_AN_EXPORT_HINT}"
            )
        if status >= 500 or status == 429:
            messages = "; ".join(api_messages(body, self.scrub))
            got = f"HTTP {status} {one_line(reason)}".rstrip()
            reason = f"{got}: {messages}" if messages else got
            if status not in TRANSIENT_STATUSES:  # 501, 505, ...: another try will not help
                raise TransientError(f"the export failed; the server answered {reason}")
            wait = parse_retry_after(response.headers.get("Retry-After"))
            raise Retryable(reason, status=status, retry_after=wait)
        if 300 <= status < 400:
            location = self.scrub(response.headers.get("Location", "?"))
            got = f"HTTP {status} {one_line(reason)}, a redirect to {one_line(location)}"
            raise RefusedError(
                f"the server answered {got}, for {url}\n"
                "hint: check the base URL (use the final address, not a redirecting one)"
            )
        raise refusal(status, reason, body, scrub=self.scrub)


#: `proxies=` for a request that must not use any (the environment's are ignored).
# None is how requests spells "no proxy" (its stubs only know strings).
_NO_PROXIES: dict[str, str] = {"http": None, "https": None, "all": None}  # type: ignore[dict-item]
#: Where requests and OpenSSL look for CA certificates when told to by the environment.
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def _check_ca_files(environ: Mapping[str, str]) -> None:
    """A CA bundle named by the environment must exist and hold PEM certificates: otherwise
    every attempt would fail the same way, so it is a configuration error, said at once."""
    for name in CA_VARIABLES:
        path = environ.get(name)
        if not path:
            continue
        try:
            if Path(path).is_dir():
                ssl.create_default_context(capath=path)
            else:
                ssl.create_default_context(cafile=path)
        except ssl.SSLError:
            raise ConfigError(
                f"{name}={path!r} holds no PEM CA certificates; point it at a PEM bundle"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"{name}={path!r} cannot be read ({exc.strerror or exc}); point it at a PEM "
                "bundle of CA certificates, or unset it"
            ) from None


def _secrets_pattern(settings: Settings) -> re.Pattern[str] | None:
    """What `scrub` masks: the secret, the Authorization value and a long key ID, each also
    with whitespace or control characters between its characters."""
    if settings.public_credentials:
        return None
    key, secret = settings.api_key_id or "", settings.api_secret or ""
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    # Longest first, so a key ID inside the Authorization value cannot break its masking.
    # A key ID is an identifier, not a secret: masked where it is long enough to be unique.
    values = sorted((token, secret, key if len(key) >= 8 else ""), key=len, reverse=True)
    gap = r"[\s\x00-\x1f\x7f-\x9f]*"
    alternatives = [gap.join(map(re.escape, value)) for value in values if value]
    return re.compile("|".join(alternatives)) if alternatives else None


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
