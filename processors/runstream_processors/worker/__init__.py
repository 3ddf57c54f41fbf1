"""The Kafka worker: ``runstream.events.v1`` → validation → ClickHouse, invalid events → DLQ.

app.py           faust App and agent; ``run_worker`` runs one process; the stop deadline
pipeline.py      batches → per-partition chunks → store thread → DLQ → acks
store_writer.py  chunks through the ingest core (ingest/core.py), retries (blocking side)
journal.py       chunk boundaries kept in Kafka so replays rebuild identical chunks
dlq.py           dead letters to ``runstream.dlq.v1``, cut to fit the max request size
outage.py        one warning per Kafka outage instead of a line per reconnect
stats.py         throughput and lag in the log

The worker survives every record: bytes that are not a valid event (too big, a tombstone,
an empty record, the same event_id with other content) become dead letters, and SIGTERM
ends the process within ``app.STOP_DEADLINE_S`` whatever the broker is doing.
"""

from __future__ import annotations

from .app import WorkerError, run_worker
from .options import WorkerOptions

__all__ = ["WorkerError", "WorkerOptions", "run_worker"]
