"""What an event kind is to the processors: its checks, its rows, the tables it declares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runstream.wire import events_pb2 as pb

from ..tables import Table, TableRows


def event_ids(envelope: pb.Envelope) -> dict[str, str]:
    """The columns that tie a row to its event: project, run_id, event_id."""
    return {"project": envelope.project, "run_id": envelope.run_id, "event_id": envelope.event_id}


def _no_interval(envelope: pb.Envelope) -> int:
    return 0


def _no_log(envelope: pb.Envelope) -> tuple[int, int]:
    return 0, 0


@dataclass(frozen=True)
class Kind:
    """One payload field of the Envelope and everything it means downstream."""

    field: str
    """The field of ``Envelope.payload`` (the oneof) this kind handles."""
    check: Callable[[pb.Envelope], None]
    """Raises InvalidEventError naming the problem; the envelope's own fields are checked."""
    rows: Callable[[pb.Envelope, TableRows], None]
    """Adds the event's rows (events_seen and liveness are added for every kind)."""
    tables: tuple[Table, ...] = ()
    """Tables this kind declares; each table is declared by exactly one kind."""
    heartbeat_interval_ms: Callable[[pb.Envelope], int] = _no_interval
    """The run's heartbeat interval when the event announces one (for liveness)."""
    log_activity: Callable[[pb.Envelope], tuple[int, int]] = _no_log
    """(time of the run's newest log() call in unix ns, log() calls so far) the event
    tells (0 for either when it tells nothing), for liveness (``stalled``)."""
