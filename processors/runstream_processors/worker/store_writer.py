"""The worker's blocking half: validate a chunk, write it to the store, sort out what fails.

Runs on one dedicated thread (the sink and chdb's client are not thread-safe, and
the faust event loop must keep heartbeating while an insert takes a second).

Failure policy, decided by the error's class (errors.py):

* InvalidEventError from validation: a dead letter, never a retry.
* TransientError (store or journal unreachable): wait with backoff and try the same
  chunk again, until it works or the worker stops; nothing is acknowledged meanwhile.
* anything else from the sink: the chunk is split in halves to find the events the
  store refuses; those become ``store_rejected`` dead letters and the rest is written.
  When every event of a multi-event chunk fails, the store is at fault, not the data:
  that is retried like a transient error.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from runstream.metric_batch import encode, point_count
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError, TransientError
from ..rows import TableRows
from ..sinks.base import DeadLetter
from ..sinks.clickhouse import ClickHouseSink
from ..store.connection import open_store
from ..validation import parse
from .journal import Journal
from .records import Chunk, RawRecord
from .retry import Backoff

logger = logging.getLogger("runstream.worker")

SOURCE = "kafka"
T = TypeVar("T")
Valid = tuple[pb.Envelope, bytes, RawRecord]


@dataclass(frozen=True)
class Rejected:
    """A dead letter and the Kafka record it came from (for the DLQ topic's headers)."""

    record: RawRecord
    letter: DeadLetter


@dataclass
class ChunkOutcome:
    events: int = 0
    written: int = 0
    duplicates: int = 0
    points: int = 0
    rejected: list[Rejected] = field(default_factory=list)


class _StoreProblem(Exception):
    """Every event of a chunk failed: the store, not the data, is at fault."""


class StoreWriter:
    """Owns the store for the worker's lifetime; every method runs on the store thread."""

    def __init__(self, settings: Settings, journal: Journal, stop: threading.Event) -> None:
        self._settings = settings
        self._journal = journal
        self._stop = stop
        self._stack = contextlib.ExitStack()
        self._sink: ClickHouseSink | None = None

    def open(self) -> None:
        client = self._stack.enter_context(open_store(self._settings, "runstream worker"))
        self._sink = ClickHouseSink(client)
        _warm_up()
        with contextlib.suppress(TransientError):  # connect and find the coordinator now
            self._journal.last(0)

    def close(self) -> None:
        self._sink = None
        self._stack.close()
        self._journal.close()

    def last_chunk(self, partition: int) -> tuple[int, int] | None:
        return self._retrying(lambda: self._journal.last(partition))

    def read_chunk(self, partition: int, start: int, end: int) -> Chunk | None:
        """The journaled chunk as it was, or None when Kafka no longer holds all of it."""
        records = self._retrying(lambda: self._journal.read(partition, start, end))
        return Chunk(partition, tuple(records)) if records else None

    def write(self, chunks: Sequence[Chunk], journal: bool = True) -> list[ChunkOutcome]:
        """Write ``chunks`` in order, after noting them in the replay journal."""
        if journal:
            self._retrying(lambda: self._journal.record(chunks))
        return [self._retrying(functools.partial(self._write_chunk, chunk)) for chunk in chunks]

    # -- one chunk ---------------------------------------------------------------------

    def _write_chunk(self, chunk: Chunk) -> ChunkOutcome:
        valid, rejected = _validate(chunk.records)
        outcome = ChunkOutcome(events=len(chunk.records), rejected=rejected)
        self._write_valid(valid, outcome)
        refused = sum(item.letter.reason == "store_rejected" for item in outcome.rejected)
        if len(valid) > 1 and refused == len(valid):
            raise _StoreProblem("the store refused every event of the chunk")
        letters = [item.letter for item in outcome.rejected if item.letter.reason != "unknown_run"]
        self._sink_or_fail().write_dead_letters(letters)  # unknown_run: written by the sink
        outcome.points = sum(_points(envelope) for envelope, _, _ in valid)
        return outcome

    def _write_valid(self, valid: list[Valid], outcome: ChunkOutcome) -> None:
        if not valid:
            return
        try:
            result = self._sink_or_fail().write([(env, raw) for env, raw, _ in valid], SOURCE)
        except TransientError:
            raise
        except Exception as exc:
            if len(valid) == 1:
                outcome.rejected.append(_store_rejected(valid[0], exc))
                return
            middle = len(valid) // 2
            self._write_valid(valid[:middle], outcome)
            self._write_valid(valid[middle:], outcome)
            return
        outcome.written += result.written
        outcome.duplicates += result.duplicates
        by_id = {env.event_id: record for env, _, record in valid}
        outcome.rejected.extend(Rejected(by_id[letter.event_id], letter)
                                for letter in result.dead_letters)

    def _sink_or_fail(self) -> ClickHouseSink:
        if self._sink is None:
            raise RuntimeError("the store is not open")
        return self._sink

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """``attempt()`` until it succeeds; transient failures wait (Stopping ends the wait)."""
        backoff = Backoff(self._stop)
        failures = 0
        while True:
            try:
                return attempt()
            except (TransientError, _StoreProblem) as exc:
                failures += 1
                if failures == 1 or failures % 10 == 0:
                    logger.warning("store or Kafka unavailable (attempt %d), retrying: %s",
                                   failures, exc)
                backoff.wait()


def _validate(records: Sequence[RawRecord]) -> tuple[list[Valid], list[Rejected]]:
    valid: list[Valid] = []
    rejected: list[Rejected] = []
    for record in records:
        try:
            valid.append((parse(record.value), record.value, record))
        except InvalidEventError as exc:
            rejected.append(Rejected(record, _letter(exc.reason, exc.detail, record.value)))
    return valid, rejected


def _store_rejected(item: Valid, exc: Exception) -> Rejected:
    envelope, raw, record = item
    logger.error("the store refused event %s: %s", envelope.event_id, exc)
    letter = DeadLetter("store_rejected", f"{type(exc).__name__}: {exc}"[:2000], raw, SOURCE,
                        envelope.event_id, envelope.project, envelope.run_id)
    return Rejected(record, letter)


def _letter(reason: str, detail: str, raw: bytes) -> DeadLetter:
    """A dead letter with whatever ids can still be read from the bytes."""
    ids: Any = None
    with contextlib.suppress(Exception):
        ids = pb.Envelope.FromString(raw)
    if ids is None:
        return DeadLetter(reason, detail, raw, SOURCE)
    return DeadLetter(reason, detail, raw, SOURCE, ids.event_id, ids.project, ids.run_id)


def _points(envelope: pb.Envelope) -> int:
    return point_count(envelope.metrics) if envelope.HasField("metrics") else 0


def _warm_up() -> None:
    """Route one synthetic event (nothing is stored): pyarrow loads its compute kernels on
    first use, ~1.6 s here, which would otherwise stall the first real batch."""
    batch, _ = encode("", [(0, time.time_ns(), {"warm_up": 0.0})])
    envelope = pb.Envelope(event_id="0" * 32, project="warm-up", run_id="0" * 32, seq=1,
                           time_unix_nano=time.time_ns(), metrics=batch)
    try:
        rows = TableRows()
        rows.add([envelope])
        rows.tables()
    except Exception:  # only an optimisation: the first batch pays instead
        logger.debug("warm-up failed", exc_info=True)
