"""The code a run came from: commit, branch, remote, dirty flag and the uncommitted diff.

The repository is the one holding the entry script (``sys.argv[0]``, else
``__main__.__file__``), else the one around the working directory: a job started from
another directory still records its code. Untracked files that git does not ignore are
part of the snapshot, appended to the diff as new files (text in full, within
:data:`MAX_UNTRACKED_FILE_BYTES` per file and :data:`MAX_UNTRACKED_BYTES` in all; binaries
and files over the bounds by their git blob hash only).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from ..redaction import Scrubber

MAX_DIFF_BYTES = 10 * 1024 * 1024
MAX_UNTRACKED_BYTES = 5 * 1024 * 1024
"""Untracked text, in all, taken into the diff; further files are listed by hash."""
MAX_UNTRACKED_FILE_BYTES = 1024 * 1024
"""One untracked file larger than this is listed by hash, not included."""
MAX_HASHED_BYTES = 256 * 1024 * 1024
"""Untracked files read, in all (to include or hash them); further ones are listed by size
only, as is any one file over this: ``init`` must not read a directory of checkpoints."""


@dataclass(frozen=True)
class GitState:
    commit: str
    branch: str
    remote: str
    dirty: bool
    """Tracked files changed, or untracked files not ignored."""
    diff: bytes
    """``git diff HEAD`` (staged and unstaged changes to tracked files) followed by the
    untracked files as new files, secrets replaced by REDACTED in place; empty when clean."""
    diff_truncated: bool
    redacted: int = 0
    """Secrets taken out of the remote URL and the diff."""
    toplevel: str = ""
    """The work tree's top directory: recorded paths under it map into a reproduction."""
    omitted: tuple[str, ...] = ()
    """Untracked files listed by hash or size only: a reproduction cannot rebuild them."""


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode(errors="replace").strip() if done.returncode == 0 else None


def entry_script() -> Path | None:
    """The user's entry script (``sys.argv[0]``, else ``__main__.__file__``), resolved; None
    in an interpreter, a notebook or under an installed launcher."""
    main = sys.modules.get("__main__")
    for entry in (sys.argv[0] if sys.argv else "", getattr(main, "__file__", None) or ""):
        if not entry or entry.startswith("-"):
            continue
        path = Path(entry)
        if not path.is_file():
            continue
        resolved = path.resolve()
        if not _is_launcher(resolved):
            return resolved
    return None


def code_directories() -> list[Path]:
    """Where to look for the run's repository: the entry script's directory, then the cwd."""
    script = entry_script()
    candidates = [script.parent] if script is not None else []
    candidates.append(Path.cwd())
    return list(dict.fromkeys(candidates))


def _is_launcher(script: Path) -> bool:
    """An installed entry point (a console script, ipykernel, pytest): not the user's code."""
    if "site-packages" in script.parts or "dist-packages" in script.parts:
        return True
    scripts = {Path(sys.prefix) / "bin", Path(sys.prefix) / "Scripts"}
    scripts.add(Path(sysconfig.get_path("scripts")))
    return script.parent in {directory.resolve() for directory in scripts}


def capture_run_code() -> GitState | None:
    """The state of the first repository found by :func:`code_directories`, or None."""
    for directory in code_directories():
        state = capture_git(directory)
        if state is not None:
            return state
    return None


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
    untracked, omitted = _untracked(cwd)
    truncated = len(diff) > MAX_DIFF_BYTES
    diff = diff[:MAX_DIFF_BYTES]
    if untracked:
        if diff and not diff.endswith(b"\n"):
            diff += b"\n"
        diff += untracked
    scrubber = Scrubber()
    return GitState(
        commit=commit,
        branch=_git(cwd, "rev-parse", "--abbrev-ref", "HEAD") or "",
        remote=scrubber.url(remote),
        dirty=bool(status) or bool(untracked),
        diff=scrubber.diff(diff),
        diff_truncated=truncated,
        redacted=scrubber.count,
        toplevel=_git(cwd, "rev-parse", "--show-toplevel") or "",
        omitted=tuple(omitted),
    )


def _diff(cwd: Path) -> bytes:
    try:
        done = subprocess.run(
            ["git", "diff", "HEAD", "--binary"], cwd=cwd, capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return b""
    return done.stdout if done.returncode == 0 else b""


def _untracked(cwd: Path) -> tuple[bytes, list[str]]:
    """The untracked, not ignored files as a patch of new files (``git apply`` takes it), and
    the names of those listed by hash or size only."""
    omitted: list[str] = []
    top = _git(cwd, "rev-parse", "--show-toplevel")
    if top is None:
        return b"", omitted
    try:
        done = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "-z"],
            cwd=top,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return b"", omitted
    if done.returncode != 0:
        return b"", omitted
    root = Path(top)
    budget = MAX_UNTRACKED_BYTES
    readable = MAX_HASHED_BYTES
    parts: list[bytes] = []
    for raw in sorted(name for name in done.stdout.split(b"\0") if name):
        name = raw.decode("utf-8", "surrogateescape")
        path = root / name
        try:
            if path.is_symlink() or not path.is_file():
                continue
            size = path.stat().st_size
            if size > readable:
                parts.append(_listed(raw, f"{size} bytes, over the bound on what is read"))
                omitted.append(name)
                continue
            content = path.read_bytes()
        except OSError:
            continue
        readable -= len(content)
        binary = b"\0" in content[:8000] or not _is_utf8(content)
        if binary or len(content) > MAX_UNTRACKED_FILE_BYTES or len(content) > budget:
            parts.append(_by_hash(raw, content))
            omitted.append(name)
            continue
        budget -= len(content)
        parts.append(_new_file(raw, content))
    return b"".join(parts), omitted


def _is_utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _blob_hash(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def _header(name: bytes, content: bytes) -> bytes:
    return b"diff --git a/%s b/%s\nnew file mode 100644\nindex 0000000..%s\n" % (
        name,
        name,
        _blob_hash(content)[:12].encode(),
    )


def _new_file(name: bytes, content: bytes) -> bytes:
    header = _header(name, content)
    if not content:
        return header
    lines = content.split(b"\n")
    ends_with_newline = content.endswith(b"\n")
    if ends_with_newline:
        lines.pop()
    body = b"".join(b"+" + line + b"\n" for line in lines)
    if not ends_with_newline:
        body += b"\\ No newline at end of file\n"
    return header + b"--- /dev/null\n+++ b/%s\n@@ -0,0 +1,%d @@\n%s" % (name, len(lines), body)


def _by_hash(name: bytes, content: bytes) -> bytes:
    """A file listed, not included: git's own form for a binary without ``--binary``."""
    return _header(name, content) + b"Binary files /dev/null and b/%s differ\n" % name


def _listed(name: bytes, why: str) -> bytes:
    return b"# runstream: untracked %s not included (%s)\n" % (name, why.encode())
