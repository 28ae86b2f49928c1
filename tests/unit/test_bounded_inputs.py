"""Inputs are read with a bound: size, kind of file, nesting depth and integer digits.

Named pipes and `/dev/zero` are given where a spec, a vars file, a lock, a run record or a
sandbox data file is expected; the commands run in child processes under an address-space
limit, so a regression fails (a hang hits the guard's timeout, an unbounded read the
memory limit) instead of taking the test run down.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from exportspec.spec.load import MAX_DEPTH, MAX_FILE_BYTES, InputReadError, read_bounded
from tests.conftest import RunCli

#: The address space a child process may use: plenty for exportspec, not for /dev/zero.
MEMORY = 1 << 30
#: A guard against a regression that hangs on a pipe, not a timing assertion.
HANG_GUARD = 120

DIGITS = 5000
BIG = "7" * DIGITS

SPEC = """\
version: 1
name: {name}
vars:
  n: {{type: integer, default: 1}}
  deep: {{type: array, default: []}}
export:
  format: csv
  filter: {{type: segment, segmentation_id: 5f1a2b3c4d5e6f7a8b9c0d1e, segment_index: "{{{{ n }}}}"}}
  attributes:
    type: some
    list:
      - {{type: id, id: registered}}
"""


def write_spec(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(SPEC.format(name=name))
    return path


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def exportspec(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTSPEC_")}
    return subprocess.run(
        [sys.executable, "-m", "exportspec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        preexec_fn=_limited,
        check=False,
    )


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe nobody writes to: opening it for reading would block."""
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


# --- the reader ------------------------------------------------------------------------


def test_at_most_cap_plus_one_bytes_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as file:
        file.truncate(1 << 30)  # sparse: a gigabyte on paper
    read: list[int] = []
    real_read = os.read

    def counting(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting)
    with pytest.raises(InputReadError) as caught:
        read_bounded(big, 1000)
    assert caught.value.too_large and "larger than 1000 bytes" in caught.value.reason
    assert sum(read) == 1001
    exact = tmp_path / "exact.yaml"
    exact.write_bytes(b"x" * 1000)
    assert read_bounded(exact, 1000) == b"x" * 1000


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "folder"])
def test_anything_but_a_regular_file_is_refused_unread(
    tmp_path: Path, fifo: Path, special: str
) -> None:
    path = {"fifo": fifo, "folder": tmp_path}.get(special, Path(special))
    with pytest.raises(InputReadError, match=r"not a regular file|is a folder"):
        read_bounded(path)


# --- every kind of input, through the commands -----------------------------------------


def test_a_named_pipe_or_dev_zero_as_a_spec_is_refused(tmp_path: Path, fifo: Path) -> None:
    write_spec(tmp_path / "specs", "good")
    for spec in (str(fifo), "/dev/zero"):
        result = exportspec(["validate", spec, "specs"], tmp_path)
        assert result.returncode == 1, result.stderr
        assert "cannot read file: not a regular file" in result.stdout + result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_a_named_pipe_or_dev_zero_as_a_vars_file_is_refused(tmp_path: Path, fifo: Path) -> None:
    write_spec(tmp_path / "specs", "good")
    for vars_file in (str(fifo), "/dev/zero"):
        result = exportspec(["validate", "specs", "--vars-file", vars_file], tmp_path)
        assert result.returncode == 1, result.stderr
        assert "not a regular file" in result.stdout + result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_a_named_pipe_as_the_lock_is_a_configuration_error(tmp_path: Path) -> None:
    write_spec(tmp_path / "specs", "good")
    (tmp_path / "exportspec.toml").write_text("[project]\n")
    os.mkfifo(tmp_path / "exportspec.lock")
    result = exportspec(["validate", "--locked"], tmp_path)
    assert result.returncode == 3, result.stderr
    assert "cannot read the lock file: not a regular file" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_named_pipe_or_dev_zero_as_a_run_record_is_refused(tmp_path: Path, fifo: Path) -> None:
    for record in (str(fifo), "/dev/zero"):
        result = exportspec(["rerun", record, "--dry-run"], tmp_path)
        assert result.returncode == 1, result.stderr
        assert "cannot read the run record: not a regular file" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_named_pipe_or_dev_zero_as_a_sandbox_data_file_is_refused(
    tmp_path: Path, fifo: Path
) -> None:
    for data in (str(fifo), "/dev/zero"):
        result = exportspec(["sandbox", "--data", data, "--describe"], tmp_path)
        assert result.returncode == 3, result.stderr
        assert "cannot read data file" in result.stderr and "not a regular file" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_huge_spec_is_refused_after_reading_its_cap(tmp_path: Path) -> None:
    write_spec(tmp_path / "specs", "good")
    huge = tmp_path / "specs" / "huge.yaml"
    with huge.open("wb") as file:
        file.truncate(4 * MEMORY)  # sparse: more than the child may hold
    result = exportspec(["validate", "specs", "--output-format", "json"], tmp_path)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    by_path = {Path(s["path"]).name: s for s in report["specs"]}
    assert by_path["good.yaml"]["ok"], by_path
    (problem,) = by_path["huge.yaml"]["diagnostics"]
    assert problem["message"] == f"file is larger than {MAX_FILE_BYTES} bytes"


# --- one depth limit -------------------------------------------------------------------


def nested(levels: int, inner: str) -> str:
    """A JSON array `levels` deep around `inner`."""
    return "[" * levels + inner + "]" * levels


@pytest.mark.parametrize(
    ("levels", "inner", "accepted"),
    [
        (MAX_DEPTH, "", True),  # the innermost array sits MAX_DEPTH keys and indexes deep
        (MAX_DEPTH + 1, "", False),
        (MAX_DEPTH - 1, "1", True),  # ... and so does the number inside
        (MAX_DEPTH, "1", False),
    ],
)
def test_vars_files_and_var_share_one_depth_limit(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    levels: int,
    inner: str,
    accepted: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path, "deep")
    value = nested(levels, inner)
    files = {
        "vars.yaml": f"deep: {value}\n",
        "vars.json": f'{{"deep": {value}}}\n',
        "vars.toml": f"deep = {value}\n",
    }
    verdicts = {}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        result = run_cli(["compile", str(spec), "--vars-file", name])
        verdicts[name] = int(result.exit_code)
        assert "Traceback" not in result.stderr
    result = run_cli(["compile", str(spec), "--var", f"deep={value}"])
    verdicts["--var"] = int(result.exit_code)
    assert verdicts == dict.fromkeys(verdicts, 0 if accepted else 1), verdicts
    if not accepted:
        assert f"nested deeper than {MAX_DEPTH} levels" in result.stderr


def test_the_lock_has_the_same_depth_limit(tmp_path: Path) -> None:
    from exportspec.spec.load import LoadError
    from exportspec.spec.load_json import load_json_bytes

    for levels, inner, accepted in ((MAX_DEPTH, "", True), (MAX_DEPTH + 1, "", False)):
        raw = f'{{"deep": {nested(levels, inner)}}}'.encode()
        if accepted:
            load_json_bytes(raw, tmp_path / "exportspec.lock")
        else:
            with pytest.raises(LoadError, match="deeper than"):
                load_json_bytes(raw, tmp_path / "exportspec.lock")


# --- integers past Python's digit limit: located, and the other specs still checked ---


def validate_json(run_cli: RunCli, *args: str) -> tuple[int, dict[str, list[dict[str, object]]]]:
    result = run_cli(["validate", *args, "--output-format", "json"])
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    return result.exit_code, {Path(s["path"]).name: s["diagnostics"] for s in report["specs"]}


def test_a_long_integer_from_var_is_located_at_each_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path / "specs", "one")
    write_spec(tmp_path / "specs", "two")
    (tmp_path / "specs" / "broken.yaml").write_text("version: 1\nname: [\n")
    code, by_spec = validate_json(run_cli, "specs", "--var", f"n={BIG}")
    assert code == 1
    assert set(by_spec) == {"one.yaml", "two.yaml", "broken.yaml"}
    for name in ("one.yaml", "two.yaml"):
        (problem,) = by_spec[name]
        assert (problem["line"], problem["column"]) == (4, 3)
        assert f"an integer of {DIGITS} digits is too large" in str(problem["message"])
        assert BIG not in str(problem["message"])
    assert by_spec["broken.yaml"]


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("vars.toml", f"# values\nn = {BIG}\n", (2, 5)),
        ("vars.json", f'{{\n  "n": {BIG}\n}}\n', (2, 8)),
        ("vars.yaml", f"# values\nn: {BIG}\n", (2, 4)),
    ],
)
def test_a_long_integer_in_a_vars_file_is_located_in_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    name: str,
    text: str,
    where: tuple[int, int],
) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path / "specs", "one")
    (tmp_path / name).write_text(text)
    code, by_file = validate_json(run_cli, "specs", "--vars-file", name)
    assert code == 1
    (problem,) = by_file[name]
    assert (problem["line"], problem["column"]) == where
    assert f"{DIGITS} digits is too large" in str(problem["message"])


def test_a_long_integer_in_a_toml_spec_leaves_the_other_specs_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path / "specs", "good")
    (tmp_path / "specs" / "long.toml").write_text(
        f'version = 1\nname = "long"\n\n[export]\nformat = "csv"\nexecution_time = {BIG}\n'
    )
    hexadecimal = "0x" + "f" * DIGITS  # converts, but has more decimal digits than the limit
    (tmp_path / "specs" / "hex.toml").write_text(
        f'version = 1\nname = "hex"\n\n[export]\nformat = "csv"\nexecution_time = {hexadecimal}\n'
    )
    code, by_spec = validate_json(run_cli, "specs")
    assert code == 1
    assert by_spec["good.yaml"] == []
    for name in ("long.toml", "hex.toml"):
        (problem,) = by_spec[name]
        assert (problem["line"], problem["column"]) == (6, 18)
        assert "digits is too large" in str(problem["message"])


def test_a_long_integer_in_the_project_file_is_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path / "specs", "one")
    (tmp_path / "exportspec.toml").write_text(f"[environments.e.vars]\nn = {BIG}\n")
    result = run_cli(["validate"])
    assert result.exit_code == 3, result.explain()
    assert f"exportspec.toml:2:5: error: an integer of {DIGITS} digits is too large" in (
        result.stderr
    )
    assert "internal error" not in result.stderr


def test_a_long_integer_in_the_lock_is_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path / "specs", "one")
    (tmp_path / "exportspec.toml").write_text("[project]\n")
    (tmp_path / "exportspec.lock").write_text(f'{{\n  "lock_version": {BIG}\n}}\n')
    result = run_cli(["validate", "--locked"])
    assert result.exit_code == 3, result.explain()
    assert f"exportspec.lock:2:19: error: not valid JSON (an integer of {DIGITS} digits" in (
        result.stderr
    )
    assert BIG not in result.stderr


def test_a_long_integer_in_a_run_record_is_located(tmp_path: Path, run_cli: RunCli) -> None:
    record = tmp_path / "out.csv.run.json"
    record.write_text(f'{{"record_version": 1,\n "request": {BIG}}}\n')
    result = run_cli(["rerun", str(record), "--dry-run"])
    assert result.exit_code == 1, result.explain()
    assert f"{record}:2:13: error: not a run record: not valid JSON (an integer of" in (
        result.stderr
    )
