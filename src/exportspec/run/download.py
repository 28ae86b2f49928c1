"""The download loop: each chunk of the body is counted, hashed and written, in one pass."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from exportspec.errors import RefusedError
from exportspec.jsontext import StrictJsonError, loads_strict
from exportspec.run.answers import NOT_AN_EXPORT_HINT
from exportspec.run.counters import JsonBodyError, JsonRowCounter, row_counter
from exportspec.run.output import Sink
from exportspec.run.retry import Retryable

#: Bytes held back before writing, to recognise `{"success": false, ...}` sent as an export.
HEAD_BYTES = 64 * 1024
_SUCCESS_FALSE = re.compile(rb'\A\s*\{\s*"success"\s*:\s*false\b')
_SUCCESS_FALSE_ANYWHERE = re.compile(rb'"success"\s*:\s*false\b')


@dataclass(frozen=True, slots=True)
class Transfer:
    """What one complete body held."""

    size: int
    sha256: str
    rows: int


def download(
    chunks: Iterable[bytes],
    sink: Sink,
    export_format: str,
    *,
    status: int,
    refuse: Callable[[bytes], RefusedError],
    max_bytes: int | None = None,
    progress: Callable[[int, int], None] = lambda size, rows: None,
) -> Transfer:
    """Stream `chunks` into `sink`, counting rows and hashing; the sink is not committed.

    `refuse(body)` builds the refusal for a body that says `"success": false`, which is
    looked for among the top-level members of any JSON answer, also when csv was asked
    for. A body that is not valid for its format raises Retryable, as a broken transfer
    does; one larger than `max_bytes` is refused.
    """
    counter = row_counter(export_format)
    #: A JSON object where CSV was asked for: read as JSON too, for its `success` member.
    probe: JsonRowCounter | None = None
    digest = hashlib.sha256()
    size = 0
    head: bytearray | None = bytearray()  # until it cannot be a `success: false` answer
    try:
        for chunk in chunks:
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise RefusedError(
                    f"the answer is larger than --max-bytes ({max_bytes:,} bytes): not an "
                    "export we accept\nhint: raise --max-bytes (EXPORTSPEC_MAX_BYTES) if it is"
                )
            if size == len(chunk) and export_format == "csv" and chunk.lstrip()[:1] == b"{":
                probe = JsonRowCounter()
            probe = _probe(probe, chunk)
            counter.feed(chunk)
            digest.update(chunk)
            if head is None:
                sink.write(chunk)
            else:
                head += chunk
                if len(head) >= HEAD_BYTES:
                    if _SUCCESS_FALSE.match(head):
                        raise refuse(bytes(head))
                    sink.write(bytes(head))
                    head = None
            progress(size, counter.rows)
        if head is not None:
            _check_small_body(bytes(head), status, refuse)
            sink.write(bytes(head))
        counter.close()
        probe = _probe(probe, None)
    except JsonBodyError as exc:
        raise Retryable(f"{exc}, after {size} bytes", mid_body=True) from None
    for json_body in (counter, probe):
        if isinstance(json_body, JsonRowCounter) and json_body.members.get("success") is False:
            raise refuse(json.dumps(json_body.members, default=str).encode())
    return Transfer(size, digest.hexdigest(), counter.rows)


def _probe(probe: JsonRowCounter | None, chunk: bytes | None) -> JsonRowCounter | None:
    """Feed (None: close) the JSON probe of a CSV answer; drop it when the body is no JSON."""
    if probe is None:
        return None
    try:
        if chunk is None:
            probe.close()
        else:
            probe.feed(chunk)
    except JsonBodyError:
        return None
    return probe


def _check_small_body(body: bytes, status: int, refuse: Callable[[bytes], RefusedError]) -> None:
    """A whole body under HEAD_BYTES: refused if empty (even an empty export has a header)
    or a JSON object saying success: false."""
    if not body.strip():
        raise RefusedError(
            f"the server answered HTTP {status} with an empty body, not an export\n"
            f"hint: {NOT_AN_EXPORT_HINT}"
        )
    if not body.lstrip().startswith(b"{"):
        return
    try:
        data = loads_strict(body)
    except StrictJsonError:  # not quite JSON (a raw control character, say): still a refusal
        if _SUCCESS_FALSE_ANYWHERE.search(body):
            raise refuse(body) from None
        return
    if isinstance(data, dict) and data.get("success") is False:
        raise refuse(body)
