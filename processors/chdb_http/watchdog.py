"""A second line behind ``max_execution_time``: queries that outrun it are cancelled.

The engine checks a query's time limit between blocks, so work it cannot interrupt (a
``sleep`` in one block, one long block) may run past it. Once a second the watchdog
asks the engine to KILL every query still running well past its own
``max_execution_time`` (the limit each request's connection starts with, or the lower
one the request chose). In-process clients (``on_open``, background tasks) set no
limit and are never touched. A request whose query was cancelled this way after the
server's limit gets TIMEOUT_EXCEEDED (159), as if the engine had stopped it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("chdb_http")

KILL_OVERDUE = (
    "KILL QUERY WHERE Settings['max_execution_time'] != '' "
    "AND toFloat64OrZero(Settings['max_execution_time']) > 0 "
    "AND elapsed > toFloat64OrZero(Settings['max_execution_time']) * 1.05 + {grace:Float64} "
    "ASYNC"
)


class Watchdog:
    """Runs ``kill(KILL_OVERDUE, params)`` every ``interval`` seconds on its own thread."""

    def __init__(
        self,
        kill: Callable[[str, dict[str, str]], str],
        interval: float = 1.0,
        grace: float = 1.0,
    ) -> None:
        self._kill = kill
        self._interval = interval
        self._grace = grace
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chdb-http-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                killed = self._kill(KILL_OVERDUE, {"grace": f"{self._grace:g}"})
            except Exception as exc:  # the engine closing, say: try again next time
                log.debug("watchdog: %s", exc)
                continue
            for line in killed.splitlines():
                log.warning("watchdog: cancelled a query past its time limit: %s", line)
