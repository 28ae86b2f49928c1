"""Local object stores for the destination tests, one of each per test process (xdist worker):
moto's S3 server, gcp-storage-emulator (GCS) and Azurite (Azure Blob, from npm), each on a
free 127.0.0.1 port, and a `Store` per kind to look at what a run left.

The stores the shared tests run against, and what each can promise, are in data/stores.yaml.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

#: The S3 store's dummy secret: like ours, it must never appear in any output.
STORE_SECRET = "store-Secret-0123456789-never-print"
#: Azurite's one account, and its well-known (public) key.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURITE_VERSION = "3"


class Store:
    """What a run left in a store; `uploads` lists keys with an unfinished upload."""

    scheme: str
    endpoint: str

    def bucket(self) -> str:
        """A new, empty bucket (container) of this test's own."""
        raise NotImplementedError

    def keys(self, bucket: str) -> list[str]:
        raise NotImplementedError

    def get(self, bucket: str, key: str) -> bytes:
        raise NotImplementedError

    def put(self, bucket: str, key: str, data: bytes) -> None:
        raise NotImplementedError

    def uploads(self, bucket: str) -> list[str]:
        raise NotImplementedError

    def version(self, bucket: str, key: str) -> str | None:
        """The object's version id or generation, as the store reports it."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The variables that point a run at this store."""
        raise NotImplementedError


@dataclass
class S3Store(Store):
    """moto's S3 server, and a boto3 client."""

    endpoint: str
    client: Any
    scheme: str = "s3"

    def bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:20]}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(item["Key"] for item in listed)

    def get(self, bucket: str, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def uploads(self, bucket: str) -> list[str]:
        """Multipart uploads in progress (neither completed nor aborted)."""
        found = self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return [item["Key"] for item in found]

    def version(self, bucket: str, key: str) -> str | None:
        version: str | None = self.client.head_object(Bucket=bucket, Key=key).get("VersionId")
        return version

    def env(self) -> dict[str, str]:
        return store_env(self.endpoint)


def store_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "store-key-id",
        "AWS_SECRET_ACCESS_KEY": STORE_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }


# --- GCS: gcp-storage-emulator, in this process ------------------------------------------


@dataclass
class GcsStore(Store):
    """gcp-storage-emulator, through its JSON API; its resumable sessions, from inside."""

    endpoint: str
    storage: Any  # the emulator's Storage
    scheme: str = "gs"

    def bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:20]}"
        requests.post(f"{self.endpoint}/storage/v1/b", json={"name": name}).raise_for_status()
        return name

    def keys(self, bucket: str) -> list[str]:
        answer = requests.get(f"{self.endpoint}/storage/v1/b/{bucket}/o")
        answer.raise_for_status()
        return sorted(item["name"] for item in answer.json().get("items", []))

    def _object(self, bucket: str, key: str) -> str:
        return f"{self.endpoint}/storage/v1/b/{bucket}/o/{quote(key, safe='')}"

    def get(self, bucket: str, key: str) -> bytes:
        answer = requests.get(self._object(bucket, key), params={"alt": "media"})
        answer.raise_for_status()
        return answer.content

    def put(self, bucket: str, key: str, data: bytes) -> None:
        requests.post(
            f"{self.endpoint}/upload/storage/v1/b/{bucket}/o",
            params={"uploadType": "media", "name": key},
            data=data,
        ).raise_for_status()

    def uploads(self, bucket: str) -> list[str]:
        """Resumable upload sessions neither finished nor cancelled."""
        return sorted(o["name"] for o in self.storage.resumable.values() if o["bucket"] == bucket)

    def version(self, bucket: str, key: str) -> str | None:
        answer = requests.get(self._object(bucket, key))
        answer.raise_for_status()
        generation: str | None = answer.json().get("generation")
        return generation

    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint}


class _Cancelled:
    """GCS's answer to a cancelled resumable session (HTTPStatus has no 499)."""

    value = 499
    phrase = "Client Closed Request"


def _cancel_resumable(request: Any, response: Any, storage: Any, *args: Any, **kw: Any) -> None:
    """DELETE of a resumable session's URI, which the emulator does not route (it answers 501):
    what GCS does, https://cloud.google.com/storage/docs/performing-resumable-uploads#cancel-upload
    """
    upload_id = request.query.get("upload_id", [""])[0]
    if upload_id not in storage.resumable:
        response.status = HTTPStatus.NOT_FOUND
        return
    storage.delete_resumable_file_obj(upload_id)
    storage._delete_file("_resumable", storage.safe_id(upload_id))
    response.status = _Cancelled()


@contextlib.contextmanager
def gcs_emulator() -> Iterator[GcsStore]:
    from gcp_storage_emulator import server

    for pattern, methods in server.HANDLERS:
        if pattern.startswith("^/upload/") and server.PUT in methods:
            methods.setdefault(server.DELETE, _cancel_resumable)
    emulator = server.create_server("127.0.0.1", 0, in_memory=True)
    emulator.start()
    host, port = emulator._api._httpd.server_address[:2]
    try:
        yield GcsStore(f"http://{host}:{port}", emulator._storage)
    finally:
        emulator.stop()


# --- Azure: Azurite, from npm, in a child process ----------------------------------------


@dataclass
class AzureStore(Store):
    """Azurite's blob service, and azure-storage-blob's client."""

    endpoint: str
    client: Any  # BlobServiceClient
    scheme: str = "az"

    def bucket(self) -> str:
        name = f"c-{uuid.uuid4().hex[:20]}"
        self.client.create_container(name)
        return name

    def keys(self, bucket: str) -> list[str]:
        return sorted(b.name for b in self.client.get_container_client(bucket).list_blobs())

    def get(self, bucket: str, key: str) -> bytes:
        data: bytes = self.client.get_blob_client(bucket, key).download_blob().readall()
        return data

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.get_blob_client(bucket, key).upload_blob(data, overwrite=True)

    def uploads(self, bucket: str) -> list[str]:
        """Blobs with uncommitted (staged, never committed) blocks."""
        container = self.client.get_container_client(bucket)
        names = {b.name for b in container.list_blobs(include=["uncommittedblobs"])}
        return sorted(
            name
            for name in names
            if container.get_blob_client(name).get_block_list("uncommitted")[1]
        )

    def version(self, bucket: str, key: str) -> str | None:
        return None  # Azurite keeps no blob versions

    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(self.endpoint)}


def azurite_connection_string(endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )


def azurite_command(cache: Path) -> Path:
    """`azurite-blob` from npm, installed once into `cache` (locked: xdist workers race)."""
    command = cache / "node_modules" / ".bin" / "azurite-blob"
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not command.exists():
            npm = shutil.which("npm")
            assert npm is not None
            subprocess.run(
                [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund",
                 "--no-save", "--loglevel=error", f"azurite@{AZURITE_VERSION}"],
                check=True, capture_output=True, timeout=600,
            )  # fmt: skip
    return command


@contextlib.contextmanager
def azurite(command: Path, workdir: Path) -> Iterator[AzureStore]:
    """Azurite's blob service in memory, on a free port, with no telemetry (it would call
    out); stopped at the end."""
    from azure.storage.blob import BlobServiceClient

    process = subprocess.Popen(
        [str(command), "--silent", "--inMemoryPersistence", "--disableTelemetry",
         "--skipApiVersionCheck",
         "--blobHost", "127.0.0.1", "--blobPort", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=workdir,
    )  # fmt: skip
    try:
        endpoint = _listening(process, timeout=60)
        client = BlobServiceClient.from_connection_string(azurite_connection_string(endpoint))
        yield AzureStore(endpoint, client)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _listening(process: subprocess.Popen[str], timeout: float) -> str:
    """The address Azurite says it listens on; its output drained from then on."""
    found: list[str] = []
    seen: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            match = re.search(r"listens on (http://127\.0\.0\.1:\d+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    ready.wait(max(0.0, deadline - time.monotonic()))
    if not found:
        raise RuntimeError(f"Azurite did not start: {''.join(seen)[-2000:]}")
    return found[0]


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "exportspec-tests" / f"azurite-{AZURITE_VERSION}"
