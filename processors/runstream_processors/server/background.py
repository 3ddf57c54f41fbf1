"""Work the owner does besides answering: take in the local spool while it serves.

Embedded-mode runs write to the spool; while the server owns the store, no CLI call
can take it in, so the server does, every ``interval`` seconds, on its own
clickhouse-connect client (chdb in this process, the same code path as the CLI).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("runstream.server.ingest")

LOCK_WAIT_S = 0.5
QUIET_AFTER_S = 60.0


class SpoolIngester(threading.Thread):
    """Calls ``ingest_spool`` every ``interval`` seconds until stopped."""

    def __init__(self, dsn: str, spool_dir: Path, interval: float) -> None:
        super().__init__(name="runstream-spool-ingest", daemon=True)
        self.dsn = dsn
        self.spool_dir = spool_dir
        self.interval = interval
        self._halt = threading.Event()
        self._last_error: tuple[str, float] | None = None

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to end and wait for the take in progress to finish."""
        self._halt.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        from ..store.connection import get_client

        client: Any = get_client(self.dsn)
        try:
            while not self._halt.is_set():
                self.take(client)
                self._halt.wait(self.interval)
        finally:
            client.close()

    def take(self, client: Any) -> None:
        """One take of the spool; failures are logged (once a minute per message), never raised."""
        from ..ingest import ingest_spool

        try:
            report = ingest_spool(client, self.spool_dir, lock_wait=LOCK_WAIT_S)
        except Exception as exc:  # the loop must outlive a bad take: the next one retries
            self._warn(f"taking in the spool {self.spool_dir} failed: {exc}")
            return
        self._last_error = None
        if report.events or report.dead_letters:
            log.info(
                "took in %d events from the spool (%d duplicates, %d dead letters)",
                report.events,
                report.duplicates,
                report.dead_letters,
            )

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if (
            self._last_error
            and self._last_error[0] == message
            and now - self._last_error[1] < QUIET_AFTER_S
        ):
            return
        self._last_error = (message, now)
        log.warning("%s", message)
