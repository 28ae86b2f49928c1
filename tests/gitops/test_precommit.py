"""The hooks in .pre-commit-hooks.yaml: which files they run for, how the file's comment tells
users to install them, and the hooks run by pre-commit itself against a temporary repository.

pre-commit builds the hook environment from this checkout with pip, so those tests need the
package index, as installing the project does: they are marked `network` (and run by default).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.gitops.conftest import DATA

ROOT = Path(__file__).parent.parent.parent
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
HOOKS_FILE = ROOT / ".pre-commit-hooks.yaml"
HOOKS = {hook["id"]: hook for hook in yaml.safe_load(HOOKS_FILE.read_text())}
README = ROOT / "README.md"
FILE_CASES = yaml.safe_load((DATA / "hook-files.yaml").read_text())


def _hook_runs_for(hook: dict[str, object], path: str) -> bool:
    """pre-commit's choice: `files` and `exclude` are regular expressions searched in the path."""
    return bool(re.search(str(hook.get("files", "")), path)) and not re.search(
        str(hook.get("exclude", "^$")), path
    )


@pytest.mark.parametrize(
    ("hook", "path", "runs"),
    [
        (hook, path, runs)
        for hook, cases in FILE_CASES.items()
        for runs, key in ((True, "run"), (False, "skip"))
        for path in cases[key]
    ],
)
def test_each_hook_runs_for_the_files_that_can_change_its_outcome(
    hook: str, path: str, runs: bool
) -> None:
    assert _hook_runs_for(HOOKS[hook], path) == runs


def test_the_install_comment_uses_the_workflows_placeholder_and_asks_for_a_released_tag() -> None:
    comment = "\n".join(
        line.removeprefix("#").strip()
        for line in HOOKS_FILE.read_text().splitlines()
        if line.startswith("#")
    )
    workflow = (ROOT / "docs" / "github-actions-exportspec.yml").read_text()
    (package,) = set(re.findall(r"git\+(https://\S+?)@(v[\w.]+)", workflow))
    repo = re.search(r"repo: (\S+)", comment)
    rev = re.search(r"rev: (\S+)", comment)
    assert repo is not None and rev is not None, comment
    assert (repo[1], rev[1]) == package
    assert "YOUR-ORG" in repo[1]
    assert "released tag" in comment
    # The README, where it names the repository, says it the same way.
    for url in re.findall(r"https://github\.com/[\w.-]+/exportspec\b", README.read_text()):
        assert url == repo[1]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _out(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return done.stdout


@pytest.fixture(scope="module")
def hooks_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pre-commit configuration naming this checkout's hooks, the way a spec repository's
    does, at a commit holding the working tree's changes to tracked (and staged) files.

    This is what `pre-commit try-repo` does on every call, along with a fresh hook
    environment each time; made once here, the environment is built once for the module.
    """
    folder = tmp_path_factory.mktemp("pre-commit")
    shadow = folder / "exportspec"
    head = _out(ROOT, "git", "rev-parse", "HEAD").strip()
    _out(folder, "git", "clone", "-q", "--no-checkout", str(ROOT), str(shadow))
    _out(shadow, "git", "checkout", "-q", "--detach", head)
    # The clone's index and objects, filled from this checkout's files (as try-repo does).
    env = {
        **os.environ,
        "GIT_INDEX_FILE": str(shadow / ".git" / "index"),
        "GIT_OBJECT_DIRECTORY": str(shadow / ".git" / "objects"),
    }
    staged = _out(ROOT, "git", "diff", "--staged", "--name-only", "--no-ext-diff", "-z",
                  "--diff-filter=ACMRTUXB").split("\0")  # fmt: skip
    if any(staged):
        _out(ROOT, "git", "add", "--", *filter(None, staged), env=env)
    _out(ROOT, "git", "add", "-u", env=env)
    _git(shadow, "commit", "-q", "--allow-empty", "-m", "the working tree")
    rev = _out(shadow, "git", "rev-parse", "HEAD").strip()
    config = folder / "pre-commit-config.yaml"
    hooks = [{"id": hook} for hook in HOOKS]
    config.write_text(
        yaml.safe_dump({"repos": [{"repo": str(shadow), "rev": rev, "hooks": hooks}]})
    )
    return config


def _run_hook(repo: Path, hook: str, config: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    return subprocess.run(
        [*PRE_COMMIT, "run", hook, "--all-files", "--color", "never", "--config", str(config)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.fixture(scope="module")
def hook_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pre-commit cache for the module: the hook environment is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "specs-repo"
    shutil.copytree(DATA / "tree", root)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "specs")
    return root


@pytest.mark.network
def test_validate_hook_passes_then_fails_on_a_bad_spec(
    repo: Path, hooks_config: Path, hook_home: Path
) -> None:
    ok = _run_hook(repo, "exportspec-validate", hooks_config, hook_home)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Passed" in ok.stdout
    (repo / "specs" / "everyone.toml").write_text('version = 1\nname = "everyone"\n')
    _git(repo, "add", ".")
    bad = _run_hook(repo, "exportspec-validate", hooks_config, hook_home)
    assert bad.returncode == 1
    assert "specs/everyone.toml:1:1: error: missing required key 'export'" in bad.stdout


@pytest.mark.network
def test_lock_hook_fails_until_the_lock_is_fresh(
    repo: Path, hooks_config: Path, hook_home: Path
) -> None:
    missing = _run_hook(repo, "exportspec-lock", hooks_config, hook_home)
    assert missing.returncode == 1
    assert "lock file not found" in missing.stdout
    subprocess.run(
        [sys.executable, "-m", "exportspec", "lock"], cwd=repo, check=True, capture_output=True
    )
    _git(repo, "add", ".")
    fresh = _run_hook(repo, "exportspec-lock", hooks_config, hook_home)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
