"""The worker's knobs, with the reasons for their defaults."""

from __future__ import annotations

from dataclasses import dataclass

from ..topics import DEFAULT_PARTITIONS, DLQ_TOPIC


@dataclass(frozen=True)
class WorkerOptions:
    group: str = "runstream-processors"
    """Consumer group (and faust app id): workers of one group share the partitions."""
    partitions: int = DEFAULT_PARTITIONS
    """Partitions of the events topic when this worker creates it."""
    dlq_topic: str = DLQ_TOPIC
    batch_size: int = 500
    """Most Kafka records per store write. A metric record holds up to 20k points, so
    throughput comes from big records; this bounds the memory of one batch."""
    batch_wait_s: float = 0.05
    """How long a partial batch waits for more records. faust starts this wait afresh after
    every store write, so it is paid once per write even when records are queued: keep it
    short; records that arrive during a write are batched anyway."""
    stats_interval_s: float = 10.0
    progress_interval_s: float = 2.0
    """How often a worker that has taken in everything up to the high watermarks of all its
    partitions says so in the store (``runstream.pipeline_progress``): a lone run whose
    heartbeat goes overdue then reads as crashed, not delayed. Under a second's worth of
    the shortest heartbeat timeout (3 intervals and a second) keeps the status prompt."""
    log_level: str = "info"
