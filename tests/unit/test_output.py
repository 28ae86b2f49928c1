"""AtomicFile with direct I/O: whole aligned blocks, a plain tail, and a fallback that loses
nothing when the file system refuses a direct write."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from exportspec.run.output import DIRECT_BLOCK, AtomicFile, _DirectBlocks

fcntl = pytest.importorskip("fcntl")  # direct I/O is POSIX; elsewhere writes are plain

O_DIRECT = getattr(os, "O_DIRECT", 0)


def pieces(total: int, seed: int) -> list[bytes]:
    """`total` random bytes cut at random lengths, some longer than a block."""
    rng = random.Random(seed)
    out, left = [], total
    while left:
        size = min(left, rng.choice([1, 7, 4096, 65_537, 1 << 20, DIRECT_BLOCK + 3]))
        out.append(rng.randbytes(size))
        left -= size
    return out


@pytest.mark.parametrize(
    "total",
    [0, 5, DIRECT_BLOCK - 1, DIRECT_BLOCK, DIRECT_BLOCK + 1, 3 * DIRECT_BLOCK + 12_345],
)
def test_direct_file_holds_exactly_what_was_written(tmp_path: Path, total: int) -> None:
    data = pieces(total, seed=total)
    target = tmp_path / "out.csv"
    with AtomicFile(target, direct=True) as file:
        for piece in data:
            file.write(piece)
        assert file.size == total
        file.commit()
    assert target.read_bytes() == b"".join(data)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_discarded_direct_file_leaves_the_older_output(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"older\n")
    with pytest.raises(KeyboardInterrupt), AtomicFile(target, direct=True) as file:
        file.write(os.urandom(DIRECT_BLOCK + 10))
        raise KeyboardInterrupt
    assert target.read_bytes() == b"older\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def direct_fd(path: Path, first: bytes = b"") -> tuple[int, _DirectBlocks]:
    """A file holding `first`, switched to direct I/O at the offset after it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, first)
    blocks = _DirectBlocks.attach(fd)
    if blocks is None:
        os.close(fd)
        pytest.skip("no direct I/O on this file system")
    return fd, blocks


def test_blocks_go_direct_and_the_tail_goes_plain(tmp_path: Path) -> None:
    fd, blocks = direct_fd(tmp_path / "f")
    try:
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & O_DIRECT
        blocks.write(b"x" * (DIRECT_BLOCK + 3))
        blocks.finish()
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & O_DIRECT
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"x" * (DIRECT_BLOCK + 3)


def test_a_refused_direct_write_falls_back_to_plain_writes(tmp_path: Path) -> None:
    """One byte written first makes every block offset unaligned: the kernel answers EINVAL
    to the direct write, and the same bytes must then arrive through plain writes."""
    fd, blocks = direct_fd(tmp_path / "f", first=b"!")
    data = os.urandom(2 * DIRECT_BLOCK + 99)
    try:
        blocks.write(data[:DIRECT_BLOCK])
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & O_DIRECT
        blocks.write(data[DIRECT_BLOCK:])
        blocks.finish()
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"!" + data


def test_discard_removes_the_file_while_a_write_still_holds_the_buffer(tmp_path: Path) -> None:
    """A write hung in the kernel (a stalled device, then a second Ctrl-C) still holds the
    staging buffer when the file is discarded: the temporary file must go all the same."""
    file = AtomicFile(tmp_path / "out.csv", direct=True)
    if file._blocks is None or file._blocks._buffer is None:
        file.discard()
        pytest.skip("no direct I/O on this file system")
    in_flight = memoryview(file._blocks._buffer)  # what os.write holds while it blocks
    try:
        file.discard()
        assert list(tmp_path.iterdir()) == []
    finally:
        in_flight.release()
