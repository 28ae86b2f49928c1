"""Where the fsspec backends differ, for `destinations`: which file system is made, how an
upload begins before the export is sent, how it is discarded, and the version committed.

Tested against moto (s3fs), gcp-storage-emulator (gcsfs) and Azurite (adlfs).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

#: The variable google-cloud-storage and gcsfs read for a local emulator's address.
GCS_EMULATOR = "STORAGE_EMULATOR_HOST"


def make_filesystem(
    extra: str, scheme: str, options: Mapping[str, object], env: Mapping[str, str]
) -> Any:
    """fsspec's file system for `scheme`, with what a store not Google's own needs for GCS.

    gcsfs's default class asks Google's gRPC control API what kind each bucket is (zonal,
    hierarchical) before it writes: a store at another endpoint (an emulator, a proxy) has
    no such API, and each call then retries for a minute. Such a store gets gcsfs's JSON-API
    class. With `STORAGE_EMULATOR_HOST` set, and no `token`, it is spoken to anonymously, as
    google-cloud-storage does: the search for Google credentials would query the metadata
    server.
    """
    import fsspec

    kwargs = dict(options)
    if extra == "gcs" and (env.get(GCS_EMULATOR) or kwargs.get("endpoint_url")):
        from gcsfs.core import GCSFileSystem

        if env.get(GCS_EMULATOR):
            kwargs.setdefault("token", "anon")
        return GCSFileSystem(skip_instance_cache=True, **kwargs)
    return fsspec.filesystem(scheme, skip_instance_cache=True, **kwargs)


def begin_upload(file: Any) -> None:
    """Begin the upload now (fsspec would at the first full part): the check that the
    destination takes writes is the upload itself, not a probe object.

    s3fs creates the multipart upload and gcsfs the resumable upload session. adlfs stages
    blocks with nothing to create first: a one-byte block is staged, which the commit's
    block list leaves out (and so the store drops).
    """
    if getattr(file, "offset", 0) is None and hasattr(file, "_initiate_upload"):
        file.offset = 0
        file._initiate_upload()
    if _is_adlfs(file):
        _stage_probe_block(file)


def discard_upload(file: Any) -> None:
    """Abort an upload, quietly: a failure to abort leaves what the store's lifecycle rule
    removes (docs/destinations.md), and must not hide the failure that led here.

    gcsfs cancels the resumable session (a DELETE of its URI); s3fs aborts the multipart
    upload; adlfs has no abort: staged blocks stay uncommitted, invisible, until a later
    commit to that blob or the store's 7-day clean-up.
    """
    with contextlib.suppress(Exception):
        file.discard()
    if _is_adlfs(file):
        with contextlib.suppress(Exception):
            import fsspec.asyn

            fsspec.asyn.sync(file.loop, file.container_client.close)
    with contextlib.suppress(Exception):
        file.closed = True  # discarded: fsspec's close must not upload what is left


def committed_version(file: Any, fs: Any, path: str) -> str | None:
    """The committed object's S3 version id, GCS generation or Azure version id, if any."""
    for attribute in ("generation", "version_id"):
        value = getattr(file, attribute, None)
        if value not in (None, "", "null"):
            return str(value)
    try:
        fs.invalidate_cache(path)  # a listing made earlier must not answer for the new object
        info = fs.info(path)
    except Exception:  # the object is complete; its version is a nicety
        return None
    for key in ("VersionId", "generation", "version_id"):
        value = info.get(key)
        if value not in (None, "", "null"):
            return str(value)
    return None


def _is_adlfs(file: Any) -> bool:
    return type(file).__module__.startswith("adlfs")


def _stage_probe_block(file: Any) -> None:
    import fsspec.asyn
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    async def stage() -> None:
        async with file.container_client.get_blob_client(blob=file.blob) as client:
            await client.stage_block(block_id=uuid.uuid4().hex, data=b"\0", length=1)

    try:
        fsspec.asyn.sync(file.loop, stage)
    except ResourceNotFoundError as exc:
        raise FileNotFoundError(file.path) from exc
    except HttpResponseError as exc:
        if exc.status_code == 403:
            raise PermissionError(exc.reason or "403") from exc
        raise
