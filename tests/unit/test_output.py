"""AtomicFile and the sinks: complete or absent, private, and able to start over."""

from __future__ import annotations

import io
import os
import random
import stat
from pathlib import Path

import pytest

from exportspec.errors import ConfigError
from exportspec.run.output import AtomicFile, FileSink, StreamSink, open_sink


def pieces(total: int, seed: int) -> list[bytes]:
    """`total` random bytes cut at random lengths."""
    rng = random.Random(seed)
    out, left = [], total
    while left:
        size = min(left, rng.choice([1, 7, 4096, 65_537, 1 << 20]))
        out.append(rng.randbytes(size))
        left -= size
    return out


def parts(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("total", [0, 5, 8191, 8192, 1 << 20, 3 * (1 << 20) + 12_345])
def test_the_file_holds_exactly_what_was_written(tmp_path: Path, total: int) -> None:
    data = pieces(total, seed=total)
    target = tmp_path / "out.csv"
    with AtomicFile(target) as file:
        for piece in data:
            file.write(piece)
        assert not target.exists()  # nothing visible before the commit
        file.commit()
    assert target.read_bytes() == b"".join(data)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # exports hold personal data
    assert parts(tmp_path) == []


def test_an_exception_leaves_the_older_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"older\n")
    with pytest.raises(KeyboardInterrupt), AtomicFile(target) as file:
        file.write(b"x" * 100_000)
        raise KeyboardInterrupt
    assert target.read_bytes() == b"older\n"
    assert parts(tmp_path) == []


def test_truncate_starts_the_file_over(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with AtomicFile(target) as file:
        file.write(b"a broken first attempt" * 1000)
        file.truncate()
        file.write(b"the second\n")
        file.commit()
    assert target.read_bytes() == b"the second\n"


def test_a_symlinked_target_keeps_its_link(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_bytes(b"old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    with AtomicFile(link) as file:
        file.write(b"new\n")
        file.commit()
    assert link.is_symlink()
    assert real.read_bytes() == b"new\n"


def test_shared_files_get_the_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "exportspec.lock"
    with AtomicFile(target, private=False) as file:
        file.write(b"{}\n")
        file.commit()
    assert stat.S_IMODE(target.stat().st_mode) & 0o044  # readable by others (umask 022)


def test_a_file_sink_restarts_and_names_its_output_on_errors(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "out.csv")
    sink.write(b"partial")
    sink.restart()
    sink.write(b"whole\n")
    sink.commit()
    sink.close()
    assert (tmp_path / "out.csv").read_bytes() == b"whole\n"
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ConfigError, match=r"cannot write .*blocker/out\.csv"):
        FileSink(blocker / "out.csv")


def test_a_stream_sink_can_restart_only_before_its_first_byte() -> None:
    stream = io.BytesIO()
    sink = StreamSink(stream)
    assert sink.restartable
    sink.restart()
    sink.write(b"bytes")
    assert not sink.restartable
    sink.commit()
    assert stream.getvalue() == b"bytes"


def test_stdout_closed_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="stdout is closed"):
        open_sink(None, None)


def test_an_abandoned_temporary_file_is_removed_by_the_next_run(tmp_path: Path) -> None:
    """A run killed by SIGKILL or a power cut leaves its temporary file, unlocked."""
    target = tmp_path / "out.csv"
    abandoned = tmp_path / ".out.csv.abcd1234.part"
    abandoned.write_bytes(b"half an export")
    other = tmp_path / ".out.csv.old.abcd1234.part"  # another output's: left alone
    other.write_bytes(b"x")
    with AtomicFile(target) as file:
        assert not abandoned.exists()
        file.write(b"new\n")
        file.commit()
    assert other.exists()
    assert parts(tmp_path) == [other]


def test_a_second_writer_of_the_same_output_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with AtomicFile(target) as first:
        with pytest.raises(ConfigError, match="another exportspec run is writing"):
            AtomicFile(target)
        first.write(b"first\n")
        first.commit()
    assert target.read_bytes() == b"first\n"


def test_a_commit_holds_the_folder_until_the_run_is_done(tmp_path: Path) -> None:
    """Between its commit and its close (the run record), an export keeps its folder
    locked: another run's commit cannot slip in between."""
    fcntl = pytest.importorskip("fcntl")
    target = tmp_path / "out.csv"
    first = AtomicFile(target, exclusive=True)
    first.write(b"first\n")
    first.commit()
    probe = os.open(tmp_path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        first.close()
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the close
    finally:
        os.close(probe)


def test_a_named_pipe_that_looks_like_a_temporary_file_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".out.csv.abcd1234.part")
    with AtomicFile(tmp_path / "out.csv") as file:
        file.write(b"x\n")
        file.commit()
    assert (tmp_path / "out.csv").read_bytes() == b"x\n"


def test_a_name_that_is_not_utf8_is_written(tmp_path: Path) -> None:
    target = Path(os.fsdecode(os.fsencode(tmp_path) + b"/\xff-export.csv"))
    with AtomicFile(target) as file:
        file.write(b"x\n")
        file.commit()
    assert target.read_bytes() == b"x\n"


def test_a_folder_as_output_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="it is a folder"):
        open_sink(tmp_path, None)
