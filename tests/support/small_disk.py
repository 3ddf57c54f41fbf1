"""A real, tiny file system for disk-full tests, without root where the kernel allows it.

A tmpfs can be mounted by an unprivileged user inside a new user and mount namespace
(``unshare --user --map-root-user --mount``). The mount exists only for the command run
there, so the test runs its whole scenario as that command (a shell script or a Python
driver) and reads what it left outside the mount point afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import pytest

FILL = (
    'fill() { dd if=/dev/zero of="$1" bs=4k 2>/dev/null; '
    '[ "$(stat -c %s "$1")" -gt 0 ] || { echo "fill: nothing written" >&2; exit 97; }; }'
)
"""A shell function: ``fill FILE`` writes zeros into FILE until its file system is full."""


@cache
def unavailable() -> str | None:
    """Why a tmpfs cannot be mounted here (None when it can): the reason a test skips with."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "no `unshare` command (util-linux) to mount a tmpfs without root"
    try:
        done = subprocess.run(
            [unshare, "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`unshare -rm` failed to run: {error}"
    if done.returncode != 0:
        return (
            "cannot mount a tmpfs in a user namespace here "
            f"(`unshare -rm mount -t tmpfs` said: {done.stderr.strip() or done.returncode}); "
            "the kernel or the container forbids unprivileged user namespaces"
        )
    return None


def require() -> None:
    """Skip the calling test, with the precise reason, where no tmpfs can be mounted."""
    if (reason := unavailable()) is not None:
        pytest.skip(reason)


def run_on_small_disk(
    mount_point: Path,
    script: str,
    size: str = "1m",
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run shell ``script`` with a ``size`` tmpfs mounted on ``mount_point`` (created if
    needed; a directory that exists is hidden by the mount while the script runs).

    ``$FILL`` helpers (:data:`FILL`) are defined; ``"$@"`` is ``args``. The mount and all it
    holds are gone when the script ends: copy out what the test must read.
    """
    require()
    mount_point.mkdir(parents=True, exist_ok=True)
    body = f'mount -t tmpfs -o size={size} tmpfs "$MOUNT_POINT" || exit 98\n{FILL}\n{script}'
    environment = dict(env) if env is not None else None
    command = ["unshare", "-rm", "env", f"MOUNT_POINT={mount_point}", "sh", "-c", body, "sh"]
    with contextlib.suppress(subprocess.TimeoutExpired):
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=timeout, env=environment
        )
    pytest.fail(f"the small-disk scenario ran over {timeout:.0f}s")
