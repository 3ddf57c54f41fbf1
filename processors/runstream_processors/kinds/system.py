"""``system``: host and device resource samples (CPU, memory, GPU), one value per time and key."""

from __future__ import annotations

from runstream.wire import events_pb2 as pb

from ..tables import FLOAT64, STRING, TIMESTAMP, UINT32, Table, TableRows
from .base import Kind
from .checks import check_columns, check_keys

SYSTEM = Table(
    "system",
    {
        "project": STRING,
        "run_id": STRING,
        "hostname": STRING,
        "key": STRING,
        "time": TIMESTAMP,
        "value": FLOAT64,
        "event_id": STRING,
        "idx": UINT32,
        "rank": UINT32,
    },
)


def check(envelope: pb.Envelope) -> None:
    stats = envelope.system
    check_keys("system", stats.keys)
    check_columns("system", len(stats.keys), stats.key_index, stats.values, stats.time_unix_nano)


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    stats = envelope.system
    keys = list(stats.keys)
    out.extend(
        SYSTEM,
        envelope.event_id,
        len(stats.values),
        project=envelope.project,
        run_id=envelope.run_id,
        hostname=stats.hostname,
        key=[keys[i] for i in stats.key_index],
        time=list(stats.time_unix_nano),
        value=list(stats.values),
        rank=[envelope.rank] * len(stats.values),
    )


KIND = Kind(field="system", check=check, rows=rows, tables=(SYSTEM,))
