"""The replay journal: which offsets the chunk being written covers, kept in Kafka.

Why: the sink makes a replayed batch harmless only if it is the *same* batch. Its
insert deduplication tokens are derived from the batch's event ids, and a worker
killed between two table inserts leaves some tables written and ``events_seen`` not.
If the replay regrouped those events differently, the tokens would differ and the
written tables would get the rows twice. So before writing a chunk the worker records
``(partition, start, end)`` here, and after a crash whoever owns the partition next
rebuilds exactly that chunk (reading it directly when the stream delivers it in
pieces), so every insert deduplicates.

Where: as the committed offset and metadata of a consumer group of its own
(``<group>.journal``) that has no members. Kafka accepts such "standalone" commits,
keeps them durable and replicated, and any worker on any host can read them; the
worker's real group and faust's own commits are left alone. Kafka drops a topic's
committed offsets with the topic, so a recreated topic starts with an empty journal.

Measured (tests/faults/test_worker_outages.py, merges stopped): a worker
SIGKILLed between two inserts of a chunk and restarted with another batch size left
40,000 duplicate metric rows without the journal, none with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..errors import TransientError
from .records import Chunk, RawRecord

_PREFIX = "runstream-chunk-v1:"


class JournalError(TransientError):
    """Kafka did not answer a journal request; retrying may help."""


class Journal:
    """Record and read chunk boundaries; blocking, used from the store thread only."""

    def __init__(self, bootstrap: str, group: str, topic: str, timeout_s: float = 30.0) -> None:
        self._bootstrap = bootstrap
        self._group = f"{group}.journal"
        self._topic = topic
        self._timeout_ms = int(timeout_s * 1000)
        self._consumer: Any = None

    def record(self, chunks: Sequence[Chunk]) -> None:
        """Durably note the chunks about to be written (one request for all partitions)."""
        from kafka.structs import OffsetAndMetadata, TopicPartition

        offsets = {
            TopicPartition(self._topic, chunk.partition): OffsetAndMetadata(
                chunk.start, f"{_PREFIX}{chunk.end}", -1
            )
            for chunk in chunks
        }
        self._call(lambda consumer: consumer.commit(offsets, timeout_ms=self._timeout_ms))

    def last(self, partition: int) -> tuple[int, int] | None:
        """``(start, end)`` of the last chunk recorded for ``partition``, if any."""
        from kafka.structs import TopicPartition

        tp = TopicPartition(self._topic, partition)
        entry = self._call(
            lambda consumer: consumer.committed(tp, metadata=True, timeout_ms=self._timeout_ms)
        )
        if entry is None or entry.offset is None or not entry.metadata.startswith(_PREFIX):
            return None
        return int(entry.offset), int(entry.metadata[len(_PREFIX) :])

    def read(self, partition: int, start: int, end: int) -> list[RawRecord] | None:
        """The records of offsets ``[start, end)`` read straight from the partition.

        None when the partition no longer holds that range (retention deleted it, or the
        topic was recreated and the journal entry is stale): nothing to rebuild then.
        """
        from kafka.structs import TopicPartition

        tp = TopicPartition(self._topic, partition)
        records: list[RawRecord] = []
        deadline = time.monotonic() + self._timeout_ms / 1000

        def fetch(consumer: Any) -> bool | None:
            first = consumer.beginning_offsets([tp])[tp]
            last = consumer.end_offsets([tp])[tp]
            if start < first or end > last:
                return None
            consumer.assign([tp])
            consumer.seek(tp, start)
            try:
                while time.monotonic() < deadline:
                    for message in consumer.poll(timeout_ms=500).get(tp, []):
                        if start <= message.offset < end:
                            records.append(
                                RawRecord(partition, message.offset, message.key, message.value)
                            )
                    if consumer.position(tp) >= end:
                        return True
                return False
            finally:
                consumer.assign([])

        complete = self._call(fetch)
        if complete is None:
            return None
        if not complete:
            raise JournalError(
                f"could not read offsets {start}..{end - 1} of partition "
                f"{partition} in time (got {len(records)} records)"
            )
        return records

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close(autocommit=False)

    def _call(self, request: Any) -> Any:
        from kafka.errors import KafkaError

        try:
            return request(self._client())
        except KafkaError as exc:
            self.close()
            raise JournalError(f"the replay journal in Kafka did not answer: {exc}") from exc

    def _client(self) -> Any:
        if self._consumer is None:
            from kafka import KafkaConsumer

            self._consumer = KafkaConsumer(
                bootstrap_servers=self._bootstrap.split(","),
                group_id=self._group,
                client_id="runstream-worker-journal",
                enable_auto_commit=False,
                reconnect_backoff_max_ms=1000,
                request_timeout_ms=self._timeout_ms,
            )
        return self._consumer
