"""``heartbeat``: the process is alive; it only feeds liveness, which every event does.

A heartbeat also tells the time of the run's newest ``log()`` call and how many there
were (liveness ``last_log``, ``log_calls``: a hung main loop shows as ``stalled``)."""

from __future__ import annotations

from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError
from ..tables import TableRows
from .base import Kind

MAX_INTERVAL_MS = 24 * 3600 * 1000


def check(envelope: pb.Envelope) -> None:
    if envelope.heartbeat.last_log_unix_nano < 0:
        raise InvalidEventError("invalid_heartbeat", "heartbeat.last_log_unix_nano is negative")
    interval = envelope.heartbeat.interval_ms
    if not 0 < interval <= MAX_INTERVAL_MS:
        raise InvalidEventError(
            "invalid_heartbeat", f"heartbeat.interval_ms {interval} is not in 1..{MAX_INTERVAL_MS}"
        )


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    """Nothing beyond the liveness row every event gets."""


KIND = Kind(
    field="heartbeat",
    check=check,
    rows=rows,
    heartbeat_interval_ms=lambda envelope: envelope.heartbeat.interval_ms,
    log_activity=lambda envelope: (
        envelope.heartbeat.last_log_unix_nano,
        envelope.heartbeat.log_calls,
    ),
)
