"""Connection settings for `run` and `rerun`: where to send, with what credentials and patience.

Precedence, highest first: command-line flag > pinned values (a run record, for `rerun`) >
`EXPORTSPEC_*` environment variable > project defaults (an `exportspec.toml` environment) >
built-in default. Credentials come only from `EXPORTSPEC_API_KEY_ID` / `EXPORTSPEC_API_SECRET`:
never from flags (shell history) or files.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from exportspec.errors import ConfigError

DEFAULT_BASE_URL = "https://api.exponea.com"
#: Seconds to establish a TCP/TLS connection.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Longest silence between bytes. The API computes the export before its first byte, so be generous.
DEFAULT_READ_TIMEOUT = 600.0
DEFAULT_RETRIES = 4
#: Backoff before retry n: a random wait up to FACTOR * 2**(n-1) seconds (full jitter), at most
#: a minute: up to 1, 2, 4, 8 s.
DEFAULT_BACKOFF_FACTOR = 1.0
#: Cap on a server's Retry-After, so a misconfigured proxy cannot park a run for hours.
DEFAULT_RETRY_AFTER_MAX = 300.0
#: Upper bound for any duration setting: a week. Beyond it a value is a typo, and sockets and
#: timers overflow on values like 1e300.
MAX_SECONDS = 7 * 24 * 3600.0
MAX_RETRIES = 100
#: Upper bound for --max-bytes: a petabyte.
MAX_BYTES = 10**15

ENV_BASE_URL = "EXPORTSPEC_BASE_URL"
ENV_PROJECT_TOKEN = "EXPORTSPEC_PROJECT_TOKEN"
ENV_API_KEY_ID = "EXPORTSPEC_API_KEY_ID"
ENV_API_SECRET = "EXPORTSPEC_API_SECRET"
ENV_TIMEOUT = "EXPORTSPEC_TIMEOUT"
ENV_CONNECT_TIMEOUT = "EXPORTSPEC_CONNECT_TIMEOUT"
ENV_DEADLINE = "EXPORTSPEC_DEADLINE"
ENV_RETRIES = "EXPORTSPEC_RETRIES"
ENV_MAX_BYTES = "EXPORTSPEC_MAX_BYTES"
#: Not a flag: tuning knobs for tests and unusual proxies.
ENV_BACKOFF_FACTOR = "EXPORTSPEC_BACKOFF_FACTOR"
ENV_RETRY_AFTER_MAX = "EXPORTSPEC_RETRY_AFTER_MAX"

EXPORT_PATH = "/data/v2/projects/{token}/customers/export"

#: The key ID and secret `exportspec sandbox` publishes (sandbox.server.Credentials): not
#: secrets, so never masked (the word "sandbox" runs through the sandbox's own messages).
SANDBOX_CREDENTIALS = ("sandbox", "sandbox")

_TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]+")
_HOST_RE = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")
_PRINTABLE_ASCII_RE = re.compile(r"[\x21-\x7e]+")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ConnectionFlags:
    """The connection flags of one invocation; None means "not given"."""

    base_url: str | None = None
    project_token: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    deadline: float | None = None
    retries: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class SettingsLayer:
    """Values from one source below the flags, e.g. an `exportspec.toml` environment.

    Keys are `base_url` and `project_token`; `label` names the source in messages.
    """

    label: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated connection settings. The secret stays out of `repr` and every message."""

    base_url: str
    project_token: str | None
    api_key_id: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    deadline: float | None = None
    retries: int = DEFAULT_RETRIES
    #: The largest answer taken as an export (decoded bytes); None: no limit.
    max_bytes: int | None = None
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR
    retry_after_max: float = DEFAULT_RETRY_AFTER_MAX
    #: The in-process sandbox's published credentials: nothing to mask (its secret is the
    #: word "sandbox", which its own messages use).
    public_credentials: bool = False

    @property
    def export_url(self) -> str:
        """The endpoint URL; without a token (dry run only) it holds `$EXPORTSPEC_PROJECT_TOKEN`."""
        if self.project_token:
            return export_url(self.base_url, self.project_token)
        return self.base_url + EXPORT_PATH.format(token=f"${ENV_PROJECT_TOKEN}")

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key_id and self.api_secret)


def export_url(base_url: str, project_token: str) -> str:
    """`{base_url}/data/v2/projects/{token}/customers/export` for already-validated parts."""
    return base_url.rstrip("/") + EXPORT_PATH.format(token=quote(project_token, safe=""))


def resolve_settings(
    flags: ConnectionFlags,
    *,
    environ: Mapping[str, str] | None = None,
    project_defaults: SettingsLayer | None = None,
    pinned: SettingsLayer | None = None,
    credentials: tuple[str, str] | None = None,
    require_token: bool = True,
    require_credentials: bool = True,
) -> Settings:
    """Merge flags, pinned values, environment, project defaults and defaults; validate the result.

    `credentials` replaces the environment's key ID and secret (the in-process sandbox).
    Raises ConfigError naming the setting to fix; nothing has been sent at that point.
    """
    env = os.environ if environ is None else environ

    def pick(key: str, flag_value: Any, flag_name: str, env_name: str) -> tuple[Any, str]:
        if flag_value is not None:
            return flag_value, flag_name
        if pinned is not None and pinned.values.get(key) is not None:
            return pinned.values[key], pinned.label
        if env.get(env_name):
            return env[env_name], env_name
        if project_defaults is not None and project_defaults.values.get(key) is not None:
            return project_defaults.values[key], f"{project_defaults.label} ({key})"
        return None, "default"

    raw_url, url_source = pick("base_url", flags.base_url, "--base-url", ENV_BASE_URL)
    base_url = _check_base_url(str(raw_url or DEFAULT_BASE_URL), url_source)

    raw_token, token_source = pick(
        "project_token", flags.project_token, "--project-token", ENV_PROJECT_TOKEN
    )
    token = _check_token(None if raw_token is None else str(raw_token), token_source)
    if token is None and require_token:
        raise missing_token()

    key_id, secret = credentials if credentials is not None else _credentials_from(env)
    if require_credentials:
        check_credentials(key_id, secret)

    return Settings(
        base_url=base_url,
        project_token=token,
        api_key_id=key_id,
        api_secret=secret,
        public_credentials=credentials is not None or (key_id, secret) == SANDBOX_CREDENTIALS,
        connect_timeout=_number(
            flags.connect_timeout,
            env,
            ENV_CONNECT_TIMEOUT,
            DEFAULT_CONNECT_TIMEOUT,
            float,
            positive=True,
        ),
        read_timeout=_number(
            flags.timeout, env, ENV_TIMEOUT, DEFAULT_READ_TIMEOUT, float, positive=True
        ),
        deadline=_number(flags.deadline, env, ENV_DEADLINE, None, float, positive=True),
        retries=_number(flags.retries, env, ENV_RETRIES, DEFAULT_RETRIES, int, most=MAX_RETRIES),
        max_bytes=_number(
            flags.max_bytes, env, ENV_MAX_BYTES, None, int, positive=True, most=MAX_BYTES
        ),
        backoff_factor=_number(None, env, ENV_BACKOFF_FACTOR, DEFAULT_BACKOFF_FACTOR, float),
        retry_after_max=_number(None, env, ENV_RETRY_AFTER_MAX, DEFAULT_RETRY_AFTER_MAX, float),
    )


def missing_token() -> ConfigError:
    """The error for a run with no project token."""
    return ConfigError(
        f"no project token: pass --project-token or set {ENV_PROJECT_TOKEN} "
        "(Bloomreach shows it in Project settings > Access management > API)"
    )


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_base_url(url: str, source: str) -> str:
    where = "" if source == "default" else f" (from {source})"
    # Checked on the raw text, before any parsing: "user:secret@host" without "//" parses
    # as a path, and any message below would echo it.
    if "@" in url:
        # Never echo it: the user part may hold a secret.
        raise ConfigError(
            f"the base URL{where} contains credentials; remove them and set "
            f"{ENV_API_KEY_ID} and {ENV_API_SECRET} instead"
        )
    hint = "expected something like https://api.exponea.com"
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"the base URL {url!r}{where} is not an http(s) URL; {hint}")
    host = parts.netloc.rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
    try:
        if parts.netloc.endswith(":"):  # urlsplit reads "host:" as no port at all
            raise ValueError
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"the base URL {url!r}{where} has an invalid port; {hint}") from None
    labels = host.removesuffix(".").split(".") if not host.startswith("[") else ["ipv6"]
    if (
        not _HOST_RE.fullmatch(host)
        or parts.hostname is None
        or not all(0 < len(label) <= 63 for label in labels)  # DNS labels
    ):
        raise ConfigError(f"the base URL {url!r}{where} has an invalid host; {hint}")
    if parts.query or parts.fragment:
        raise ConfigError(f"the base URL {url!r}{where} must not have a query or fragment; {hint}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"the base URL {url!r}{where} uses plain http:// to a non-loopback host; "
            "credentials would travel unencrypted: use https://"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


#: What `is_project_token` checks, in words.
PROJECT_TOKEN_RULE = (
    "a project token has only letters, digits, '-', '_', '.' and '~', and not only dots; "
    "copy it from Project settings > Access management > API"
)


def is_project_token(token: str) -> bool:
    """Whether `token` can be a path segment of the export URL."""
    # "." and ".." are valid characters but would walk the URL path out of the project.
    return bool(_TOKEN_RE.fullmatch(token)) and bool(token.strip("."))


def _check_token(token: str | None, source: str) -> str | None:
    if token is None:
        return None
    token = token.strip()
    if not is_project_token(token):
        raise ConfigError(f"the project token from {source} is not valid: {PROJECT_TOKEN_RULE}")
    return token


def _credentials_from(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    return env.get(ENV_API_KEY_ID) or None, env.get(ENV_API_SECRET) or None


def check_credentials(key_id: str | None, secret: str | None) -> None:
    """Refuse missing or malformed credentials (ConfigError naming the variable)."""
    missing = [
        name for name, value in ((ENV_API_KEY_ID, key_id), (ENV_API_SECRET, secret)) if not value
    ]
    if missing:
        raise ConfigError(
            f"no API credentials: set {' and '.join(missing)} (the key ID and secret of an "
            'API group with the "GDPR > Export customers" permission)'
        )
    assert key_id is not None and secret is not None
    if not _PRINTABLE_ASCII_RE.fullmatch(key_id) or ":" in key_id:
        raise ConfigError(
            f"{ENV_API_KEY_ID} must be printable ASCII without spaces or ':'; "
            "check for a stray quote or newline"
        )
    if not _PRINTABLE_ASCII_RE.fullmatch(secret):
        raise ConfigError(
            f"{ENV_API_SECRET} must be printable ASCII without spaces; "
            "check for a stray quote or newline"
        )


def _number(
    flag_value: T | None,
    env: Mapping[str, str],
    env_name: str,
    default: T,
    kind: Callable[[str], T],
    *,
    positive: bool = False,
    most: float = MAX_SECONDS,
) -> T:
    """A flag (already range-checked by click), else an environment variable checked here."""
    if flag_value is not None:
        return flag_value
    text = env.get(env_name, "").strip()
    if not text:
        return default
    what = "a whole number" if kind is int else "a number of seconds"
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{env_name}={text!r} is not {what}") from None
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number) or number < 0 or (positive and number == 0) or number > most:
        bound = "more than 0" if positive else "0 or more"
        raise ConfigError(f"{env_name}={text!r} must be {what}, {bound} and at most {most:g}")
    return value
