"""One warning per Kafka outage, not one error line per reconnect attempt.

While the broker is away, aiokafka (faust's consumer and producer), kafka-python (the
journal) and our own retry loops log every failed attempt: a 150 s outage once wrote
12,830 ERROR lines. :class:`OutageLog` is a logging filter on the root logger's handlers
that lets the first such line through (so the first error stays visible, as it was),
counts the rest, logs a reminder with the count every ``remind_s`` and, once no attempt
has failed for ``quiet_s`` (or :meth:`OutageLog.recovered` is called after a success),
one line saying how long it lasted::

    Kafka unreachable since 12:00:03: <the first error> (further errors are counted ...)
    Kafka unreachable since 12:00:03 (37 failed attempts so far)
    Kafka back after 150 s, 412 failed attempts

Which records count: WARNING and above from the Kafka clients' loggers (``aiokafka``,
``kafka``, ``faust.transport``) and records logged with ``extra=OUTAGE`` (ours).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

logger = logging.getLogger("runstream.worker")

OUTAGE = {"runstream_outage": True}
"""``extra=`` for our own lines about a failed Kafka attempt (they are aggregated too)."""

_CLIENT_LOGGERS = ("aiokafka", "kafka", "faust.transport")
_DECIDED = "_runstream_outage_decision"


def _is_client_logger(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in _CLIENT_LOGGERS)


class OutageLog(logging.Filter):
    """Aggregates the lines of one outage; thread-safe (records come from several threads)."""

    def __init__(
        self,
        quiet_s: float = 10.0,
        remind_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger = logger,
    ) -> None:
        super().__init__()
        self._log = log
        self.quiet_s = quiet_s
        self.remind_s = remind_s
        self._clock = clock
        self._lock = threading.Lock()
        self._began: float | None = None
        self._since = ""
        self._attempts = 0
        self._last_failure = 0.0
        self._last_reminder = 0.0

    @property
    def in_outage(self) -> bool:
        return self._began is not None

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, _DECIDED, None)
        if decided is not None:  # the same record seen by another handler
            return bool(decided)
        if not self._counts(record):
            return True
        with self._lock:
            keep = self._failed(record)
        setattr(record, _DECIDED, keep)
        return keep

    def tick(self) -> None:
        """Call now and then (the stats timer): ends an outage after ``quiet_s`` of quiet."""
        with self._lock:
            if self._began is None or self._clock() - self._last_failure < self.quiet_s:
                return
            began, attempts = self._began, self._attempts
            self._began = None
        self._log_back(began, attempts)

    def recovered(self) -> None:
        """A Kafka request just succeeded: an outage in progress is over."""
        if self._began is None:
            return
        with self._lock:
            if self._began is None:
                return
            began, attempts = self._began, self._attempts
            self._began = None
        self._log_back(began, attempts)

    def _counts(self, record: logging.LogRecord) -> bool:
        if getattr(record, "runstream_outage", False):
            return True
        return record.levelno >= logging.WARNING and _is_client_logger(record.name)

    def _failed(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        self._last_failure = now
        if self._began is None:
            self._began = self._last_reminder = now
            self._since = datetime.now().strftime("%H:%M:%S")
            self._attempts = 1
            first = record.getMessage()
            record.msg = "Kafka unreachable since %s: %s (further errors are counted, not logged)"
            record.args = (self._since, first)
            return True
        self._attempts += 1
        if now - self._last_reminder < self.remind_s:
            return False
        self._last_reminder = now
        last = record.getMessage()
        record.msg = "Kafka unreachable since %s (%d failed attempts so far); last error: %s"
        record.args = (self._since, self._attempts, last)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True

    def _log_back(self, began: float, attempts: int) -> None:
        self._log.warning(
            "Kafka back after %.0f s, %d failed attempts", self._clock() - began, attempts
        )


def install(outage: OutageLog, root: logging.Logger | None = None) -> None:
    """Put ``outage`` on every handler of the root logger (once per handler)."""
    for handler in (root or logging.getLogger()).handlers:
        if outage not in handler.filters:
            handler.addFilter(outage)
