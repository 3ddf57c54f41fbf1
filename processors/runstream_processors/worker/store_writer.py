"""The worker's blocking half: a chunk of Kafka records through the ingest core to the store.

Runs on one dedicated thread (the sink and chdb's client are not thread-safe, and
the faust event loop must keep heartbeating while an insert takes a second).

What fails how is the ingest core's policy (``ingest/core.py``), the same as embedded
mode's: invalid bytes and events the store refuses become dead letters; a
TransientError (store or journal unreachable, or the store refusing a whole chunk)
makes this writer wait with backoff and try the same chunk again, until it works or
the worker stops; nothing is acknowledged meanwhile.
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

from runstream.backoff import Backoff
from runstream.metric_batch import encode
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb

from ..alerts.detector import AlertDetector
from ..analysis.refresh import BackgroundRefresh, refresh_importance
from ..errors import TransientError
from ..ingest.core import Incoming, IngestCore, Outcome
from ..ingest.pending import mark_caught_up
from ..kinds import REGISTRY
from ..sinks.base import DeadLetter
from ..sinks.clickhouse import ClickHouseSink
from ..store.connection import open_store
from .journal import Journal, JournalError
from .outage import OUTAGE
from .records import Chunk, RawRecord

logger = logging.getLogger("runstream.worker")

SOURCE = "kafka"
T = TypeVar("T")


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
    finished_projects: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, outcome: Outcome[RawRecord]) -> ChunkOutcome:
        rejected = [Rejected(record, letter) for record, letter in outcome.dead]
        return cls(
            outcome.events,
            outcome.written,
            outcome.duplicates,
            outcome.points,
            rejected,
            outcome.finished_projects,
        )


class StoreWriter:
    """Owns the store for the worker's lifetime; every method runs on the store thread."""

    def __init__(self, settings: Settings, journal: Journal, stop: threading.Event) -> None:
        self._settings = settings
        self._journal = journal
        self._stop = stop
        self._stack = contextlib.ExitStack()
        self._core: IngestCore | None = None
        self._client: Any = None
        self._refresh: BackgroundRefresh | None = None

    def open(self) -> None:
        client = self._stack.enter_context(open_store(self._settings, "runstream worker"))
        self._client = client
        sink = ClickHouseSink(client)
        self._stack.callback(sink.close)
        alerts = AlertDetector.for_client(client, SOURCE, self._settings)
        self._core = IngestCore(sink, SOURCE, alerts)
        if self._settings.clickhouse_url:  # a server takes a second client; chdb would not
            self._refresh = BackgroundRefresh(
                lambda: open_store(self._settings, "runstream worker: importance", migrate=False)
            )
            self._stack.callback(self._refresh.close)
        _warm_up()
        with contextlib.suppress(TransientError):  # connect and find the coordinator now
            self._journal.last(0)

    def close(self) -> None:
        self._core = None
        self._client = None
        self._stack.close()
        self._journal.close()

    def mark_caught_up(self, source: str, at: float) -> None:
        """Tell the store this worker had taken in everything there was at ``at``."""
        if self._client is not None:
            mark_caught_up(self._client, source, at)

    def last_chunk(self, partition: int) -> tuple[int, int] | None:
        return self._retrying(lambda: self._journal.last(partition))

    def read_chunk(self, partition: int, start: int, end: int) -> Chunk | None:
        """The journaled chunk as it was, or None when Kafka no longer holds all of it."""
        records = self._retrying(lambda: self._journal.read(partition, start, end))
        return Chunk(partition, tuple(records)) if records else None

    def write(self, chunks: Sequence[Chunk], journal: bool = True) -> list[ChunkOutcome]:
        """Write ``chunks`` in order, after noting them in the replay journal; then have the
        analyses of projects whose runs finished refreshed (``analysis/refresh.py``): on a
        thread of their own with a server, inline on an embedded store (one client only)."""
        if journal:
            self._retrying(lambda: self._journal.record(chunks))
        outcomes = [self._retrying(functools.partial(self._write_chunk, chunk)) for chunk in chunks]
        finished = set().union(*(outcome.finished_projects for outcome in outcomes))
        if finished and self._refresh is not None:
            self._refresh.submit(finished)
        elif finished and self._client is not None:
            refresh_importance(self._client, finished)
        return outcomes

    def check_alerts(self) -> None:
        """Alerts for runs that stalled or crashed since the last check (time-driven rules)."""
        if self._core is not None:
            self._core.alerts.check_statuses()

    def _write_chunk(self, chunk: Chunk) -> ChunkOutcome:
        if self._core is None:
            raise RuntimeError("the store is not open")
        batch = [Incoming(record.value, record) for record in chunk.records]
        return ChunkOutcome.of(self._core.process(batch))

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """``attempt()`` until it succeeds; transient failures wait (Stopping ends the wait)."""
        backoff = Backoff(self._stop)
        failures = 0
        while True:
            try:
                return attempt()
            except JournalError as exc:  # Kafka away: one of the outage's counted lines
                failures += 1
                logger.warning(
                    "the replay journal in Kafka failed (attempt %d), retrying: %s",
                    failures,
                    exc,
                    extra=OUTAGE,
                )
                backoff.wait(exc)
            except TransientError as exc:
                failures += 1
                if failures == 1 or failures % 10 == 0:
                    logger.warning(
                        "store or Kafka unavailable (attempt %d), retrying: %s", failures, exc
                    )
                backoff.wait(exc)


def _warm_up() -> None:
    """Route one synthetic event (nothing is stored): pyarrow loads its compute kernels on
    first use, ~1.6 s here, which would otherwise stall the first real batch."""
    batch, _ = encode("", [(0, time.time_ns(), {"warm_up": 0.0})])
    envelope = pb.Envelope(
        event_id="0" * 32,
        project="warm-up",
        run_id="0" * 32,
        seq=1,
        time_unix_nano=time.time_ns(),
        metrics=batch,
    )
    try:
        REGISTRY.rows([envelope]).tables()
    except Exception:  # only an optimisation: the first batch pays instead
        logger.debug("warm-up failed", exc_info=True)
