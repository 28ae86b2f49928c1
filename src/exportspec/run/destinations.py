"""Object-storage destinations: outputs and records at `s3://`, `gs://` and `az://` URLs.

fsspec and its backends are optional extras (`exportspec[s3]`, `[gcs]`, `[azure]`),
imported here only, and only when a URL is written or read: a local run, `validate` and
start-up never pay for them. An object appears only complete, as a local file does: the
upload is opened with `autocommit=False` before the export request is sent (a missing
bucket or credentials cost no export), committed only after the whole body arrived, and
discarded (the multipart upload aborted) on any failure, Ctrl-C or SIGTERM included.
fsspec's `with fs.open(url, "wb")` would commit on an exception: it is not used.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeAlias

from exportspec.errors import ConfigError
from exportspec.run import backends

#: URL scheme -> the extra that brings its backend.
SCHEMES: Mapping[str, str] = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
}
#: Extra -> the backend package fsspec loads for it.
BACKENDS: Mapping[str, str] = {"s3": "s3fs", "gcs": "gcsfs", "azure": "adlfs"}
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")

ENV_PART_SIZE = "EXPORTSPEC_PART_SIZE"
#: 8 MiB parts: memory stays flat (s3fs would buffer 50 MiB), and S3's 10,000-part limit
#: still allows an 80 GB export. S3 refuses parts under 5 MiB (but the last).
DEFAULT_PART_SIZE = 8 * 2**20
MIN_PART_SIZE = 5 * 2**20
MAX_PART_SIZE = 512 * 2**20
#: The largest record (run or batch) read back from a destination.
MAX_RECORD_BYTES = 16 * 2**20
#: storage_options keys that would put a credential in exportspec.toml.
_CREDENTIAL_KEYS = frozenset(
    {
        "key",
        "secret",
        "token",
        "password",
        "account_key",
        "connection_string",
        "sas_token",
        "client_secret",
        "credential",
        "credentials",
    }
)


def is_url(text: str) -> bool:
    """Whether `text` is `scheme://...` other than `file://` (which is a local path)."""
    match = _URL.match(text)
    return match is not None and match.group(1).lower() != "file"


def local_path(text: str) -> str:
    """`file:///a/b` -> `/a/b`; any other text as it is."""
    if text[:7].lower() == "file://":
        rest = text[7:]
        return rest if rest.startswith("/") else "/" + rest.split("/", 1)[-1]
    return text


@dataclass(frozen=True, slots=True)
class ObjectUrl:
    """`scheme://bucket/key`: an object (or, as an output root, a prefix) in a store."""

    scheme: str
    bucket: str
    key: str

    @classmethod
    def parse(cls, text: str, source: str = "the destination") -> ObjectUrl:
        """Check `text` names a known store and a bucket; ConfigError (exit 3) if not."""
        match = _URL.match(text)
        assert match is not None, "parse URLs only (is_url)"
        scheme = match.group(1).lower()
        if scheme not in SCHEMES:
            known = ", ".join(f"{s}://" for s in SCHEMES)
            raise ConfigError(
                f"{source}: {text!r} is not a destination exportspec can write (unknown scheme "
                f"{scheme}://); use a local path or one of {known}"
            )
        bucket, _, key = text[match.end() :].partition("/")
        parts = [part for part in key.split("/") if part]
        if not bucket or "\0" in text or any(part in (".", "..") for part in parts):
            raise ConfigError(
                f"{source}: {text!r} must be {scheme}://BUCKET/KEY, without '.' or '..' parts"
            )
        return cls(scheme, bucket, "/".join(parts))

    @property
    def extra(self) -> str:
        return SCHEMES[self.scheme]

    @property
    def name(self) -> str:
        return self.key.rpartition("/")[2]

    @property
    def parent(self) -> ObjectUrl:
        return ObjectUrl(self.scheme, self.bucket, self.key.rpartition("/")[0])

    @property
    def path(self) -> str:
        """`bucket/key`, as fsspec names it."""
        return f"{self.bucket}/{self.key}" if self.key else self.bucket

    def with_name(self, name: str) -> ObjectUrl:
        return self.parent / name

    def as_posix(self) -> str:
        return str(self)

    def __truediv__(self, relative: str | PurePosixPath) -> ObjectUrl:
        parts = [part for part in str(relative).split("/") if part and part != "."]
        return ObjectUrl(
            self.scheme, self.bucket, "/".join([*self.key.split("/"), *parts]).strip("/")
        )

    def __str__(self) -> str:
        return f"{self.scheme}://{self.path}"


#: Where an export or a record goes: a local path or an object.
Location: TypeAlias = Path | ObjectUrl


def location(text: str, source: str = "the destination") -> Location:
    """A path or a URL as given (`-o`, a record argument): URLs parsed, `file://` local."""
    return ObjectUrl.parse(text, source) if is_url(text) else Path(local_path(text))


def check_storage_options(options: Mapping[str, object], source: str) -> None:
    """Refuse credentials in `storage_options`: they come from the store's standard chain."""
    found = sorted(
        key
        for key, value in options.items()
        if key.lower() in _CREDENTIAL_KEYS and (key, value) != ("token", "anon")  # gcsfs: none
    )
    if found:
        raise ConfigError(
            f"{source} sets {', '.join(found)}: credentials never go in exportspec.toml; the "
            "store's own chain provides them (AWS_* variables, a profile or OIDC role, "
            "GOOGLE_APPLICATION_CREDENTIALS, Azure's environment or managed identity)"
        )


def part_size(environ: Mapping[str, str] | None = None) -> int:
    """The upload part size: EXPORTSPEC_PART_SIZE bytes, else 8 MiB."""
    text = (os.environ if environ is None else environ).get(ENV_PART_SIZE) or ""
    if not text:
        return DEFAULT_PART_SIZE
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not MIN_PART_SIZE <= size <= MAX_PART_SIZE:
        raise ConfigError(
            f"{ENV_PART_SIZE}={text!r} is not a part size: give bytes from {MIN_PART_SIZE} "
            f"(5 MiB) to {MAX_PART_SIZE}"
        )
    return size


# --- the store, through fsspec -----------------------------------------------------------


#: File systems made, by scheme, options and the store variables they were made under.
_MADE: dict[str, Any] = {}
_MAKING = threading.Lock()
_STORE_VARIABLES = ("AWS_", "GOOGLE_", "AZURE_", "GCS", "STORAGE_EMULATOR")


def _filesystem(url: ObjectUrl, options: Mapping[str, object]) -> Any:
    """The fsspec file system for `url`, made once per options and store variables (fsspec's
    own cache ignores the environment: credentials changed meanwhile would go unseen)."""
    backend = BACKENDS[url.extra]
    try:
        importlib.import_module(backend)  # its absence named here, not deep in fsspec
    except ImportError:
        raise ConfigError(
            f"writing to {url.scheme}:// needs {backend}: pip install 'exportspec[{url.extra}]'"
        ) from None
    store = sorted((k, v) for k, v in os.environ.items() if k.startswith(_STORE_VARIABLES))
    key = json.dumps([url.scheme, dict(options), store], sort_keys=True, default=repr)
    with _MAKING, store_errors(url, "reach"):
        if key not in _MADE:
            _MADE[key] = backends.make_filesystem(url.extra, url.scheme, options, os.environ)
        return _MADE[key]


@contextlib.contextmanager
def store_errors(url: ObjectUrl, doing: str) -> Iterator[None]:
    """A store's failure as a ConfigError naming the object and the likely fix, scrubbed."""
    try:
        yield
    except ConfigError:
        raise
    except FileNotFoundError:
        raise ConfigError(
            f"cannot {doing} {url}: the bucket {url.bucket!r} (or the object) does not exist "
            "or is not visible with these credentials"
        ) from None
    except PermissionError as exc:
        raise ConfigError(
            f"cannot {doing} {url}: access denied ({scrub_store_secrets(str(exc))})\n"
            "hint: docs/destinations.md lists the permissions exportspec needs"
        ) from None
    except Exception as exc:
        name = type(exc).__name__
        reason = scrub_store_secrets(f"{name}: {exc}")
        hint = ""
        if "Credential" in name or "credential" in str(exc).lower():
            hint = (
                "\nhint: give the store's credentials the standard way (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an OIDC role; "
                "GOOGLE_APPLICATION_CREDENTIALS; Azure's environment variables)"
            )
        raise ConfigError(f"cannot {doing} {url}: {reason}{hint}") from None


#: Variables whose values must never appear in a message.
SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET",
)
#: Variables naming credential files: their contents' secret lines are scrubbed too.
CREDENTIAL_FILES = ("AWS_SHARED_CREDENTIALS_FILE", "GOOGLE_APPLICATION_CREDENTIALS")
_FILE_SECRET = re.compile(
    r'(?:secret|token|private_key(?!_id)|password)\w*"?\s*[:=]\s*"?([^"\n,]+)', re.IGNORECASE
)


_CONNECTION_KEY = re.compile(r"(?:AccountKey|SharedAccessSignature)=([^;]+)", re.IGNORECASE)


def store_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The store credentials in the environment and its credential files, longest first."""
    env = os.environ if environ is None else environ
    found = [env[name] for name in SECRET_VARIABLES if env.get(name)]
    # A connection string's key may be quoted alone (an SDK's error names the account key).
    found += _CONNECTION_KEY.findall(env.get("AZURE_STORAGE_CONNECTION_STRING") or "")
    files = [env.get(name) for name in CREDENTIAL_FILES]
    files.append(str(Path.home() / ".aws" / "credentials"))
    for name in files:
        if not name:
            continue
        with contextlib.suppress(OSError, ValueError):
            text = Path(name).read_text(errors="replace")[:MAX_RECORD_BYTES]
            found += [m.group(1).strip() for m in _FILE_SECRET.finditer(text)]
    secrets = {value for value in found if len(value) >= 8}
    return sorted(secrets, key=len, reverse=True)


def scrub_store_secrets(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every store credential masked as `***`."""
    for secret in store_secrets(environ):
        text = text.replace(secret, "***")
        # a PEM key appears in messages with its line breaks escaped
        text = text.replace(secret.replace("\\n", "\n"), "***")
    return text


# --- writing and reading objects ------------------------------------------------------------


class ObjectSink:
    """An upload to `url` with the interface of `output.FileSink`: nothing appears at the
    key until `commit()`; `discard()` aborts the upload and leaves an older object as it was.

    The upload is begun in the constructor, so a missing bucket, refused credentials or a
    KMS key the role may not use fail before the export request is sent.
    """

    restartable = True

    def __init__(
        self, url: ObjectUrl, options: Mapping[str, object], part_size: int = DEFAULT_PART_SIZE
    ) -> None:
        self.url = url
        self.size = 0
        #: The store's version id (S3) or generation (GCS) of the committed object, if any.
        self.version_id: str | None = None
        self._part_size = part_size
        self._fs = _filesystem(url, options)
        self._file: Any = None
        self._file = self._open()

    def _open(self) -> Any:
        with store_errors(self.url, "write"):
            file = self._fs.open(self.url.path, "wb", block_size=self._part_size, autocommit=False)
            try:
                backends.begin_upload(file)
            except BaseException:
                backends.discard_upload(file)
                raise
        self.size = 0
        return file

    def write(self, data: bytes) -> None:
        with store_errors(self.url, "write"):
            self._file.write(data)
        self.size += len(data)

    def restart(self) -> None:
        """Abort this upload and begin another (a retried download starts over)."""
        self.discard()
        self._file = self._open()

    def commit(self) -> None:
        """Upload the last part and complete the upload: the object appears whole, now."""
        file = self._file
        try:
            with store_errors(self.url, "write"):
                written = file.tell()
                if written != self.size:  # never commit other bytes than the export's
                    raise ConfigError(
                        f"cannot write {self.url}: {written} bytes in the upload, {self.size} sent"
                    )
                # The last part; with autocommit=False nothing appears yet (adlfs, which
                # has no separate commit, commits the block list here, after the check).
                file.close()
                file.commit()
        except BaseException:
            self.discard()
            raise
        self._file = None
        self.version_id = backends.committed_version(file, self._fs, self.url.path)

    def close(self) -> None:
        if self._file is not None:
            self.discard()

    def discard(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            backends.discard_upload(file)


def write_object(url: ObjectUrl, data: bytes, options: Mapping[str, object]) -> str | None:
    """Write `data` to `url` whole or not at all (a record); return its version id."""
    sink = ObjectSink(url, options)
    try:
        sink.write(data)
        sink.commit()
    finally:
        sink.close()
    return sink.version_id


def read_object(
    url: ObjectUrl, options: Mapping[str, object], cap: int = MAX_RECORD_BYTES
) -> bytes:
    """At most `cap` + 1 bytes of the object at `url` (a record read back)."""
    fs = _filesystem(url, options)
    with store_errors(url, "read"), fs.open(url.path, "rb", block_size=2**20) as file:
        data: bytes = file.read(cap + 1)
    return data


def list_objects(prefix: ObjectUrl, suffix: str, options: Mapping[str, object]) -> list[ObjectUrl]:
    """The objects right under `prefix` (a folder's worth) whose names end in `suffix`;
    none when the prefix holds nothing yet."""
    fs = _filesystem(prefix, options)
    with store_errors(prefix, "list"):
        try:
            names: list[str] = fs.ls(prefix.path, detail=False, refresh=True)
        except FileNotFoundError:
            return []
    found = [prefix / PurePosixPath(name).name for name in names]
    return sorted((url for url in found if url.name.endswith(suffix)), key=str)
