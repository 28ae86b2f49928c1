"""Where an export may land, checked before anything is sent: inside the output root (symlinks
followed), never over an input of the run or a folder; an object under a URL root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from exportspec.errors import ConfigError
from exportspec.run import records
from exportspec.run.destinations import Location, ObjectUrl, is_url
from exportspec.run.output import is_special_file

if TYPE_CHECKING:
    from exportspec.run.runner import RunOptions


def is_stream(target: Location) -> bool:
    """stdout-like: a special file (/dev/null, a pipe), which gets no run record."""
    return isinstance(target, Path) and is_special_file(target)


def output_target(options: RunOptions) -> Location | None:
    """Where the export goes (None: stdout), checked before anything is sent.

    A spec's `output.path` (with `options.output_root`) must stay inside the root: its
    folder, symlinks followed, lies in the root's, and so does a symlinked target's file.
    Any output must not be a folder, hold a NUL byte, or replace an input of the run (nor
    may its run record). Under a URL root, or given as a URL, the output is an object
    (nothing local to replace). Raises ConfigError (exit 3).
    """
    output = options.output
    if output is None:
        return None
    if options.output_root is not None and is_url(options.output_root):
        output = _under_url(output, ObjectUrl.parse(options.output_root, "the output root"))
    if isinstance(output, ObjectUrl):
        if output in options.inputs:  # rerun URL -o URL: the record itself
            raise ConfigError(f"the output {output} would replace an input of this run")
        return output
    if "\0" in str(output):
        raise ConfigError(f"the output path {str(output)!r} holds a NUL byte, which no file can")
    root = None if options.output_root is None else Path(options.output_root)
    if root is not None:
        output = _inside_root(output, root)
    if output.is_dir():
        raise ConfigError(f"the output {output} is a folder: name a file")
    written = [output]
    if not is_special_file(output):
        record = records.record_path_for(output)
        if root is not None:
            _no_link_out(record, root, f"the run record of {output}")
        if options.recorded is None:  # rerun's new record replaces the replayed one
            written.append(record)
    for path in written:
        for source in options.inputs:
            if isinstance(source, Path) and _same_file(path, source):
                what = "the output" if path is output else f"the run record {path} of"
                raise ConfigError(
                    f"{what} {output} would replace {source}, an input of this run: "
                    "write the export elsewhere (output.path, --output-root or -o)"
                )
    return output


def _under_url(relative: Location, root: ObjectUrl) -> ObjectUrl:
    """`root / relative` for a spec's relative `output.path` (no `..`, not absolute)."""
    if isinstance(relative, ObjectUrl) or relative.is_absolute() or ".." in relative.parts:
        raise ConfigError(
            f"output.path {str(relative)!r} is not inside the output root {root}: it must be "
            "relative, without '..' (to write elsewhere, give -o PATH)"
        )
    return root / relative.as_posix()


def _inside_root(relative: Path, root: Path) -> Path:
    """`root / relative`, refused unless it stays inside `root` (symlinks followed)."""
    if root.exists() and not root.is_dir():
        raise ConfigError(f"the output root {root} is not a folder")
    if relative.is_absolute() or ".." in relative.parts:
        raise ConfigError(
            f"output.path {str(relative)!r} is not inside the output root {root}: it must be "
            "relative, without '..' (to write elsewhere, give -o PATH)"
        )
    target = root / relative
    inside = Path(os.path.realpath(root))
    folder = Path(os.path.realpath(target.parent))
    if not folder.is_relative_to(inside):
        raise ConfigError(
            f"output.path {str(relative)!r} leaves the output root {root}: its folder "
            f"{target.parent} leads to {folder} (a symlink); to write there, give -o PATH"
        )
    _no_link_out(target, root, f"output.path {str(relative)!r}")
    try:
        return target.relative_to(Path.cwd())  # as the user sees it, and as records keep it
    except ValueError:
        return target


def _no_link_out(path: Path, root: Path, what: str) -> None:
    """Refuse a symlink at `path` whose file lies outside `root`: it would be replaced."""
    if path.is_symlink():
        final = Path(os.path.realpath(path))
        if not final.is_relative_to(Path(os.path.realpath(root))):
            raise ConfigError(
                f"{what} leaves the output root {root}: {path} is a symlink to {final}; "
                "to write there, give -o PATH"
            )


def _same_file(path: Path, other: Path) -> bool:
    """Whether `path` and `other` name one file: the same resolved path, or (hard links)
    the same inode."""
    try:
        if os.path.realpath(path) == os.path.realpath(other):
            return True
        return path.exists() and other.exists() and path.samefile(other)
    except (OSError, ValueError):
        return False
