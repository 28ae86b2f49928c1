"""Stage 1, load: YAML, TOML or JSON files into plain data plus the position of every value.

YAML goes through libyaml's composer (PyYAML's C parser) and we build values from the
node tree ourselves, with YAML 1.2 core-schema meaning, duplicate-key errors and a
bound on alias expansion. TOML values come from `tomllib`; a small scanner maps each
key and value to its line and column.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from exportspec.spec.models import Diagnostic, LoadedDocument, Position, SourceMap

SPEC_SUFFIXES = (".yaml", ".yml", ".toml")
#: Vars files may also be JSON (read with the YAML 1.2 loader, of which JSON is a subset).
DATA_SUFFIXES = (*SPEC_SUFFIXES, ".json")

#: Upper bound on values built from one file, aliases expanded: a spec has a few dozen,
#: while a "billion laughs" file would expand to 10**9.
MAX_VALUES = 100_000
MAX_DEPTH = 64
#: The largest spec, vars file, project file, lock or run record read (16 MiB).
MAX_FILE_BYTES = 16 * 1024 * 1024
_READ_CHUNK = 1024 * 1024


def too_deep(value: Any, depth: int = 0) -> bool:
    """Whether a node of `value` lies more than MAX_DEPTH keys or indexes deep, counted as the
    YAML and TOML loaders count (`depth` is where `value` itself sits: 1 for a value in a
    file's top-level mapping, such as a variable's). Iterative: a deep value cannot
    exhaust the recursion limit here."""
    pending = [(value, depth)]
    while pending:
        item, level = pending.pop()
        if level > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            pending.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, level + 1) for child in item)
    return False


class LoadError(Exception):
    """A file cannot be read or parsed; carries the located diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class InputReadError(Exception):
    """An input file cannot be read: an OS error, not a regular file, or larger than its cap.

    The message is a reason to follow "cannot read ...: ", e.g. "larger than 16777216 bytes".
    """

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


def read_bounded(path: Path, cap: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file `path`, at most `cap` of them, or InputReadError.

    The cap holds while reading (at most cap + 1 bytes are read, whatever the file's size
    says, so a file that grows meanwhile cannot fill memory either). The file is opened
    non-blocking, so a named pipe without a writer cannot hang the open, and anything but a
    regular file (a FIFO, `/dev/zero`, a socket, a folder) is refused before a byte is read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputReadError(exc.strerror or str(exc)) from None
    except ValueError:  # an embedded NUL byte
        raise InputReadError("the path holds a NUL byte") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputReadError("it is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise InputReadError(
                "not a regular file (a named pipe, device or socket); give a regular file"
            )
        chunks: list[bytes] = []
        size = 0
        while size <= cap:
            chunk = os.read(fd, min(_READ_CHUNK, cap + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise InputReadError(f"larger than {cap} bytes", too_large=True)
    except OSError as exc:
        raise InputReadError(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


#: Files a folder search never takes for specs: the project file sits beside them (`lock .`).
NOT_SPECS = frozenset({"exportspec.toml"})


def iter_spec_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield spec files: files as given, folders searched recursively, sorted, deduplicated.

    A folder search skips hidden files and folders (`.github/`, `.pre-commit-config.yaml`)
    and the project file; a file named explicitly is always taken. It also skips a symlink
    (file or folder) that leads out of the folder searched: a pull request's own tree must
    not make a command read, or echo, a file elsewhere on the machine. Symlinks that stay
    inside work as usual.
    """
    seen: set[Path] = set()
    for path in paths:
        found = _search(path) if path.is_dir() else [path]
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                yield file


def _search(root: Path) -> list[Path]:
    """The spec files under the folder `root`, sorted: only those that resolve inside it.

    `rglob` does not enter folder symlinks (what one inside points to is searched under its
    own name); the realpath test also holds where a Python's glob would follow them."""
    inside = Path(os.path.realpath(root))
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix in SPEC_SUFFIXES
        and p.name not in NOT_SPECS
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and Path(os.path.realpath(p)).is_relative_to(inside)
        and p.is_file()
    )


def load_document(
    path: Path, *, display: str | None = None, allow_empty: bool = False
) -> LoadedDocument:
    """Read and parse one file by its suffix; raise LoadError with a located diagnostic.

    An empty file (or one of comments only) is an error, unless `allow_empty`: then it is
    an empty mapping (a settings file whose defaults all apply).
    """
    shown = display or str(path)
    try:
        raw = read_bounded(path)
    except InputReadError as exc:
        raise LoadError(_unreadable(shown, exc)) from None
    return load_bytes(raw, path=path, display=shown, allow_empty=allow_empty)


def _unreadable(shown: str, exc: InputReadError) -> Diagnostic:
    if exc.too_large:
        return _too_large(shown)
    return Diagnostic(shown, f"cannot read file: {exc.reason}", rule="io")


def _too_large(shown: str) -> Diagnostic:
    return Diagnostic(shown, f"file is larger than {MAX_FILE_BYTES} bytes", rule="io")


def load_bytes(
    raw: bytes, *, path: Path, display: str | None = None, allow_empty: bool = False
) -> LoadedDocument:
    """Parse file contents already in memory (used by tests and `load_document`)."""
    shown = display or str(path)
    if len(raw) > MAX_FILE_BYTES:
        raise LoadError(_too_large(shown))
    text = _decode(raw, shown)
    if allow_empty and path.suffix == ".toml":
        pass  # an empty TOML document is an empty table; tomllib judges the rest
    elif not text.strip() or _only_comments(text):
        raise LoadError(
            Diagnostic(shown, "file is empty: expected a mapping", Position(1, 1), rule="empty")
        )
    if path.suffix == ".toml":
        from exportspec.spec.load_toml import load_toml

        data, source_map = load_toml(text, shown)
    else:
        from exportspec.spec.load_yaml import load_yaml

        data, source_map = load_yaml(text, shown)
    require_mapping(data, source_map, shown, f"a mapping of keys to values, not {_kind(data)}")
    return LoadedDocument(path, data, source_map, hashlib.sha256(raw).hexdigest())


def require_mapping(data: object, source_map: SourceMap, shown: str, expected: str) -> None:
    """Raise the located error for a file whose top level is not a mapping."""
    if not isinstance(data, dict):
        raise LoadError(
            Diagnostic(
                shown,
                f"the top level must be {expected}",
                source_map.value_position(()) or Position(1, 1),
                rule="not-a-mapping",
            )
        )


def _decode(raw: bytes, shown: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise LoadError(
            Diagnostic(
                shown,
                f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
                Position(line, column),
                rule="encoding",
            )
        ) from None


def _only_comments(text: str) -> bool:
    return all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
