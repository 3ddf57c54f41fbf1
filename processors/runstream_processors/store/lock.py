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

    def acquire(self, timeout: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
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

    def _busy_message(self, timeout: float) -> str:
        holder = self.holder()
        who = f"process {holder.get('pid', '?')} ({holder.get('purpose', 'unknown use')})"
        store = self.path.with_suffix("")
        message = f"the embedded store {store} is in use by {who}; waited {timeout:.0f}s"
        if holder.get("url"):
            message += (
                f". It is served at {holder['url']}: set RUNSTREAM_CLICKHOUSE_URL="
                f"{holder['url']} to query it while it runs"
            )
        return message

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
