"""The code a run came from: commit, branch, remote, dirty flag and the uncommitted diff."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..redaction import Scrubber

MAX_DIFF_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class GitState:
    commit: str
    branch: str
    remote: str
    dirty: bool
    diff: bytes
    """``git diff HEAD`` (staged and unstaged changes to tracked files), secrets replaced by
    REDACTED in place; empty when clean."""
    diff_truncated: bool
    redacted: int = 0
    """Secrets taken out of the remote URL and the diff."""


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode(errors="replace").strip() if done.returncode == 0 else None


def capture_git(cwd: Path) -> GitState | None:
    """The repository state at ``cwd``, or None outside a git work tree.

    The remote loses its user name and password, and the diff its secrets (see
    :mod:`runstream.redaction`), before anyone stores or hashes them.
    """
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return None
    remote = _git(cwd, "config", "--get", "remote.origin.url") or ""
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no") or ""
    diff = _diff(cwd) if status else b""
    scrubber = Scrubber()
    return GitState(
        commit=commit,
        branch=_git(cwd, "rev-parse", "--abbrev-ref", "HEAD") or "",
        remote=scrubber.url(remote),
        dirty=bool(status),
        diff=scrubber.diff(diff[:MAX_DIFF_BYTES]),
        diff_truncated=len(diff) > MAX_DIFF_BYTES,
        redacted=scrubber.count,
    )


def _diff(cwd: Path) -> bytes:
    try:
        done = subprocess.run(
            ["git", "diff", "HEAD", "--binary"], cwd=cwd, capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return b""
    return done.stdout if done.returncode == 0 else b""
