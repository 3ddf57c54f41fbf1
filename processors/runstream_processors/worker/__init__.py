"""The Kafka worker: ``runstream.events.v1`` → validation → ClickHouse, invalid events → DLQ.

    app.py           faust App and agent; ``run_worker`` runs one process
    pipeline.py      batches → per-partition chunks → store thread → DLQ → acks
    store_writer.py  chunks through the ingest core (ingest/core.py), retries (blocking side)
    journal.py       chunk boundaries kept in Kafka so replays rebuild identical chunks
    dlq.py           dead letters to ``runstream.dlq.v1``
    stats.py         throughput and lag in the log
"""

from __future__ import annotations

from .app import WorkerError, run_worker
from .options import WorkerOptions

__all__ = ["WorkerError", "WorkerOptions", "run_worker"]
