"""What the worker hands between its stages: raw Kafka records and per-partition chunks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawRecord:
    """One Kafka record of the events topic, as consumed (value = envelope bytes)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    """The envelope's bytes; None for a tombstone (it becomes a dead letter)."""


@dataclass(frozen=True)
class Chunk:
    """Consecutive records of one partition, written to the store as one batch.

    A chunk is the unit of the replay journal (see journal.py): after a crash the same
    offsets form the same chunk again, so the store's insert deduplication tokens match.
    """

    partition: int
    records: tuple[RawRecord, ...]

    @property
    def start(self) -> int:
        return self.records[0].offset

    @property
    def end(self) -> int:
        """One past the last offset (Kafka's convention for committed positions)."""
        return self.records[-1].offset + 1
