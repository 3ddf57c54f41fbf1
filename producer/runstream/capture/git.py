"""The code a run came from: commit, branch, remote, dirty flag and the uncommitted diff."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

MAX_DIFF_BYTES = 10 * 1024 * 1024
_CREDENTIALS_IN_URL = re.compile(r"(://)[^/@\s]+@")


@dataclass(frozen=True)
class GitState:
    commit: str
    branch: str
    remote: str
    dirty: bool
    diff: bytes
    """``git diff HEAD`` (staged and unstaged changes to tracked files); empty when clean."""
    diff_truncated: bool


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode(errors="replace").strip() if done.returncode == 0 else None


def capture_git(cwd: Path) -> GitState | None:
    """The repository state at ``cwd``, or None outside a git work tree."""
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return None
    remote = _git(cwd, "config", "--get", "remote.origin.url") or ""
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no") or ""
    diff = _diff(cwd) if status else b""
    return GitState(
        commit=commit,
        branch=_git(cwd, "rev-parse", "--abbrev-ref", "HEAD") or "",
        remote=_CREDENTIALS_IN_URL.sub(r"\1", remote),
        dirty=bool(status),
        diff=diff[:MAX_DIFF_BYTES],
        diff_truncated=len(diff) > MAX_DIFF_BYTES,
    )


def _diff(cwd: Path) -> bytes:
    try:
        done = subprocess.run(
            ["git", "diff", "HEAD", "--binary"], cwd=cwd, capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return b""
    return done.stdout if done.returncode == 0 else b""
