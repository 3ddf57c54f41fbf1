"""The time-driven rules: runs the ``runs`` view calls stalled or crashed, checked now and then.

Whoever takes events in asks: the CLI after each ingest in embedded mode, the Kafka worker
and ``runstream store serve`` on a timer. Light (no numpy, no Arrow): the CLI asks on every
call. Ids are deterministic, so asking again records nothing twice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from . import store
from .rules import Alert, status_alert

if TYPE_CHECKING:
    from .webhook import Notifier

logger = logging.getLogger("runstream.alerts")


def check_statuses(client: Any, source: str, notifier: Notifier | None = None) -> list[Alert]:
    """Record (and post) alerts for stalled and crashed runs; never raises."""
    try:
        alerts = [status_alert(*row) for row in store.status_rows(client)]
        return store.record(client, alerts, source, notifier)
    except Exception:
        logger.debug("checking run statuses for alerts failed", exc_info=True)
        return []
