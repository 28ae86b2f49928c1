"""The README and docs/ stay honest: their examples run, and what they name exists.

Spec examples validate, console examples print what they show, every `exportspec` command
and flag they mention is in `--help`, exit codes are listed in one place (docs/running.md)
and match `ExitCode`, links between pages resolve, and the README stays a short front page
whose test command is exactly the one CI runs.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from exportspec.cli import main
from exportspec.cli.app import COMMAND_BY_NAME
from exportspec.errors import ExitCode
from tests.conftest import RunCli

ROOT = Path(__file__).parent.parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
RUNNING = DOCS / "running.md"
GITOPS = DOCS / "gitops.md"
SANDBOX = DOCS / "sandbox.md"
SPECS = ROOT / "specs"
WORKFLOW = DOCS / "github-actions-exportspec.yml"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
PAGE_IDS = [page.relative_to(ROOT).as_posix() for page in PAGES]

README_MAX_LINES = 120
#: The line of .ci/run after which the README's test command follows, verbatim.
CI_MARKER = "# --- the README's test command, verbatim ---"
#: Languages of fenced blocks that hold shell commands and their output.
SHELL_BLOCKS = {"sh", "console", "text", ""}
#: Tokens that end one `exportspec` invocation in a shell line.
SHELL_BREAKS = {"|", "||", "&&", ";", ">", "2>", ">>", "<", "#", "\\"}
#: "exit 3", "exits with 2", "exit code 130", "exit status 1": how an exit code is written.
EXIT_CODE_MENTION = re.compile(r"\bexit(?:s|ed|ing)?(?: with)?(?: codes?| status)? \d+\b", re.I)


# --- reading markdown ------------------------------------------------------------------


def _fences(page: Path) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in page order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", page.read_text(), flags=re.M | re.S)


def _prose(page: Path) -> str:
    """The page without its fenced code blocks."""
    return re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)


def _code_spans(page: Path) -> list[str]:
    return re.findall(r"`([^`\n]+)`", _prose(page))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", _prose(page), flags=re.M)}


def _shell_lines() -> Iterator[tuple[str, str]]:
    """(page, text) of every place a command may be written: code spans and shell blocks."""
    for page, page_id in zip(PAGES, PAGE_IDS, strict=True):
        for span in _code_spans(page):
            yield page_id, span
        for language, body in _fences(page):
            if language in SHELL_BLOCKS:
                for line in body.splitlines():
                    yield page_id, line.removeprefix("$ ")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                yield WORKFLOW.name, line


def _invocations(text: str) -> Iterator[list[str]]:
    """The arguments of each `exportspec ...` in a line, up to a shell operator or comment."""
    try:
        tokens = shlex.split(text.replace("\\|", "/"), comments=False, posix=True)
    except ValueError:  # an unbalanced quote in prose: take words as they are
        tokens = text.split()
    for start, token in enumerate(tokens):
        if token == "exportspec":
            arguments: list[str] = []
            for argument in tokens[start + 1 :]:
                if argument in SHELL_BREAKS or argument.startswith((">", "#")):
                    break
                arguments.append(argument)
            yield arguments


def _option_names(command: click.Command) -> set[str]:
    names = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    return names | {"-h", "--help"}


def _flag(token: str) -> str | None:
    """`--var` of `--var`, `[--editor`, `--fail=503`; None for values such as `-1` or `-`."""
    match = re.match(r"\[?(--?[A-Za-z][\w-]*)", token)
    return match[1] if match else None


def _command(name: str) -> click.Command:
    command = main.get_command(click.Context(main), name)
    assert command is not None, name
    return command


def _normal(line: str) -> str:
    """An output line without what changes between runs: ports and durations."""
    line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)
    return re.sub(r"\bin \d+(?:\.\d+)? s\b", "in N s", line).rstrip()


def _output_lines(stdout: str, stderr: str) -> list[str]:
    return sorted(_normal(line) for line in (stdout + stderr).splitlines() if line.strip())


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder holding a copy of the example specs, as a user's checkout would."""
    shutil.copytree(SPECS, tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    for name in ("EXPORTSPEC_BASE_URL", "EXPORTSPEC_PROJECT_TOKEN", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


# --- the README as a front page --------------------------------------------------------


def test_the_readme_is_short() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci[ci.index(CI_MARKER) + 1]
    readme_lines = [
        line for language, body in _fences(README) if language == "sh" for line in body.splitlines()
    ]
    assert command in readme_lines


def test_the_readme_sandbox_run_works_and_prints_what_it_shows(
    checkout: Path, run_cli: RunCli
) -> None:
    fences = _fences(README)
    ((index, line),) = [
        (i, line)
        for i, (language, body) in enumerate(fences)
        if language == "sh"
        for line in body.splitlines()
        if line.startswith("python -m pip install . && exportspec run ") and "--sandbox" in line
    ]
    (arguments,) = _invocations(line)
    result = run_cli(arguments)
    assert result.exit_code == 0, result.explain()
    language, shown = fences[index + 1]
    assert language == "text"
    assert _output_lines(result.stdout, result.stderr) == _output_lines(shown, "")
    export = checkout / "exports" / "all-customers.csv"
    assert export.is_file() and Path(f"{export}.run.json").is_file()


@pytest.mark.parametrize(
    "spec", sorted(p.name for p in SPECS.iterdir() if p.suffix in {".yaml", ".yml", ".toml"})
)
def test_every_example_spec_runs_against_the_sandbox_as_written(
    spec: str, checkout: Path, run_cli: RunCli
) -> None:
    """The README says so: the examples use the sandbox's ids."""
    result = run_cli(["run", f"specs/{spec}", "--sandbox", "-q", "-o", "export"])
    assert result.exit_code == 0, result.explain()
    assert (checkout / "export").stat().st_size > 0


def test_the_readme_spec_is_a_real_example_file() -> None:
    (spec,) = [body for language, body in _fences(README) if language == "yaml"]
    name = yaml.safe_load(spec)["name"]
    assert spec == (SPECS / f"{name}.yaml").read_text()


def test_the_readme_links_to_the_exit_codes() -> None:
    assert "(docs/running.md#exit-codes)" in README.read_text()


# --- examples --------------------------------------------------------------------------


def _spec_examples() -> Iterator[Any]:
    for page, page_id in zip(PAGES, PAGE_IDS, strict=True):
        for number, (language, body) in enumerate(_fences(page)):
            if language not in {"yaml", "toml"}:
                continue
            data = yaml.safe_load(body) if language == "yaml" else tomllib.loads(body)
            if isinstance(data, dict) and {"version", "export"} <= set(data):
                yield pytest.param(language, body, id=f"{page_id}-{number}")


@pytest.mark.parametrize(("language", "body"), list(_spec_examples()))
def test_every_spec_example_validates(
    language: str, body: str, checkout: Path, run_cli: RunCli
) -> None:
    spec = checkout / "example" / f"spec.{language}"
    spec.parent.mkdir()
    spec.write_text(body)
    result = run_cli(["validate", str(spec)])
    assert result.exit_code == 0, result.explain()


def test_examples_of_one_spec_compile_to_one_body(checkout: Path, run_cli: RunCli) -> None:
    """The same spec shown in YAML and in TOML is the same body."""
    bodies: dict[str, list[str]] = {}
    for number, example in enumerate(_spec_examples()):
        language, text = example.values
        spec = checkout / f"spec-{number}.{language}"
        spec.write_text(text)
        result = run_cli(["compile", str(spec)])
        assert result.exit_code == 0, result.explain()
        name = (yaml.safe_load(text) if language == "yaml" else tomllib.loads(text))["name"]
        bodies.setdefault(name, []).append(result.stdout)
    assert all(len(set(texts)) == 1 for texts in bodies.values()), bodies
    assert any(len(texts) > 1 for texts in bodies.values()), "no spec is shown in both languages"


def _console_examples() -> Iterator[Any]:
    for page, page_id in zip(PAGES, PAGE_IDS, strict=True):
        for language, body in _fences(page):
            if language != "console":
                continue
            for example in re.split(r"^(?=\$ )", body, flags=re.M):
                if example.startswith("$ exportspec "):
                    command, _, shown = example.partition("\n")
                    yield pytest.param(command[2:], shown, id=f"{page_id}: {command[2:]}")


@pytest.mark.parametrize(("command", "shown"), list(_console_examples()))
def test_console_examples_print_what_they_show(
    command: str, shown: str, checkout: Path, run_cli: RunCli
) -> None:
    (arguments,) = _invocations(command)
    result = run_cli(arguments)
    assert _output_lines(result.stdout, result.stderr) == _output_lines(shown, ""), result.explain()


def test_the_project_file_example_works_with_the_examples(checkout: Path, run_cli: RunCli) -> None:
    (project,) = [
        b for language, b in _fences(GITOPS) if language == "toml" and "[environments." in b
    ]
    (checkout / "exportspec.toml").write_text(project)
    for args in (["validate"], ["lock"], ["plan", "--detailed-exitcode"], ["validate", "--locked"]):
        result = run_cli(args)
        assert result.exit_code == 0, result.explain()
    assert "warning" not in result.stderr


def _matches(shown: Any, actual: Any) -> bool:
    """`shown` is `actual`, except that a list may end in "..." for the items left out."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(
            key in actual and _matches(value, actual[key]) for key, value in shown.items()
        )
    if isinstance(shown, list) and shown and shown[-1] == "...":
        head = shown[:-1]
        return (
            isinstance(actual, list)
            and len(actual) > len(head)
            and _matches(head, actual[: len(head)])
        )
    if isinstance(shown, list):
        return (
            isinstance(actual, list)
            and len(shown) == len(actual)
            and all(_matches(s, a) for s, a in zip(shown, actual, strict=True))
        )
    return bool(shown == actual)


def test_the_sandbox_description_example_is_what_describe_prints(run_cli: RunCli) -> None:
    (shown,) = [json.loads(b) for language, b in _fences(SANDBOX) if language == "json"]
    result = run_cli(["sandbox", "--describe"])
    assert result.exit_code == 0, result.explain()
    assert _matches(shown, json.loads(result.stdout)), result.stdout


def test_the_workflow_validates_plans_and_applies_one_merge_at_a_time() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert set(workflow["jobs"]) == {"check", "apply"}
    scripts = "\n".join(
        step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]
    )
    used = set(re.findall(r"exportspec (\w+)", scripts))
    assert {"validate", "plan", "apply"} <= used <= set(COMMAND_BY_NAME)
    assert "--output-format github" in scripts and "--locked" in scripts
    apply = workflow["jobs"]["apply"]
    assert apply["concurrency"]["cancel-in-progress"] is False
    assert "exportspec apply --since" in scripts and "while read" not in scripts


# --- names that must exist -------------------------------------------------------------


def test_every_command_and_flag_mentioned_exists() -> None:
    global_options = _option_names(main)
    every_option = global_options.union(*(_option_names(_command(n)) for n in COMMAND_BY_NAME))
    unknown: list[str] = []
    for where, text in _shell_lines():
        if text.startswith("-") and (flag := _flag(text.split()[0])):
            if flag not in every_option:
                unknown.append(f"{where}: `{text}`: no command has {flag}")
            continue
        for arguments in _invocations(text):
            words = iter(arguments)
            options = global_options
            for word in words:
                flag = _flag(word)
                if flag is not None:
                    if flag not in options:
                        unknown.append(f"{where}: `{text}`: {flag} is not in its --help")
                elif options is global_options:
                    if word.isupper() or not word.isidentifier():  # COMMAND, a placeholder
                        break
                    if word not in COMMAND_BY_NAME:
                        unknown.append(f"{where}: `{text}`: no command {word!r}")
                        break
                    options = _option_names(_command(word))
    assert not unknown, "\n".join(unknown)


def test_every_environment_variable_mentioned_exists() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "exportspec").rglob("*.py"))
    defined = source + WORKFLOW.read_text()  # the workflow's own env: settings
    unknown = {
        f"{page_id}: {name}"
        for page, page_id in zip(PAGES, PAGE_IDS, strict=True)
        for name in re.findall(r"\bEXPORTSPEC_[A-Z0-9_]+\b", page.read_text())
        if not re.search(rf"\b{name}\b", defined)
    }
    assert not unknown, sorted(unknown)


# --- exit codes: one list, the real one ------------------------------------------------


def _exit_code_table() -> dict[int, str]:
    section = RUNNING.read_text().split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    return {
        int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)
    }


def test_the_exit_code_table_is_exit_code() -> None:
    assert set(_exit_code_table()) == {int(code) for code in ExitCode}


@pytest.mark.parametrize("page", [p for p in PAGES if p != RUNNING], ids=lambda p: p.name)
def test_exit_codes_are_written_only_in_running_md(page: Path) -> None:
    text = page.read_text()
    assert not re.search(r"^#+ Exit codes", text, flags=re.M | re.I)
    assert not re.findall(r"^\| \d+ \|", text, flags=re.M)
    assert not EXIT_CODE_MENTION.findall(text)


def test_help_summarises_the_exit_codes() -> None:
    """`exportspec --help` is read offline: it lists every code, and no command invents one."""
    codes = {int(code) for code in ExitCode}
    assert main.help is not None
    summary = main.help.split("Exit codes:", 1)[1]
    assert {int(n) for n in re.findall(r"\b\d+\b", summary)} == codes
    for name in COMMAND_BY_NAME:
        help_text = _command(name).help or ""
        for mention in re.findall(r"Exit codes?:([^.]*)", help_text):
            assert {int(n) for n in re.findall(r"\b\d+\b", mention)} <= codes, name


# --- links -----------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_links_between_pages_resolve(page: Path) -> None:
    broken: list[str] = []
    for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", _prose(page)):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path_text, _, anchor = target.partition("#")
        path = (page.parent / path_text).resolve() if path_text else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (path.suffix != ".md" or anchor not in _anchors(path)):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = README.read_text()
    for page in DOCS.iterdir():
        assert f"(docs/{page.name}" in readme, page.name
