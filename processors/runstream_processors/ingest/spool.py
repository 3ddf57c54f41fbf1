"""Embedded mode's source: take in the local spool, in bounded chunks, through the ingest core.

The checkpoint advances only after the store has a chunk (its events, or their dead
letters), so a crash replays the chunk, and the sink makes the replay harmless. A chunk
is at most ``CHUNK_BYTES`` of spool records, so memory stays flat whatever the spool
holds: a spool of millions of points is taken in chunk after chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runstream.spool import Checkpoint, ReadResult, SpoolReader, SpoolRecord, consumer_lock

from ..errors import CheckpointSaveError
from ..sinks.base import DeadLetter
from ..sinks.clickhouse import ClickHouseSink
from .core import Incoming, IngestCore, Outcome
from .pending import CONSUMER

SOURCE = "spool"
CHUNK_BYTES = 2 * 1024 * 1024
"""Spool bytes per chunk: ~160k metric points. The engine's insert holds ~1 KB of memory
per point of a chunk on top of the Arrow table, so the peak stays flat whatever the spool
holds; measured (benchmarks/cli), 4 MiB chunks were no faster and took ~100 MB more."""
CHUNK_RECORDS = 5_000


@dataclass
class IngestReport:
    events: int = 0
    duplicates: int = 0
    points: int = 0
    dead_letters: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    finished_projects: set[str] = field(default_factory=set)

    def add(self, outcome: Outcome[SpoolRecord], damage: list[DeadLetter]) -> None:
        self.events += outcome.written
        self.duplicates += outcome.duplicates
        self.points += outcome.points
        self.finished_projects |= outcome.finished_projects
        for letter in outcome.letters + damage:
            self.dead_letters += 1
            self.reasons[letter.reason] = self.reasons.get(letter.reason, 0) + 1


def ingest_spool(
    client: Any,
    spool_dir: Path,
    lock_wait: float = 30.0,
    on_progress: Callable[[int], None] | None = None,
    retention_s: float | None = None,
    refresh: bool = True,
) -> IngestReport:
    """Write every pending spool record to the store; ``on_progress`` gets bytes consumed.

    With ``retention_s``, segments fully taken in and older than that are deleted afterwards.
    With ``refresh``, the projects whose runs finished get their analyses (parameter
    importance) recomputed once everything is in.
    """
    report = IngestReport()
    if not spool_dir.exists():
        return report
    sink = ClickHouseSink(client)
    try:
        core = IngestCore(sink, SOURCE)
        reader = SpoolReader(spool_dir)
        with consumer_lock(spool_dir, CONSUMER, lock_wait):
            checkpoint = Checkpoint.load(spool_dir, CONSUMER)
            while True:
                chunk = reader.read(checkpoint, max_records=CHUNK_RECORDS, max_bytes=CHUNK_BYTES)
                if not chunk.records and not chunk.damage:
                    break
                _take(core, chunk, report)
                checkpoint.advance(chunk.records)
                checkpoint.skip(chunk.damage)
                _save(checkpoint, report)
                if on_progress is not None:
                    on_progress(sum(len(record.payload) for record in chunk.records))
            if retention_s is not None and reader.discard_consumed(checkpoint, retention_s):
                _save(checkpoint, report)
    finally:
        sink.close()
    if refresh and report.finished_projects:
        from ..analysis.refresh import refresh_importance

        refresh_importance(client, report.finished_projects)
    return report


def _save(checkpoint: Checkpoint, report: IngestReport) -> None:
    try:
        checkpoint.save()
    except OSError as error:
        raise CheckpointSaveError(
            f"cannot save the spool checkpoint {checkpoint.path} ({error.strerror or error}); "
            f"the {report.events} events taken in so far are in the store, and the next "
            "ingest resumes from the last saved checkpoint (replayed events are skipped): "
            "free some disk space and run it again"
        ) from error


def _take(core: IngestCore, chunk: ReadResult, report: IngestReport) -> None:
    outcome = core.process([Incoming(record.payload, record) for record in chunk.records])
    damage = [DeadLetter("spool_damage", item.describe(), b"", SOURCE) for item in chunk.damage]
    core.dead_letters(damage)
    report.add(outcome, damage)
