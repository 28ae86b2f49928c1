"""Writing exports safely: atomic files, and row counters that see each byte once.

An output file appears only complete: bytes go to a temporary file beside the target,
which is fsynced and renamed over it, and the folder is fsynced so the rename survives
a crash. Anything else removes the temporary file and leaves an older output untouched.
Big exports are written with direct I/O where the file system allows it, so the final
fsync has little left to do (see `_DirectBlocks`).
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import json
import mmap
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from exportspec.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no direct I/O, plain writes
    fcntl = None  # type: ignore[assignment]

#: Direct I/O needs block-aligned offsets, lengths and memory: whole blocks of this size
#: from one page-aligned buffer satisfy every logical block size (512 B to 64 KiB).
DIRECT_BLOCK = 4 << 20
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)
#: Every byte except `"` and `\n`: what the CSV counter deletes before looking at structure.
_NOT_QUOTE_OR_NEWLINE = bytes(b for b in range(256) if b not in b'"\n')
_JSON_WS = re.compile(r"[ \t\n\r]*")
#: A partial JSON value larger than this is not a row but a broken body.
_JSON_VALUE_MAX = 64 << 20
#: Text parsed per batch of rows: big enough to amortise Python, small enough for memory.
_JSON_BATCH = 256 << 10
#: Where one row ends and the next begins, in compact and in `json.dumps` default spacing.
_JSON_ROW_SEPARATORS = ("],[", "], [", "},{", "}, {")
_JSON_AFTER_VALUE = frozenset(",]} \t\n\r")


class RowCounter(Protocol):
    """Counts data rows (no header) of an export as its bytes stream past."""

    rows: int

    def feed(self, chunk: bytes) -> None: ...

    def close(self) -> None: ...


class CsvRowCounter:
    """CSV records minus the header, in constant memory; a newline inside quotes ends nothing.

    A newline ends a record when an even number of `"` precede it (escaped `""` pairs
    cancel out). Per chunk, all bytes but quotes and newlines are deleted, which leaves one
    run of quotes per line. When no whole line in the chunk has an odd run, no newline in
    it changes the quote state: the common case, decided from the set of run lengths (the
    cut lines at either end set the state before and after). Otherwise adjacent quote
    pairs are removed (which changes no newline's parity) and the few quotes left, around
    fields that span lines, are walked. Runs at memchr speed on quote-free data.
    """

    def __init__(self) -> None:
        self._record_ends = 0
        self._in_quotes = False
        self._last_byte = b"\n"[0]
        self.rows = 0

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._last_byte = chunk[-1]
        if not self._in_quotes and b'"' not in chunk:
            self._record_ends += chunk.count(b"\n")
        else:
            skeleton = chunk.translate(None, _NOT_QUOTE_OR_NEWLINE)
            runs = skeleton.split(b"\n")  # the first and last lines are cut by the chunk
            newlines = len(runs) - 1
            # A set of lengths is cheaper than removing the quote pairs (0.30 against 0.43
            # ms per MiB of quote-heavy CSV): lines are many, distinct lengths few.
            if newlines and not any(n & 1 for n in set(map(len, islice(runs, 1, newlines)))):
                at_newlines = self._in_quotes != bool(len(runs[0]) & 1)
                self._record_ends += 0 if at_newlines else newlines
                self._in_quotes = at_newlines != bool(len(runs[-1]) & 1)
            else:
                self._walk(skeleton.replace(b'""', b""))
        self.rows = max(0, self._records() - 1)

    def _walk(self, skeleton: bytes) -> None:
        """Count the newlines outside quotes in a skeleton of quotes (unpaired) and newlines."""
        parts = skeleton.split(b'"')
        first_outside = 1 if self._in_quotes else 0
        self._record_ends += sum(part.count(b"\n") for part in parts[first_outside::2])
        if len(parts) % 2 == 0:  # an odd number of quotes flips the state
            self._in_quotes = not self._in_quotes

    def close(self) -> None:
        self.rows = max(0, self._records() - 1)

    def _records(self) -> int:
        unterminated = 1 if self._last_byte != b"\n"[0] else 0
        return self._record_ends + unterminated


class JsonBodyError(ValueError):
    """The JSON body is not one complete JSON document."""


def _reject_constant(name: str) -> Any:
    raise JsonBodyError(f"the body is not valid JSON ({name} is not a JSON value)")


class JsonRowCounter:
    """Rows of a `table_json` (`rows`) or `native_json` (`data`) body, parsed incrementally.

    Rows are decoded one at a time and dropped, so memory stays at one chunk plus one row.
    Other top-level members (success, error, errors, message, header, fields) are kept in
    `members`. A top-level array counts its items. `close()` raises JsonBodyError when the
    document is incomplete or invalid.
    """

    ROW_KEYS = ("rows", "data")

    def __init__(self) -> None:
        self._decoder = json.JSONDecoder(parse_constant=_reject_constant)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._buffer = ""
        self._state = "start"
        self._key = ""
        self._top_array = False
        self._batch_from = 0
        self.rows = 0
        self.members: dict[str, Any] = {}

    def feed(self, chunk: bytes) -> None:
        try:
            self._buffer += self._utf8.decode(chunk)
        except UnicodeDecodeError as exc:
            raise JsonBodyError(f"the body is not UTF-8 ({exc.reason})") from None
        self._run(final=False)

    def close(self) -> None:
        try:
            self._buffer += self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise JsonBodyError(f"the body is not UTF-8 ({exc.reason})") from None
        self._run(final=True)
        if self._state != "end":
            raise JsonBodyError("the JSON body ends before the document does")

    def _decode(self, pos: int, final: bool) -> tuple[Any, int] | None:
        """One JSON value at `pos`, or None when it may continue in the next chunk."""
        try:
            value, end = self._decoder.raw_decode(self._buffer, pos)
        except json.JSONDecodeError as exc:
            if final or len(self._buffer) - pos > _JSON_VALUE_MAX:
                raise JsonBodyError(f"the body is not valid JSON ({exc.msg})") from None
            return None
        except RecursionError:
            raise JsonBodyError("the body is not valid JSON (nested too deeply)") from None
        # In JSON a value is followed by whitespace or , ] } -- anything else (or nothing yet)
        # means it may go on in the next chunk: "2." + "5" must not count as a row `2`.
        if not final and (end == len(self._buffer) or self._buffer[end] not in _JSON_AFTER_VALUE):
            return None
        return value, end

    def _decode_rows(self, pos: int) -> tuple[int, int] | None:
        """Many rows at once, cut at a row separator near the end of a window.

        The slice is parsed as `[` + rows-with-trailing-comma + `0]`, which is valid JSON
        only when the cut falls between rows: inside a row an extra bracket stays open,
        inside a string the quote does. A few cuts are tried, latest first.
        """
        buffer = self._buffer
        end = min(len(buffer), pos + _JSON_BATCH)
        for _ in range(3):
            cut = max(buffer.rfind(sep, pos, end) for sep in _JSON_ROW_SEPARATORS)
            if cut <= pos:
                return None
            try:
                items = json.loads(
                    "[" + buffer[pos : cut + 2] + "0]", parse_constant=_reject_constant
                )
            except (ValueError, RecursionError):  # the row-by-row path reports it
                end = cut
                continue
            return len(items) - 1, cut + 2
        return None

    def _run(self, *, final: bool) -> None:
        buffer = self._buffer
        pos = 0
        while True:
            pos = _JSON_WS.match(buffer, pos).end()  # type: ignore[union-attr]
            if pos >= len(buffer):
                break
            char = buffer[pos]
            state = self._state
            if state == "start":
                if char not in "{[":
                    raise JsonBodyError("the body is not a JSON object or array")
                self._top_array = char == "["
                self._state = "rows_first" if self._top_array else "key"
                pos += 1
            elif state == "key":
                if char == "}":
                    self._state, pos = "end", pos + 1
                    continue
                decoded = self._decode(pos, final)
                if decoded is None:
                    break
                key, pos = decoded
                if not isinstance(key, str):
                    raise JsonBodyError("the body is not valid JSON (expected a member name)")
                self._key, self._state = key, "colon"
            elif state == "colon":
                if char != ":":
                    raise JsonBodyError("the body is not valid JSON (expected ':')")
                self._state, pos = "value", pos + 1
            elif state == "value":
                if self._key in self.ROW_KEYS and char == "[":
                    self._state, pos = "rows_first", pos + 1
                    continue
                decoded = self._decode(pos, final)
                if decoded is None:
                    break
                self.members[self._key], pos = decoded
                self._state = "after_member"
            elif state == "rows_first" and char == "]":
                self._state, pos = self._after_rows(), pos + 1
            elif state in ("rows_first", "row"):
                if pos >= self._batch_from:
                    batch = self._decode_rows(pos)
                    if batch is not None:
                        count, pos = batch
                        self.rows += count
                        self._state = "row"
                        continue
                    # No usable cut here: go row by row for a window, so this stays linear.
                    self._batch_from = pos + _JSON_BATCH
                decoded = self._decode(pos, final)
                if decoded is None:
                    break
                pos = decoded[1]
                self.rows += 1
                self._state = "row_end"
            elif state == "row_end":
                if char == ",":
                    self._state = "row"
                elif char == "]":
                    self._state = self._after_rows()
                else:
                    raise JsonBodyError("the body is not valid JSON (expected ',' or ']')")
                pos += 1
            elif state == "after_member":
                if char == ",":
                    self._state = "key"
                elif char == "}":
                    self._state = "end"
                else:
                    raise JsonBodyError("the body is not valid JSON (expected ',' or '}')")
                pos += 1
            else:  # "end"
                raise JsonBodyError("the body has data after its JSON document")
        self._buffer = buffer[pos:]
        self._batch_from = max(0, self._batch_from - pos)

    def _after_rows(self) -> str:
        return "end" if self._top_array else "after_member"


def row_counter(export_format: str) -> RowCounter:
    """The counter for a requested export format."""
    return CsvRowCounter() if export_format == "csv" else JsonRowCounter()


def is_special_file(path: Path) -> bool:
    """A target to write through, never replace: a device, FIFO or socket, or any path that
    leads through /dev or /proc (/dev/stdout -> /proc/self/fd/1 may end at a regular file,
    the shell's redirection, which must not be renamed over). Renaming over /dev/null as
    root would put a regular file in its place.
    """
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False
    if not stat.S_ISREG(mode):
        return not stat.S_ISDIR(mode)
    return any(hop.startswith(("/dev/", "/proc/")) for hop in _link_chain(path))


def _link_chain(path: Path) -> Iterator[str]:
    """`path` made absolute, then every symlink hop from it (bounded, as the kernel does)."""
    current = Path(os.path.normpath(path.absolute()))
    for _ in range(40):
        yield current.as_posix()
        if not current.is_symlink():
            return
        current = Path(os.path.normpath(current.parent / current.readlink()))


class AtomicFile:
    """A temporary file beside `target` that replaces it on `commit()`, and only then.

    A symlinked target keeps its link: the file it points to is replaced. As a context
    manager, any exception (Ctrl-C included) removes the temporary file. `direct=True`
    (for big streamed exports) writes whole blocks with direct I/O where possible.
    """

    def __init__(self, target: Path, *, private: bool = True, direct: bool = False) -> None:
        self.target = target
        self._final = Path(os.path.realpath(target)) if target.is_symlink() else target
        folder = self._final.parent
        folder.mkdir(parents=True, exist_ok=True)
        # mkstemp makes the file 0600: right for exports (personal data), while bodies,
        # locks and run records get the usual permissions (`private=False`). The name is
        # cut so that prefix, random part and suffix fit in 255 bytes.
        prefix = "." + _cut_utf8(self._final.name, 200) + "."
        fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".part")
        self.temp_path = Path(name)
        self._fd: int | None = fd
        self._blocks: _DirectBlocks | None = None
        self.size = 0
        try:
            if not private and hasattr(os, "fchmod"):
                os.fchmod(fd, 0o666 & ~_umask())
            if direct:
                self._blocks = _DirectBlocks.attach(fd)
        except BaseException:
            self.discard()
            raise

    def write(self, data: bytes) -> None:
        """Write all of `data`."""
        assert self._fd is not None
        if self._blocks is not None:
            self._blocks.write(data)
        else:
            _write_all(self._fd, data)
        self.size += len(data)

    def commit(self) -> None:
        """fsync, rename over the target, fsync the folder: complete and durable, or absent."""
        assert self._fd is not None
        if self._blocks is not None:
            self._blocks.finish()
        os.fsync(self._fd)
        self._close()
        self.temp_path.replace(self._final)
        fsync_folder(self._final.parent)

    def discard(self) -> None:
        self._close()
        with contextlib.suppress(FileNotFoundError):
            self.temp_path.unlink()

    def _close(self) -> None:
        blocks, self._blocks = self._blocks, None
        try:
            if blocks is not None:
                blocks.release()
        finally:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.discard()


class _DirectBlocks:
    """Writes a file in whole `DIRECT_BLOCK`s with O_DIRECT, the tail through the page cache.

    Why: buffered writes of a multi-GB export fill the page cache with dirty pages that the
    final fsync must then push out in one stall, and every page costs a copy (on this VM
    the page cache took 1.2-2.3 CPU-s per GB against 0.05 s for direct writes; see
    benchmarks/RESULTS.md, "Download"). Direct writes go from one reused aligned buffer
    straight to the device, on the writing thread, so the fsync in `commit()` finds little
    left. Where the file system refuses direct I/O (tmpfs before Linux 6.6, some FUSE and
    network file systems), the flag cannot be set or the first write fails with EINVAL,
    and the file falls back to plain writes from the same offset: nothing is lost.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer: mmap.mmap | None = mmap.mmap(-1, DIRECT_BLOCK)  # page-aligned
        self._fill = 0

    @classmethod
    def attach(cls, fd: int) -> _DirectBlocks | None:
        """Switch `fd` to direct I/O; None where the platform or file system cannot."""
        if fcntl is None or not _O_DIRECT:
            return None
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | _O_DIRECT)
        except OSError:
            return None
        return cls(fd)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._buffer is None:  # fell back to plain writes
                _write_all(self._fd, view)
                return
            take = min(len(view), DIRECT_BLOCK - self._fill)
            self._buffer[self._fill : self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
            if self._fill == DIRECT_BLOCK:
                self._write_block()

    def finish(self) -> None:
        """Write the staged tail (shorter than a block, so not aligned) through the cache."""
        if self._buffer is not None:
            self._plain(memoryview(self._buffer)[: self._fill])

    def release(self) -> None:
        if self._buffer is not None:
            buffer, self._buffer = self._buffer, None
            # A write still in flight (a hung device, interrupted twice) holds the buffer:
            # then it is unmapped when the last reference goes, not here.
            with contextlib.suppress(BufferError):
                buffer.close()

    def _write_block(self) -> None:
        assert self._buffer is not None
        try:
            written = os.write(self._fd, self._buffer)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            written = 0  # refused before anything was written: the offset is unchanged
        if written == DIRECT_BLOCK:
            self._fill = 0
        else:  # refused, or short (a full disk): the rest is no longer aligned
            self._plain(memoryview(self._buffer)[written : self._fill])

    def _plain(self, rest: memoryview) -> None:
        """Leave direct I/O for good and write `rest` (from the staging buffer) plainly."""
        assert fcntl is not None
        # Copied out first: an error below must not find the buffer still lent to a view.
        data = rest.tobytes()
        rest.release()
        self.release()
        fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~_O_DIRECT)
        _write_all(self._fd, data)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    """os.write until all of `data` is written (it may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _cut_utf8(name: str, limit: int) -> str:
    return name.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(target: Path, data: bytes, *, private: bool = False) -> None:
    """Replace `target` with `data` atomically and durably (a special file: write through)."""
    if is_special_file(target):
        with target.open("wb") as stream:
            stream.write(data)
        return
    with AtomicFile(target, private=private) as file:
        file.write(data)
        file.commit()


def output_error(path: Path, exc: OSError) -> ConfigError:
    """An unwritable output as the user sees it: the path and the OS's reason."""
    return ConfigError(f"cannot write {path}: {exc.strerror or exc}")


def write_file(target: Path, data: bytes) -> None:
    """`write_atomic`, with an OS error (missing folder, full disk) as a ConfigError."""
    try:
        write_atomic(target, data)
    except OSError as exc:
        raise output_error(target, exc) from None


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename itself already happened
    finally:
        os.close(fd)
