"""Work the store's owner does besides answering: take in the local spool while it serves.

Embedded-mode runs write to the spool; while ``runstream store serve`` owns the store,
no CLI call can take it in, so the server does, every ``interval`` seconds, on its own
clickhouse-connect client (chdb in this process, the same code path as the CLI). It is
a chdb_http background task: started once the port is open, stopped once requests in
flight have finished and before the store closes.
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


class SpoolIngester:
    """Calls ``ingest_spool`` every ``interval`` seconds, on its own thread, until stopped."""

    def __init__(self, spool_dir: Path, interval: float, stop_timeout: float = 30.0) -> None:
        self.spool_dir = spool_dir
        self.interval = interval
        self.stop_timeout = stop_timeout
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: tuple[str, float] | None = None

    def start(self, dsn: str) -> None:
        """Start taking in the spool through the store at ``dsn``."""
        self._thread = threading.Thread(
            target=self._loop, args=(dsn,), name="runstream-spool-ingest", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end and wait for the take in progress to finish."""
        self._halt.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(self.stop_timeout)

    def _loop(self, dsn: str) -> None:
        from .connection import get_client

        client: Any = get_client(dsn)
        try:
            while not self._halt.is_set():
                self.take(client)
                self._halt.wait(self.interval)
        finally:
            client.close()

    def take(self, client: Any) -> None:
        """One take of the spool; failures are logged (once a minute per message), never raised."""
        from ..alerts.status import check_statuses
        from ..alerts.webhook import notifier_for
        from ..ingest.spool import SOURCE, ingest_spool

        try:
            report = ingest_spool(client, self.spool_dir, lock_wait=LOCK_WAIT_S)
        except Exception as exc:  # the loop must outlive a bad take: the next one retries
            self._warn(f"taking in the spool {self.spool_dir} failed: {exc}")
            return
        self._last_error = None
        check_statuses(client, SOURCE, notifier_for())
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
