"""Nothing untrusted reaches a terminal or a CI log raw.

Every string of tests/gitops/data/hostile-strings.yaml goes into spec values, spec file
names, lock entries and exportspec.toml; validate, validate --locked and plan run in a real
process, in every --output-format. Whatever they print: no control, bidi or separator
character, no line a GitHub runner would take for a workflow command (`::error`,
`::add-mask::`) other than our own annotations, and a complete, valid document.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml
from jsonschema.validators import validator_for

from exportspec.gitops.report import escape_github
from exportspec.sandbox import running_sandbox
from exportspec.terminal import guard_line, json_dumps, printable, printable_lines

DATA = Path(__file__).parent / "data"
HOSTILE = yaml.safe_load((DATA / "hostile-strings.yaml").read_text(encoding="utf-8"))
STRINGS: dict[str, str] = HOSTILE["strings"]
UNDECODABLE = [name.encode("latin-1") for name in HOSTILE["undecodable_file_names"]]
SARIF_SCHEMA = json.loads((DATA.parent.parent / "data" / "sarif-schema-2.1.0.json").read_text())
FORMATS = ["text", "json", "github", "junit", "sarif"]

#: What must never be written raw: C0 controls but the line feed, DEL, C1 controls, bidi
#: controls and marks, line and paragraph separators (and what a UTF-8 decoder refuses).
RAW = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
#: Our own annotations: a known command, properties with no raw `:`, then `::`.
ANNOTATION = re.compile(r"::(error|warning|notice) file=[^:,]*(,line=\d+,col=\d+)?::")


def _file_name(text: str) -> str:
    """The string as a file name: no `/` and no NUL, which no file name can hold."""
    return text.replace("/", "_").replace("\0", "")


def _sha256(body: object) -> str:
    from exportspec.spec.compile import canonical_json

    return hashlib.sha256(canonical_json(body)).hexdigest()


def _spec(name: str, value: str, **extra: object) -> str:
    """A spec as YAML: JSON's escapes are YAML's, so every character arrives exact."""
    document = {
        "version": 1,
        "name": name,
        "export": {
            "format": "csv",
            "attributes": {"type": "some", "list": [{"type": "property", "property": value}]},
        },
        **extra,
    }
    return json.dumps(document, ensure_ascii=True)


def _exportspec(tree: Path, *args: str) -> tuple[int, bytes, bytes]:  # (exit code, stdout, stderr)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTSPEC_")}
    env |= {"NO_COLOR": "", "FORCE_COLOR": "", "LC_ALL": "C.UTF-8", "PYTHONUTF8": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "exportspec", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def hostile_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test tree, plus per hostile string: a valid spec (in a file named by it) whose
    body holds it, an invalid one under bad/, and lock entries that hold it in a body, a
    path, and a spec that is gone."""
    root = tmp_path_factory.mktemp("hostile") / "repo"
    shutil.copytree(DATA / "tree", root)
    (root / "bad").mkdir()
    for key, text in STRINGS.items():
        (root / "specs" / f"{_file_name(text)}.yaml").write_text(_spec(f"h-{key}", text))
        (root / "bad" / f"{_file_name(text)}.yaml").write_text(
            _spec(text, text, description=text) + f"\n# {key}\n"
        )
    for raw_name in UNDECODABLE:
        (root / "bad").joinpath(os.fsdecode(raw_name)).write_text("version: 1\nname: [\n")
    code, _, err = _exportspec(root, "lock")
    assert code == 0, err.decode()
    lock = json.loads((root / "exportspec.lock").read_text())
    for index, (key, text) in enumerate(STRINGS.items()):
        entry = lock["specs"][f"h-{key}"]
        entry["body"]["attributes"]["list"][0]["property"] = f"old {text}"
        entry["body_sha256"] = _sha256(entry["body"])
        if index % 2:
            entry["path"] = f"old/{text}.yaml"
        gone = {"format": "csv", "timezone": text}
        lock["specs"][f"gone-{key}"] = dict(entry, path=text, body=gone, body_sha256=_sha256(gone))
    (root / "exportspec.lock").write_text(json.dumps(lock, indent=2, ensure_ascii=False))
    return root


@pytest.fixture(scope="module")
def hostile_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree whose exportspec.toml is invalid, in hostile keys and values."""
    root = tmp_path_factory.mktemp("hostile-config") / "repo"
    shutil.copytree(DATA / "tree", root)
    lines = ["[project]", 'spec_roots = ["specs"]']
    for key, text in STRINGS.items():
        lines.append(f"{json.dumps(text)} = {json.dumps(key)}")
    lines += ["[environments.staging]", f"base_url = {json.dumps(STRINGS['workflow-error'])}"]
    (root / "exportspec.toml").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def hostile_lock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree whose lock is invalid: hostile spec names, an edited hostile body."""
    root = tmp_path_factory.mktemp("hostile-lock") / "repo"
    shutil.copytree(DATA / "tree", root)
    lock = json.loads((DATA / "valid.lock").read_text())
    template = lock["specs"]["everyone"]
    for key, text in STRINGS.items():
        lock["specs"][text] = dict(template, path=text)
        lock["specs"][f"edited-{key}"] = dict(template, path=text, body={"format": text})
    (root / "exportspec.lock").write_text(json.dumps(lock, indent=2, ensure_ascii=False))
    return root


def _assert_inert(code: int, out: bytes, err: bytes, output_format: str) -> str:
    """No raw control character, no injected workflow command; stdout as text."""
    stdout, stderr = out.decode("utf-8"), err.decode("utf-8")  # strict: no lone surrogate
    assert "Traceback" not in stderr, stderr
    for stream, text in (("stdout", stdout), ("stderr", stderr)):
        raw = sorted({f"U+{ord(c):04X}" for c in RAW.findall(text)})
        assert not raw, f"raw {raw} in {stream} (exit {code}):\n{text}"
        for line in text.split("\n"):
            if not line.lstrip().startswith("::"):
                continue
            ours = stream == "stdout" and output_format == "github" and ANNOTATION.match(line)
            assert ours, f"a workflow command in {stream}: {line!r}"
    return stdout


def _assert_document(stdout: str, output_format: str) -> Any:
    """The --output-format document is complete and valid; returns it parsed."""
    if output_format in ("json", "sarif"):
        document = json.loads(stdout)
        if output_format == "sarif":
            checker = validator_for(SARIF_SCHEMA)(SARIF_SCHEMA)
            errors = [e.message for e in checker.iter_errors(document)]
            assert not errors, errors
            # GitHub's upload refuses a result without a location.
            assert all(r["locations"] for r in document["runs"][0]["results"])
        return document
    if output_format == "junit":
        root = ET.fromstring(stdout)
        assert root.find("./testsuite") is not None
        return root
    if output_format == "text":
        return stdout  # an early failure is said on stderr only
    assert stdout.endswith("\n") and stdout.strip()
    return stdout


RUNS = {
    "validate": (["validate", "specs", "bad"], 1),
    "validate --locked": (["validate", "--locked"], 1),
    "plan": (["plan"], 0),
}


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("run", RUNS, ids=RUNS.keys())
def test_hostile_specs_and_lock_entries_print_inert(
    hostile_tree: Path, run: str, output_format: str
) -> None:
    args, expected = RUNS[run]
    code, out, err = _exportspec(hostile_tree, *args, "--output-format", output_format)
    stdout = _assert_inert(code, out, err, output_format)
    assert code == expected, (out + err).decode()
    document = _assert_document(stdout, output_format)
    if output_format == "text":  # the hostile strings did arrive, escaped
        assert "\\x1b[31mred" in document and "\\u202eevil" in document
    if output_format == "json" and run == "plan":  # structured: the values are kept as is
        new = {c["new"] for spec in document["specs"] for c in spec["body_changes"]}
        assert STRINGS["bidi-override"] in new and STRINGS["workflow-error"] in new


#: An early failure, in the formats that matter most there (every format of each command is
#: checked in-process by test_reports.py); each run costs a process.
FAILURES = {
    **{f"validate, bad exportspec.toml, {f}": ("hostile_config", ["validate"], f) for f in FORMATS},
    **{
        f"plan, bad exportspec.toml, {f}": ("hostile_config", ["plan"], f)
        for f in ["text", "github"]
    },
    **{
        f"validate --locked, bad lock, {f}": ("hostile_lock", ["validate", "--locked"], f)
        for f in ["text", "github", "junit"]
    },
    **{f"plan, bad lock, {f}": ("hostile_lock", ["plan"], f) for f in ["json", "sarif"]},
}


@pytest.mark.parametrize("case", FAILURES, ids=FAILURES.keys())
def test_hostile_configuration_errors_print_inert_documents(
    request: pytest.FixtureRequest, case: str
) -> None:
    fixture, args, output_format = FAILURES[case]
    tree: Path = request.getfixturevalue(fixture)
    code, out, err = _exportspec(tree, *args, "--output-format", output_format)
    stdout = _assert_inert(code, out, err, output_format)
    assert code == 3, (out + err).decode()  # configuration error
    document = _assert_document(stdout, output_format)
    if output_format == "json":
        assert document["error"]["exit_code"] == 3 and document["error"]["diagnostics"]
    if output_format == "sarif":
        assert document["runs"][0]["results"]
    if output_format == "junit":
        assert document.findall("./testsuite/testcase/failure")


# --------------------------------------------------------------------------- the module


@pytest.mark.parametrize("key", STRINGS)
def test_printable_leaves_no_unsafe_character(key: str) -> None:
    text = STRINGS[key]
    for escaped in (printable(text), guard_line(text), printable_lines(text)):
        assert not RAW.findall(escaped.replace("\n", "")), escaped
    assert "\n" not in printable(text) and "\n" not in guard_line(text)
    for line in printable_lines(text).split("\n"):
        assert not line.lstrip().startswith("::"), line


def test_printable_spells_escapes_as_python_does() -> None:
    assert printable("\x1b[31m\u202eA\n\t\x9b\x00") == "\\x1b[31m\\u202eA\\n\\t\\x9b\\x00"
    assert printable("plain text, ünïcödé and emoji 🙂") == "plain text, ünïcödé and emoji 🙂"
    assert printable("bad-\udcff.yaml") == "bad-\\udcff.yaml"


def test_a_line_never_starts_a_workflow_command() -> None:
    assert guard_line("::error::x") == "\\x3a:error::x"
    assert guard_line("   ::add-mask::x") == "   \\x3a:add-mask::x"
    assert guard_line("a ::error::x") == "a ::error::x"  # only the start of a line counts
    assert printable_lines("first\n::error::x\nhint: y") == "first\n\\x3a:error::x\nhint: y"


def test_json_keeps_values_and_writes_none_raw() -> None:
    values = {"all": "".join(STRINGS.values()), "file": "bad-\udcff.yaml"}
    text = json_dumps(values)
    assert not RAW.findall(text.replace("\n", ""))
    text.encode("utf-8")  # no lone surrogate
    assert json.loads(text) == values


def test_github_escaping_follows_the_workflow_command_rules() -> None:
    assert escape_github("100%\r\n::x") == "100%25%0D%0A::x"
    assert escape_github("a:b,c%\n", property_=True) == "a%3Ab%2Cc%25%0A"


# --------------------------------------------------------------------------- the sandbox log


class _Log(io.StringIO):
    """A sandbox request log that says when a whole line has arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.line = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if text.endswith("\n"):
            self.line.set()
        return written


@pytest.fixture
def sandbox_log() -> Iterator[tuple[_Log, tuple[str, int]]]:
    log = _Log()
    with running_sandbox(customers=5, log=log) as sb:
        from urllib.parse import urlsplit

        address = urlsplit(sb.export_url)
        assert address.hostname is not None and address.port is not None
        yield log, (address.hostname, address.port)


def test_sandbox_log_escapes_request_paths(sandbox_log: tuple[_Log, tuple[str, int]]) -> None:
    log, address = sandbox_log
    path = "/x\x1b[31m\x1b]0;owned\x07\xe2\x80\xae::error::x"  # raw bytes on the wire
    with socket.create_connection(address, timeout=30) as connection:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        connection.sendall(request.encode("latin-1"))
        while connection.recv(65536):
            pass
    assert log.line.wait(60), "the request was never logged"
    (line,) = log.getvalue().splitlines()
    assert not RAW.findall(line), line
    assert "/x\\x1b[31m\\x1b]0;owned\\x07" in line
