"""One owner per embedded store: our own lock, taken before chdb opens the directory.

chdb fails at once with a bare BAD_ARGUMENTS when a second process opens a store;
this lock turns that into a wait with a timeout and a message that says who holds
the store and, when it is a server, where to connect instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ..errors import StoreBusyError


class StoreLock:
    """An exclusive ``flock`` on ``<store>.lock`` plus a note on who holds it."""

    def __init__(self, store_dir: Path, purpose: str, url: str | None = None) -> None:
        self.path = store_dir.with_name(store_dir.name + ".lock")
        self.purpose = purpose
        self.url = url
        self._file: int | None = None

    def acquire(self, timeout: float, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock, waiting up to ``timeout`` seconds.

        When another process holds it, ``on_wait`` (default: a line on stderr) is told at
        once who holds it and how long we wait, so a busy store is never a silent pause.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and timeout > 0:
                    told = True
                    (on_wait or _to_stderr)(self._waiting_message(timeout))
                if time.monotonic() >= deadline:
                    os.close(descriptor)
                    raise StoreBusyError(self._busy_message(timeout)) from None
                time.sleep(0.05)
        self._file = descriptor
        self._write_holder()

    def release(self) -> None:
        if self._file is not None:
            os.ftruncate(self._file, 0)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            os.close(self._file)
            self._file = None

    def holder(self) -> dict[str, object]:
        """Who holds the lock, as its holder described itself (empty when unknown)."""
        try:
            return dict(json.loads(self.path.read_text() or "{}"))
        except (OSError, ValueError):
            return {}

    def _write_holder(self) -> None:
        assert self._file is not None
        note = {
            "pid": os.getpid(),
            "purpose": self.purpose,
            "since": time.time(),
            "command": " ".join(sys.argv)[:500],
        }
        if self.url:
            note["url"] = self.url
        os.ftruncate(self._file, 0)
        os.pwrite(self._file, json.dumps(note).encode(), 0)

    def _who(self) -> str:
        holder = self.holder()
        return f"process {holder.get('pid', '?')} ({holder.get('purpose', 'unknown use')})"

    def _waiting_message(self, timeout: float) -> str:
        store = self.path.with_suffix("")
        message = (
            f"runstream: the embedded store {store} is in use by {self._who()}; "
            f"waiting up to {timeout:g}s for it"
        )
        return self._with_url(message)

    def _with_url(self, message: str) -> str:
        holder = self.holder()
        if holder.get("url"):
            message += (
                f". It is served at {holder['url']}: set RUNSTREAM_CLICKHOUSE_URL="
                f"{holder['url']} to query it while it runs"
            )
        return message

    def _busy_message(self, timeout: float) -> str:
        store = self.path.with_suffix("")
        return self._with_url(
            f"the embedded store {store} is in use by {self._who()}; waited {timeout:.0f}s"
        )

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
