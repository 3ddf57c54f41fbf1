"""Throughput and lag, logged periodically so an operator sees the worker keep up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .store_writer import ChunkOutcome

logger = logging.getLogger("runstream.worker")


@dataclass
class Totals:
    records: int = 0
    written: int = 0
    duplicates: int = 0
    points: int = 0
    dead_letters: int = 0

    def add(self, outcome: ChunkOutcome) -> None:
        self.records += outcome.events
        self.written += outcome.written
        self.duplicates += outcome.duplicates
        self.points += outcome.points
        self.dead_letters += len(outcome.rejected)


@dataclass
class Stats:
    """Running totals; :meth:`report` logs the rates since the previous report."""

    lag: Callable[[], int | None] = lambda: None
    totals: Totals = field(default_factory=Totals)
    _last: Totals = field(default_factory=Totals)
    _last_at: float = field(default_factory=time.monotonic)

    def report(self) -> None:
        now = time.monotonic()
        seconds = max(now - self._last_at, 1e-9)
        current, last = self.totals, self._last
        lag = self.lag()
        logger.info(
            "%.0f records/s, %.0f metric points/s, %d new events, %d replayed, "
            "%d dead letters; lag %s records",
            (current.records - last.records) / seconds, (current.points - last.points) / seconds,
            current.written - last.written, current.duplicates - last.duplicates,
            current.dead_letters - last.dead_letters, "?" if lag is None else lag,
        )
        self._last = Totals(**vars(current))
        self._last_at = now
