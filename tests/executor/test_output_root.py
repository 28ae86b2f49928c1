"""The output root and the output-path policy of `run`, against a real loopback server.

A spec's `output.path` lands under the output root (--output-root > EXPORTSPEC_OUTPUT_ROOT >
the environment's `output_root` > the project's > the working folder) and cannot leave it,
through `..` or a symlink; no output replaces an input of the run; `-o` is the user's own
choice. Every refusal happens before anything is sent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exportspec.errors import ConfigError
from exportspec.run.models import ExportRequest
from exportspec.run.runner import RunOptions, run
from exportspec.run.settings import ConnectionFlags
from tests.conftest import RunCli
from tests.executor.conftest import Reply, ScriptServer, assert_no_secret, copy_spec

CSV = b"registered,email\na,a@example.com\n"

SPEC = """\
version: 1
name: contacts
vars:
  where: {{type: string, default: {default}}}
export:
  format: csv
  attributes:
    type: some
    list:
      - {{type: id, id: registered}}
output:
  path: "{{{{ where }}}}"
"""


def write_spec(folder: Path, default: str = "exports/contacts.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "contacts.yaml"
    spec.write_text(SPEC.format(default=default))
    return spec


def run_spec(run_cli: RunCli, server: ScriptServer, *args: str) -> tuple[int, str]:
    server.script(Reply(body=CSV))
    result = run_cli(["run", *args, "--base-url", server.base_url, "--project-token", "tok"])
    assert_no_secret(result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stderr


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every file and symlink under `folder`: what a refused run must leave as it was."""
    found: dict[str, bytes | str] = {}
    for path in folder.rglob("*"):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = f"-> {path.readlink()}"
        elif path.is_file():
            found[key] = path.read_bytes()
    return found


def written_outside(
    before: dict[str, bytes | str], after: dict[str, bytes | str], root: str
) -> set[str]:
    """Entries added or changed outside the folder `root` (relative to the snapshot's folder)."""
    changed = {k for k in after if before.get(k) != after[k]}
    return {k for k in changed if not (k == root or k.startswith(root + os.sep))}


# --- where the root is -----------------------------------------------------------------


PROJECT = """\
[project]
output_root = "project-root"
default_environment = "plain"

[environments.plain]

[environments.staging]
output_root = "staging-root"
"""


@pytest.mark.parametrize(
    ("flag", "variable", "environment", "expected"),
    [
        ("flag-root", "variable-root", "staging", "work/flag-root"),
        (None, "variable-root", "staging", "work/variable-root"),
        (None, None, "staging", "repo/staging-root"),
        (None, None, None, "repo/project-root"),
    ],
)
def test_the_output_root_follows_its_precedence(
    run_cli: RunCli,
    server: ScriptServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flag: str | None,
    variable: str | None,
    environment: str | None,
    expected: str,
) -> None:
    repo = tmp_path / "repo"
    spec = write_spec(repo / "specs")
    (repo / "exportspec.toml").write_text(PROJECT)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the flag and the variable are relative to it, the file's not
    if variable is not None:
        monkeypatch.setenv("EXPORTSPEC_OUTPUT_ROOT", variable)
    args = [str(spec)]
    args += ["--output-root", flag] if flag is not None else []
    args += ["--env", environment] if environment is not None else []
    code, stderr = run_spec(run_cli, server, *args)
    assert code == 0, stderr
    output = tmp_path / expected / "exports" / "contacts.csv"
    assert output.read_bytes() == CSV
    exports = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("contacts.csv"))
    assert exports == [output.relative_to(tmp_path)]


def test_without_any_setting_the_root_is_the_working_folder(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "specs")
    code, stderr = run_spec(run_cli, server, str(spec))
    assert code == 0, stderr
    assert (tmp_path / "exports" / "contacts.csv").read_bytes() == CSV
    # The record keeps the path as the user sees it, relative to the working folder.
    assert "to exports/contacts.csv" in stderr


def test_an_empty_variable_counts_as_unset(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTSPEC_OUTPUT_ROOT", "")
    code, stderr = run_spec(run_cli, server, str(write_spec(tmp_path / "specs")))
    assert code == 0, stderr
    assert (tmp_path / "exports" / "contacts.csv").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("ftp://host/prefix", "not a destination exportspec can write"),
        ("a-file", "is not a folder"),
    ],
)
def test_a_root_that_is_not_a_local_folder_is_a_configuration_error(
    run_cli: RunCli,
    server: ScriptServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    message: str,
) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    monkeypatch.setenv("EXPORTSPEC_OUTPUT_ROOT", setting)
    spec = write_spec(tmp_path / "specs")
    before = snapshot(tmp_path)
    code, stderr = run_spec(run_cli, server, str(spec))
    assert code == 3, stderr
    assert message in stderr
    assert server.count == 0
    assert snapshot(tmp_path).keys() == before.keys()


def test_output_root_and_o_together_are_a_usage_error(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    code, stderr = run_spec(
        run_cli, server, str(write_spec(tmp_path)), "--output-root", "root", "-o", "x.csv"
    )
    assert code == 2, stderr
    assert server.count == 0


# --- output.path stays inside the root -------------------------------------------------


@pytest.fixture
def rooted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A root folder, set with EXPORTSPEC_OUTPUT_ROOT, and a folder `elsewhere` beside it."""
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "precious.csv").write_bytes(b"not to be replaced\n")
    monkeypatch.setenv("EXPORTSPEC_OUTPUT_ROOT", str(root))
    return root


@pytest.mark.parametrize("where", ["../elsewhere/x.csv", "{tmp}/elsewhere/x.csv", "a/../../x.csv"])
def test_a_var_cannot_take_the_output_out_of_the_root(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, rooted: Path, where: str
) -> None:
    spec = write_spec(tmp_path / "specs")
    before = snapshot(tmp_path)
    where = where.format(tmp=tmp_path)  # absolute, but inside the test's folder all the same
    code, stderr = run_spec(run_cli, server, str(spec), "--var", f"where={where}")
    assert code == 1, stderr
    assert "output.path" in stderr and f"{spec}:12:9" in stderr
    assert server.count == 0
    assert snapshot(tmp_path) == before


def test_a_symlinked_folder_cannot_take_the_output_out_of_the_root(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, rooted: Path
) -> None:
    (rooted / "exports").symlink_to(tmp_path / "elsewhere")
    spec = write_spec(tmp_path / "specs")
    before = snapshot(tmp_path)
    code, stderr = run_spec(run_cli, server, str(spec))
    assert code == 3, stderr
    assert "leaves the output root" in stderr
    assert server.count == 0
    assert snapshot(tmp_path) == before


def test_a_symlinked_output_cannot_replace_a_file_outside_the_root(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, rooted: Path
) -> None:
    (rooted / "exports").mkdir()
    (rooted / "exports" / "contacts.csv").symlink_to(tmp_path / "elsewhere" / "precious.csv")
    spec = write_spec(tmp_path / "specs")
    before = snapshot(tmp_path)
    code, stderr = run_spec(run_cli, server, str(spec))
    assert code == 3, stderr
    assert "is a symlink to" in stderr
    assert server.count == 0
    assert snapshot(tmp_path) == before


def test_a_symlinked_run_record_cannot_replace_a_file_outside_the_root(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, rooted: Path
) -> None:
    (rooted / "exports").mkdir()
    (rooted / "exports" / "contacts.csv.run.json").symlink_to(
        tmp_path / "elsewhere" / "precious.csv"
    )
    spec = write_spec(tmp_path / "specs")
    before = snapshot(tmp_path)
    code, stderr = run_spec(run_cli, server, str(spec))
    assert code == 3, stderr
    assert "the run record of" in stderr
    assert server.count == 0
    assert snapshot(tmp_path) == before


def test_symlinks_that_stay_inside_the_root_work(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, rooted: Path
) -> None:
    (rooted / "real").mkdir()
    (rooted / "exports").symlink_to("real")
    (rooted / "real" / "kept.csv").write_bytes(b"old\n")
    spec = write_spec(tmp_path / "specs", default="exports/link.csv")
    (rooted / "real" / "link.csv").symlink_to("kept.csv")
    before = snapshot(tmp_path)
    code, stderr = run_spec(run_cli, server, str(spec))
    assert code == 0, stderr
    assert (rooted / "real" / "kept.csv").read_bytes() == CSV
    assert (rooted / "real" / "link.csv").is_symlink()
    assert written_outside(before, snapshot(tmp_path), "root") == set()


def test_an_output_that_is_a_folder_is_refused_before_sending(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, rooted: Path
) -> None:
    (rooted / "exports" / "contacts.csv").mkdir(parents=True)
    code, stderr = run_spec(run_cli, server, str(write_spec(tmp_path / "specs")))
    assert code == 3, stderr
    assert "is a folder" in stderr
    assert server.count == 0


def test_o_naming_a_folder_is_refused(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "link").symlink_to("folder")
    for target in ("folder", "link"):
        code, stderr = run_spec(run_cli, server, str(write_spec(tmp_path / "specs")), "-o", target)
        assert code in (2, 3), stderr
    assert server.count == 0
    assert list((tmp_path / "folder").iterdir()) == []


# --- inputs are never replaced ---------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path]:
    """A project with a spec, a vars file, exportspec.toml and a lock."""
    spec = write_spec(tmp_path / "specs")
    vars_file = tmp_path / "vars.yaml"
    vars_file.write_text("where: exports/from-vars.csv\n")
    toml = tmp_path / "exportspec.toml"
    toml.write_text("[project]\n")
    lock = tmp_path / "exportspec.lock"
    lock.write_text("{}\n")
    return {"spec": spec, "vars": vars_file, "toml": toml, "lock": lock}


@pytest.mark.parametrize("victim", ["spec", "vars", "toml", "lock"])
def test_o_never_replaces_an_input_of_the_run(
    run_cli: RunCli,
    server: ScriptServer,
    tmp_path: Path,
    project: dict[str, Path],
    victim: str,
) -> None:
    before = snapshot(tmp_path)
    target = str(project[victim])
    code, stderr = run_spec(
        run_cli, server, str(project["spec"]), "--vars-file", str(project["vars"]), "-o", target
    )
    assert code == 3, stderr
    assert "an input of this run" in stderr
    assert server.count == 0
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("victim", ["spec", "vars", "toml", "lock"])
def test_a_link_to_an_input_is_the_input(
    run_cli: RunCli,
    server: ScriptServer,
    tmp_path: Path,
    project: dict[str, Path],
    victim: str,
) -> None:
    (tmp_path / "soft.csv").symlink_to(project[victim])
    (tmp_path / "hard.csv").hardlink_to(project[victim])
    before = snapshot(tmp_path)
    for target in ("soft.csv", "hard.csv"):
        code, stderr = run_spec(
            run_cli, server, str(project["spec"]), "--vars-file", str(project["vars"]), "-o", target
        )
        assert code == 3, stderr
        assert "an input of this run" in stderr
    assert server.count == 0
    assert snapshot(tmp_path) == before


def test_a_spec_output_path_never_replaces_the_spec(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "specs", default="specs/contacts.yaml")
    before = snapshot(tmp_path)
    code, stderr = run_spec(run_cli, server, str(spec))
    assert code == 3, stderr
    assert "would replace" in stderr
    assert server.count == 0
    assert snapshot(tmp_path) == before


def test_the_run_record_never_replaces_an_input_either(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "specs")
    vars_file = tmp_path / "out.csv.run.json"
    vars_file.write_text('{"where": "exports/x.csv"}\n')
    before = snapshot(tmp_path)
    code, stderr = run_spec(
        run_cli, server, str(spec), "--vars-file", str(vars_file), "-o", "out.csv"
    )
    assert code == 3, stderr
    assert "the run record" in stderr and "an input of this run" in stderr
    assert server.count == 0
    assert snapshot(tmp_path) == before


# --- -o and rerun are the user's choice ------------------------------------------------


def test_o_may_name_any_path_outside_the_root(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, rooted: Path
) -> None:
    target = tmp_path / "elsewhere" / "mine.csv"
    code, stderr = run_spec(run_cli, server, str(write_spec(tmp_path / "specs")), "-o", str(target))
    assert code == 0, stderr
    assert target.read_bytes() == CSV
    assert list(rooted.iterdir()) == []


def test_rerun_writes_beside_the_record_wherever_the_root_is(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = copy_spec("csv.yaml", tmp_path)
    code, stderr = run_spec(run_cli, server, str(spec), "-o", "records/out.csv")
    assert code == 0, stderr
    (tmp_path / "records" / "out.csv").unlink()
    monkeypatch.setenv("EXPORTSPEC_OUTPUT_ROOT", str(tmp_path / "root"))
    result = run_cli(
        [
            "rerun",
            "records/out.csv.run.json",
            "--base-url",
            server.base_url,
            "--project-token",
            "tok",
        ]
    )
    assert result.exit_code == 0, result.explain()
    assert (tmp_path / "records" / "out.csv").read_bytes() == CSV
    assert not (tmp_path / "root").exists()


def test_rerun_never_replaces_the_record_it_replays_with_the_export(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    spec = copy_spec("csv.yaml", tmp_path)
    code, stderr = run_spec(run_cli, server, str(spec), "-o", "out.csv")
    assert code == 0, stderr
    record = tmp_path / "out.csv.run.json"
    before = record.read_bytes()
    result = run_cli(
        [
            "rerun",
            str(record),
            "-o",
            str(record),
            "--base-url",
            server.base_url,
            "--project-token",
            "tok",
        ]
    )
    assert result.exit_code == 3, result.explain()
    assert "an input of this run" in result.stderr
    assert server.count == 1
    assert record.read_bytes() == before


# --- the same checks for Python API callers --------------------------------------------


def _request() -> ExportRequest:
    return ExportRequest(
        body=b'{"format":"csv"}',
        body_sha256="0" * 64,
        export_format="csv",
        name="contacts",
        spec_path=None,
        spec_sha256=None,
        variables={},
        now=None,
    )


def test_a_nul_byte_in_any_output_is_refused_before_sending(
    server: ScriptServer, tmp_path: Path
) -> None:
    flags = ConnectionFlags(server.base_url, "tok")
    for options in (
        RunOptions(_request(), Path("a\0b.csv"), flags),
        RunOptions(_request(), Path("a\0b.csv"), flags, output_root=str(tmp_path)),
    ):
        with pytest.raises(ConfigError, match="NUL byte"):
            run(options)
    assert server.count == 0
    assert list(tmp_path.iterdir()) == []


def test_an_api_caller_cannot_leave_the_root_either(server: ScriptServer, tmp_path: Path) -> None:
    root = tmp_path / "root"
    flags = ConnectionFlags(server.base_url, "tok")
    for relative in (Path("../x.csv"), tmp_path / "x.csv"):
        with pytest.raises(ConfigError, match="not inside the output root"):
            run(RunOptions(_request(), relative, flags, output_root=str(root)))
    assert server.count == 0
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_scheme_from_the_flag_is_a_configuration_error_too(
    run_cli: RunCli, server: ScriptServer, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "specs")
    code, stderr = run_spec(run_cli, server, str(spec), "--output-root", "sftp://host/prefix")
    assert code == 3, stderr
    assert "unknown scheme sftp://" in stderr
    assert server.count == 0
