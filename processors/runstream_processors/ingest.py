"""Embedded mode's processor: take in the spool, validate, write to the store.

The same validation and sink as the Kafka worker; only the source differs. The
checkpoint advances only after the store has the batch, so a crash replays it,
and the sink makes the replay harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runstream.spool import Checkpoint, ReadResult, SpoolReader, consumer_lock
from runstream.wire import events_pb2 as pb

from .errors import InvalidEventError
from .sinks.base import DeadLetter
from .sinks.clickhouse import ClickHouseSink
from .validation import parse

CONSUMER = "store"
SOURCE = "spool"


@dataclass
class IngestReport:
    events: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add_dead(self, letters: list[DeadLetter]) -> None:
        self.dead_letters += len(letters)
        for letter in letters:
            self.reasons[letter.reason] = self.reasons.get(letter.reason, 0) + 1


def pending_bytes(spool_dir: Path) -> int:
    """How much of the spool the store has not taken in yet."""
    return SpoolReader(spool_dir).pending_bytes(Checkpoint.load(spool_dir, CONSUMER))


def ingest_spool(
    client: Any,
    spool_dir: Path,
    lock_wait: float = 30.0,
    on_progress: Callable[[int], None] | None = None,
    retention_s: float | None = None,
) -> IngestReport:
    """Write every pending spool record to the store; ``on_progress`` gets bytes consumed.

    With ``retention_s``, segments fully taken in and older than that are deleted afterwards.
    """
    report = IngestReport()
    if not spool_dir.exists():
        return report
    sink = ClickHouseSink(client)
    reader = SpoolReader(spool_dir)
    with consumer_lock(spool_dir, CONSUMER, lock_wait):
        checkpoint = Checkpoint.load(spool_dir, CONSUMER)
        while True:
            batch = reader.read(checkpoint, max_records=5_000, max_bytes=8 * 1024 * 1024)
            if not batch.records and not batch.damage:
                if retention_s is not None and reader.discard_consumed(checkpoint, retention_s):
                    checkpoint.save()
                return report
            _write(sink, batch, report)
            checkpoint.advance(batch.records)
            checkpoint.skip(batch.damage)
            checkpoint.save()
            if on_progress is not None:
                on_progress(sum(len(record.payload) for record in batch.records))


def _write(sink: ClickHouseSink, batch: ReadResult, report: IngestReport) -> None:
    valid: list[tuple[pb.Envelope, bytes]] = []
    dead: list[DeadLetter] = []
    for record in batch.records:
        try:
            valid.append((parse(record.payload), record.payload))
        except InvalidEventError as exc:
            dead.append(DeadLetter(exc.reason, exc.detail, record.payload, SOURCE))
    for damage in batch.damage:
        dead.append(
            DeadLetter(
                "spool_damage",
                damage.describe(),
                b"",
                SOURCE,
            )
        )
    result = sink.write(valid, SOURCE)
    sink.write_dead_letters(dead)
    report.events += result.written
    report.duplicates += result.duplicates
    report.add_dead(dead + result.dead_letters)
