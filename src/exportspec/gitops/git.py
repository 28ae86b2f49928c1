"""The few git questions exportspec asks, answered by the `git` command itself.

Nothing here changes a repository. Each call runs `git -C FOLDER ...` with prompts off; a
missing `git`, or a folder outside any repository, is an answer (None), not an error.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

#: Seconds any one git command may take (a huge repository's `git show` included).
GIT_TIMEOUT = 60.0


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            env=env,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def repository_root(folder: Path) -> Path | None:
    """The work tree's top folder holding `folder`, or None outside a repository."""
    done = _git(folder, "rev-parse", "--show-toplevel")
    if done is None or done.returncode != 0:
        return None
    return Path(os.fsdecode(done.stdout.strip()))


def head_commit(folder: Path) -> str | None:
    """The checked-out commit's full hash, or None outside a repository (or before the
    first commit)."""
    done = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if done is None or done.returncode != 0:
        return None
    return done.stdout.decode("ascii", "replace").strip() or None


def resolve_commit(root: Path, revision: str) -> str | None:
    """The commit `revision` names (a branch, tag, hash, `HEAD~1`, ...), or None."""
    if revision.startswith("-"):  # never an option to git
        return None
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if done is None or done.returncode != 0:
        return None
    return done.stdout.decode("ascii", "replace").strip() or None


def is_shallow(root: Path) -> bool:
    done = _git(root, "rev-parse", "--is-shallow-repository")
    return done is not None and done.stdout.strip() == b"true"


def file_at(root: Path, commit: str, path: str) -> bytes | None:
    """The content of `path` (relative to the repository root, `/`-separated) at `commit`,
    or None when the commit has no such file."""
    done = _git(root, "show", f"{commit}:{path}")
    if done is None or done.returncode != 0:
        return None
    return done.stdout
