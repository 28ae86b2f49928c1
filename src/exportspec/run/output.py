"""Writing outputs safely: atomic files and the sinks an export streams into.

An output file appears only complete: bytes go to a temporary file beside the target,
which is fsynced and renamed over it, and the folder is fsynced so the rename survives
a crash. Anything else removes the temporary file and leaves an older output untouched.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol, Self

from exportspec.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locks, no sweeping
    fcntl = None  # type: ignore[assignment]


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
    manager, any exception (Ctrl-C included) removes the temporary file. The temporary
    file is locked (flock) while it lives, so a later run of the same output tells an
    abandoned one (SIGKILL, power cut: removed) from a live one (refused). With
    `exclusive`, the commit also locks the output's folder until `close()`, so two runs
    never interleave a commit and what follows it (a run record).
    """

    def __init__(self, target: Path, *, private: bool = True, exclusive: bool = False) -> None:
        self.target = target
        self._final = Path(os.path.realpath(target)) if target.is_symlink() else target
        folder = self._final.parent
        folder.mkdir(parents=True, exist_ok=True)
        # mkstemp makes the file 0600: right for exports (personal data), while bodies,
        # locks and run records get the usual permissions (`private=False`). The name is
        # cut so that prefix, random part and suffix fit in 255 bytes.
        prefix = "." + _cut_utf8(self._final.name, 200) + "."
        _sweep(folder, prefix, target)
        # Created under a name the sweep ignores, and renamed to it only once locked: no
        # other run can take it for an abandoned file in between.
        fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".new")
        self.temp_path = Path(name)
        self._file: BinaryIO | None = None
        self._committed = False
        self._exclusive = exclusive
        self._folder_lock: int | None = None
        try:
            _lock(fd, wait=False)
            part = self.temp_path.with_name(self.temp_path.name.removesuffix(".new") + ".part")
            self.temp_path.rename(part)
            self.temp_path = part
            if not private and hasattr(os, "fchmod"):
                os.fchmod(fd, 0o666 & ~_umask())
            self._file = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self.discard()
            raise

    def write(self, data: bytes) -> None:
        """Write all of `data` (buffered)."""
        assert self._file is not None
        self._file.write(data)

    def truncate(self) -> None:
        """Drop what was written, to start over (a retried download)."""
        assert self._file is not None
        self._file.seek(0)
        self._file.truncate()

    def commit(self) -> None:
        """fsync, rename over the target, fsync the folder: complete and durable, or absent.

        The file stays open and locked until `close()`: another run's commit waits.
        """
        assert self._file is not None and not self._committed
        self._file.flush()
        os.fsync(self._file.fileno())
        if self._exclusive:
            self._folder_lock = _locked_folder(self._final.parent)
        self.temp_path.replace(self._final)
        self._committed = True
        fsync_folder(self._final.parent)

    def close(self) -> None:
        """Release the file (and its lock); before a commit, this discards it."""
        if not self._committed:
            self.discard()
            return
        file, self._file = self._file, None
        if file is not None:
            file.close()
        self._release_folder()

    def _release_folder(self) -> None:
        folder, self._folder_lock = self._folder_lock, None
        if folder is not None:
            os.close(folder)

    def discard(self) -> None:
        """Close and remove the temporary file; the target is untouched."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):  # a full disk fails the final flush again
                file.close()
        if not self._committed:
            with contextlib.suppress(FileNotFoundError):
                self.temp_path.unlink()
        self._release_folder()

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
        else:
            self.close()


#: mkstemp's random part: eight of these characters.
_RANDOM = r"[a-z0-9_]{8}"


def _sweep(folder: Path, prefix: str, target: Path) -> None:
    """Remove this output's abandoned temporary files; refuse when a live run writes it."""
    if fcntl is None:
        return
    pattern = re.compile(re.escape(prefix) + _RANDOM + r"\.part")
    with os.scandir(folder) as entries:
        candidates = [entry.path for entry in entries if pattern.fullmatch(entry.name)]
    for path in candidates:
        try:
            flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            fd = os.open(path, flags)
        except OSError:
            continue  # gone meanwhile, or not ours to open
        try:
            _lock(fd, wait=False)
        except BlockingIOError:
            raise ConfigError(
                f"another exportspec run is writing {target} now (its temporary file "
                f"{Path(path).name} is locked); wait for it, or write elsewhere with -o"
            ) from None
        else:
            with contextlib.suppress(FileNotFoundError):
                Path(path).unlink()  # abandoned by a run that was killed
        finally:
            os.close(fd)


def _lock(fd: int, *, wait: bool) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))


def _locked_folder(folder: Path) -> int | None:
    """An open, flock-ed handle on `folder` (None where folders cannot be locked). Held
    only from a commit to the end of its run record: another run's commit waits that long."""
    if fcntl is None:
        return None
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None
    try:
        _lock(fd, wait=True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Sink(Protocol):
    """Where an export's bytes go; `restartable` says whether a retry may start over."""

    restartable: bool

    def write(self, data: bytes) -> None: ...

    def restart(self) -> None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...

    def discard(self) -> None: ...


class FileSink:
    """An AtomicFile whose OS errors name the output (disk full, permission denied)."""

    restartable = True

    def __init__(self, target: Path) -> None:
        self._target = target
        try:
            self._file = AtomicFile(target, exclusive=True)
        except OSError as exc:
            raise output_error(target, exc) from None

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise output_error(self._target, exc) from None

    def restart(self) -> None:
        try:
            self._file.truncate()
        except OSError as exc:
            raise output_error(self._target, exc) from None

    def commit(self) -> None:
        try:
            self._file.commit()
        except OSError as exc:
            self._file.discard()
            raise output_error(self._target, exc) from None

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        self._file.discard()


class StreamSink:
    """stdout: nothing can be taken back, so a restart is possible only before the first byte.

    A reader that leaves raises BrokenPipeError (exit 141); any other OS error is a
    ConfigError naming the stream.
    """

    def __init__(self, stream: BinaryIO, name: str = "stdout") -> None:
        self._stream = stream
        self._name = name
        self.restartable = True

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.restartable = False
        view = memoryview(data)
        with self._errors():
            # A pipe whose reader left can take part of a write without raising: loop, so
            # the next write raises instead of the rest being dropped silently.
            while view:
                view = view[self._stream.write(view) :]

    def restart(self) -> None:
        assert self.restartable, "nothing written yet"

    def commit(self) -> None:
        with self._errors():
            self._stream.flush()

    def close(self) -> None:
        pass

    def discard(self) -> None:
        pass

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise ConfigError(f"cannot write to {self._name}: {exc.strerror or exc}") from None


class SpecialFileSink(StreamSink):
    """A device or FIFO given as -o (/dev/null, /dev/stdout, a named pipe): written through,
    opened once (reopening a FIFO would show its reader an end)."""

    def __init__(self, target: Path) -> None:
        try:
            stream = target.open("wb")
        except OSError as exc:
            raise output_error(target, exc) from None
        super().__init__(stream, str(target))

    def commit(self) -> None:
        with self._errors():
            self._stream.close()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.close()


def open_sink(target: Path | None, stdout: BinaryIO | None) -> Sink:
    """The sink for an output: stdout (None), a special file written through, or a file."""
    if target is None:
        if stdout is None:
            raise ConfigError("stdout is closed; redirect it to a file or use -o FILE")
        return StreamSink(stdout)
    if is_special_file(target):
        return SpecialFileSink(target)
    if target.is_dir():  # found now, not after a whole download
        raise ConfigError(f"cannot write {target}: it is a folder; name a file")
    return FileSink(target)


def _cut_utf8(name: str, limit: int) -> str:
    """`name` cut to `limit` bytes; a name that is not UTF-8 (undecodable bytes) keeps them."""
    return os.fsdecode(os.fsencode(name)[:limit])


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
