"""The ingest core: validate → write (bisecting a refused batch) → dead letters.

The embedded spool ingest and the Kafka worker differ only in where bytes come from
and how progress is acknowledged; both hand batches to :class:`IngestCore`, so an event
fails the same way on either path:

* bytes that do not validate: a dead letter with the reason, and the envelope's ids
  whenever it parses; no bytes at all (a Kafka tombstone, an empty record) are the dead
  letters ``tombstone`` and ``empty_record``;
* a valid event the store refuses: the batch is split in halves until the refused events
  are found; they become ``store_rejected`` dead letters and the rest is written, so one
  bad event never blocks what comes after it. Tables that took the whole batch before
  the refusal are not written again for its halves (no row is stored twice); a refused
  event may keep the rows such tables took;
* every event of a batch refused: the store, not the data, is at fault —
  :class:`StoreRefusedAllError`, a transient error, so the caller retries the batch;
* the store unreachable (a TransientError): raised as it is, nothing is dead-lettered.

An outcome also names the projects that got a RunFinished (``finished_projects``): the
caller refreshes what is computed from finished runs (``analysis/refresh.py``) once its
take is stored.
Whatever was stored then goes through the alert rules (``alerts/``), so both sources find
the same alerts; detection never fails a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from runstream.metric_batch import point_count
from runstream.wire import events_pb2 as pb

from ..alerts.detector import AlertDetector
from ..errors import InvalidEventError, StoreRefusedAllError, StoreRefusedError
from ..sinks.base import DeadLetter
from ..sinks.clickhouse import ClickHouseSink
from ..validation import envelope_ids, parse

logger = logging.getLogger("runstream.ingest")

Origin = TypeVar("Origin")
"""Where an event came from (a Kafka record, a spool record): handed back with its letter."""
_DETAIL_LIMIT = 2000


@dataclass(frozen=True)
class Incoming(Generic[Origin]):
    payload: bytes | None
    """The record's bytes; None for a Kafka tombstone (a record without a value)."""
    origin: Origin


@dataclass
class Outcome(Generic[Origin]):
    """What became of one batch."""

    events: int = 0
    written: int = 0
    duplicates: int = 0
    points: int = 0
    dead: list[tuple[Origin, DeadLetter]] = field(default_factory=list)
    finished_projects: set[str] = field(default_factory=set)
    """Projects with a RunFinished among the events stored: what analyses refresh for."""

    @property
    def letters(self) -> list[DeadLetter]:
        return [letter for _, letter in self.dead]


@dataclass(frozen=True)
class _Valid(Generic[Origin]):
    envelope: pb.Envelope
    payload: bytes
    incoming: Incoming[Origin]


class IngestCore:
    """One path from bytes to the store for every source; not thread-safe (one sink)."""

    def __init__(
        self, sink: ClickHouseSink, source: str, alerts: AlertDetector | None = None
    ) -> None:
        self.sink = sink
        self.source = source
        self.alerts = alerts or AlertDetector.for_client(sink.client, source)

    def process(self, batch: Sequence[Incoming[Origin]]) -> Outcome[Origin]:
        """Store what is valid, dead-letter the rest (in the store too); raises TransientError."""
        outcome: Outcome[Origin] = Outcome(events=len(batch))
        valid = [item for item in (self._validate(incoming, outcome) for incoming in batch) if item]
        self._write(valid, outcome)
        refused = sum(letter.reason == "store_rejected" for letter in outcome.letters)
        if len(valid) > 1 and refused == len(valid):
            raise StoreRefusedAllError(f"the store refused all {len(valid)} events of a batch")
        self.sink.write_dead_letters(outcome.letters)
        dead = {letter.event_id for letter in outcome.letters}
        outcome.finished_projects = {
            item.envelope.project
            for item in valid
            if item.envelope.HasField("run_finished") and item.envelope.event_id not in dead
        }
        self.alerts.observe(item.envelope for item in valid if item.envelope.event_id not in dead)
        outcome.points = sum(
            point_count(item.envelope.metrics)
            for item in valid
            if item.envelope.HasField("metrics")
        )
        return outcome

    def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Letters found outside any event (e.g. damaged spool bytes)."""
        self.sink.write_dead_letters(letters)

    def _validate(
        self, incoming: Incoming[Origin], outcome: Outcome[Origin]
    ) -> _Valid[Origin] | None:
        payload = incoming.payload
        if not payload:
            reason = "tombstone" if payload is None else "empty_record"
            detail = "a record without a value" if payload is None else "a record of 0 bytes"
            outcome.dead.append((incoming.origin, DeadLetter(reason, detail, b"", self.source)))
            return None
        try:
            return _Valid(parse(payload), payload, incoming)
        except InvalidEventError as exc:
            event_id, project, run_id = envelope_ids(payload)
            letter = DeadLetter(
                exc.reason,
                exc.detail[:_DETAIL_LIMIT],
                payload,
                self.source,
                event_id,
                project,
                run_id,
            )
            outcome.dead.append((incoming.origin, letter))
            return None

    def _write(
        self,
        valid: Sequence[_Valid[Origin]],
        outcome: Outcome[Origin],
        skip: frozenset[str] = frozenset(),
    ) -> None:
        if not valid:
            return
        events = [(item.envelope, item.payload) for item in valid]
        try:
            result = self.sink.write(events, self.source, skip)
        except StoreRefusedError as exc:  # something in this batch: find it by halves
            if len(valid) == 1:
                outcome.dead.append(self._store_rejected(valid[0], exc))
                return
            middle = len(valid) // 2
            self._write(valid[:middle], outcome, exc.written_tables)
            self._write(valid[middle:], outcome, exc.written_tables)
            return
        outcome.written += result.written
        outcome.duplicates += result.duplicates
        origins = {(item.envelope.event_id, item.payload): item for item in valid}
        outcome.dead.extend(
            (origins[letter.event_id, letter.payload].incoming.origin, letter)
            for letter in result.refused
        )

    def _store_rejected(
        self, item: _Valid[Origin], exc: StoreRefusedError
    ) -> tuple[Origin, DeadLetter]:
        envelope = item.envelope
        logger.error("the store refused event %s: %s", envelope.event_id, exc)
        letter = DeadLetter(
            "store_rejected",
            str(exc)[:_DETAIL_LIMIT],
            item.payload,
            self.source,
            envelope.event_id,
            envelope.project,
            envelope.run_id,
        )
        return item.incoming.origin, letter
