"""Several worker processes in one consumer group, started and stopped together.

Python workers are CPU-bound on one core each (GIL), so ``--concurrency N`` means
N processes, each a full faust consumer with its own share of the partitions. The
supervisor forwards SIGTERM/SIGINT and, when one worker exits, stops the others
and exits with its status, so a process manager restarts the set.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from types import FrameType

_POLL_S = 0.5
_STOP_WAIT_S = 15.0  # a worker exits within app.STOP_DEADLINE_S of SIGTERM


def supervise(commands: Sequence[Sequence[str]]) -> int:
    """Run ``commands`` as child processes until one exits or a signal arrives."""
    children = [subprocess.Popen(list(command)) for command in commands]
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(_POLL_S)
        return _stop_all(children)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_all(children: list[subprocess.Popen[bytes]]) -> int:
    first_exit = next((child.returncode for child in children if child.returncode), 0)
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + _STOP_WAIT_S
    for child in children:
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return first_exit
