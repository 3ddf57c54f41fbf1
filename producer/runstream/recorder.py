"""The background recorder: the only thread that builds events and touches the transport.

``Run.log`` hands a shallow copy of the user's dict to :meth:`Recorder.add_metrics`,
which appends to a deque and returns: no lock, no I/O, no allocation beyond the
tuple. Every ``flush_interval`` the recorder drains the deque into columnar
``MetricBatch`` events, adds whatever else was submitted (samples, artifacts,
summary), heartbeats and system samples when due, and publishes them to the
transport. Memory is bounded by ``max_pending_points``; what cannot be queued is
counted and reported at ``finish()``, never dropped silently.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TypeVar

from . import metric_batch
from .envelopes import EnvelopeFactory, Payload
from .limits import MAX_PAYLOAD_BYTES, MAX_POINTS_PER_BATCH
from .spool import FailureWarnings
from .transport.base import Transport
from .wire import events_pb2 as pb

logger = logging.getLogger("runstream")
T = TypeVar("T")

MetricEntry = tuple[int, int, Mapping[str, float]]
"""(step, time_unix_nano, values) as queued by ``log``, one queue per split."""


@dataclass
class RecorderCounters:
    """What happened to the points and events of a run; reported at finish."""

    points_queued: int = 0
    points_published: int = 0
    events_published: int = 0
    nonfinite_values: int = 0
    nonfinite_keys: set[str] = field(default_factory=set)
    not_recorded: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass(frozen=True)
class RecorderOptions:
    flush_interval: float = 0.2
    """Seconds between drains; batches reach the durable spool within about this long."""
    max_pending_points: int = 1_000_000
    """Points queued but not yet batched (about 70 bytes each); beyond it points are counted
    as dropped, never blocking training."""
    heartbeat_interval: float = 10.0
    system_interval: float | None = 15.0
    """Seconds between system samples; None disables the sampler."""


_MAX_ENCODED_POINTS = 4_000_000
"""Points encoded by the training thread and not yet written (~12 bytes each): ~50 MB."""


@dataclass(frozen=True)
class _Encoded:
    batches: list[pb.MetricBatch]
    points: int
    nonfinite: list[Mapping[str, float]]
    """The logged dicts that hold NaN or Inf (rare; counted by the recorder thread)."""
    rejected: int = 0
    """Values no float64 can hold (huge ints): left out and reported, never fatal."""


def _take_all(queue: collections.deque[T]) -> list[T]:
    """Pop what is queued now; safe while another thread pops too."""
    taken = []
    try:
        for _ in range(len(queue)):
            taken.append(queue.popleft())
    except IndexError:
        pass
    return taken


def _take_up_to(queue: collections.deque[MetricEntry], points: int) -> list[MetricEntry]:
    """Pop the oldest rows holding about ``points`` points; safe while another thread pops."""
    taken: list[MetricEntry] = []
    try:
        while points > 0:
            row = queue.popleft()
            taken.append(row)
            points -= len(row[2])
    except IndexError:
        pass
    return taken


def _encode(split: str, rows: list[MetricEntry]) -> _Encoded:
    """Packed MetricBatches of at most MAX_POINTS_PER_BATCH points each."""
    values = [row[2] for row in rows]
    per_batch = max(1, MAX_POINTS_PER_BATCH // max(map(len, values)))
    batches: list[pb.MetricBatch] = []
    nonfinite: list[Mapping[str, float]] = []
    points = rejected = 0
    for start in range(0, len(rows), per_batch):
        chunk = rows[start : start + per_batch]
        try:
            encoded = _fitting(split, chunk)
        except (OverflowError, TypeError, ValueError):  # e.g. an int beyond float64's range
            chunk, dropped = _storable(chunk)
            rejected += dropped
            encoded = _fitting(split, chunk) if chunk else []
        finite = True
        for batch, column in encoded:
            finite = finite and math.isfinite(sum(column))  # NaN and Inf propagate: one C pass
            points += len(column)
            batches.append(batch)
        if not finite:
            nonfinite.extend(v for v in values[start : start + per_batch] if not _finite(v))
    return _Encoded(batches, points, nonfinite, rejected)


def _fitting(split: str, rows: list[MetricEntry]) -> list[tuple[pb.MetricBatch, array[float]]]:
    """``rows`` as batches that each fit in an envelope: one, unless the keys are huge
    (thousands of long keys); then halved by rows, and a lone row by its keys."""
    batch, column = metric_batch.encode(split, rows)
    if batch.ByteSize() <= MAX_PAYLOAD_BYTES:
        return [(batch, column)]
    if len(rows) > 1:
        middle = len(rows) // 2
        return _fitting(split, rows[:middle]) + _fitting(split, rows[middle:])
    step, time_ns, values = rows[0]
    items = list(values.items())
    middle = len(items) // 2
    return _fitting(split, [(step, time_ns, dict(items[:middle]))]) + _fitting(
        split, [(step, time_ns, dict(items[middle:]))]
    )


def _storable(rows: list[MetricEntry]) -> tuple[list[MetricEntry], int]:
    """The rows with every value a float64 can hold; and how many values were left out."""
    kept: list[MetricEntry] = []
    dropped = 0
    for step, time_ns, values in rows:
        clean = {}
        for key, value in values.items():
            try:
                clean[key] = float(value)
            except (OverflowError, TypeError, ValueError):
                dropped += 1
        if clean:
            kept.append((step, time_ns, clean))
    return kept, dropped


def _points(rows: list[MetricEntry]) -> int:
    return sum(map(len, map(itemgetter(2), rows)))


def _finite(values: Mapping[str, float]) -> bool:
    return all(map(math.isfinite, values.values()))


class Recorder:
    """Owns the background thread; see the module docstring."""

    def __init__(
        self,
        factory: EnvelopeFactory,
        transport: Transport,
        options: RecorderOptions,
        system_sampler: Callable[[], pb.SystemStats | None] | None = None,
    ) -> None:
        self.counters = RecorderCounters()
        self._factory = factory
        self._transport = transport
        self._options = options
        self._system_sampler = system_sampler
        self._metrics: dict[str, collections.deque[MetricEntry]] = {}
        self._payloads: collections.deque[Payload] = collections.deque()
        # Each counter has one writing thread, so no lock is needed: pending = queued - drained.
        self._queued_points = 0
        self._drained_points = 0
        self._helped_points = 0
        self._helped_written = 0  # by the recorder thread: helped points taken for writing
        self._dropped_points = 0
        self._encoded: collections.deque[_Encoded] = collections.deque()
        self._retry: list[pb.Envelope] = []
        self._retry_points = 0
        self.write_failures = FailureWarnings("writing events to the spool")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runstream-recorder", daemon=True)
        self._next_heartbeat = 0.0
        self._next_system = 0.0
        # Written by the training thread only (add_metrics), read by heartbeats: for liveness.
        self._last_log_ns = 0
        self._log_calls = 0

    def start(self) -> None:
        self._thread.start()

    def add_metrics(self, split: str, step: int, values: Mapping[str, float]) -> None:
        """Queue one ``log`` call; never waits on I/O. Called from the training thread.

        When the queue is full (a loop that does nothing but log can outrun a thread
        sharing the GIL), this thread encodes the backlog itself: CPU work bounded by
        the queue size, so memory stays bounded and nothing is dropped unless the
        spool itself cannot keep up.
        """
        count = len(values)
        pending = self._queued_points - self._drained_points - self._helped_points
        if pending + count > self._options.max_pending_points and not self._help():
            self._dropped_points += count
            return
        self._queued_points += count
        queue = self._metrics.get(split)
        if queue is None:
            queue = self._metrics.setdefault(split, collections.deque())
        now = time.time_ns()
        self._last_log_ns = now
        self._log_calls += 1
        queue.append((step, now, values))

    def _help(self) -> bool:
        """Encode one batch worth of the oldest queued points on the calling thread.

        One batch per call keeps each such call to a few milliseconds; the following calls
        fill the room it made. False when the spool is behind, so the caller counts a drop.
        """
        backlog = self._helped_points - self._helped_written
        if backlog >= _MAX_ENCODED_POINTS or self._retry:
            return False  # the spool is behind or failing: count drops, hold no more
        for split, queue in list(self._metrics.items()):
            rows = _take_up_to(queue, MAX_POINTS_PER_BATCH)
            if rows:
                self._helped_points += _points(rows)  # before encoding: see _metric_batches
                self._encoded.append(_encode(split, rows))
                break
        self._wake.set()
        return True

    def submit(self, payload: Payload) -> None:
        """Queue any other payload (samples, artifact, summary, run started/finished)."""
        self._payloads.append(payload)
        if isinstance(payload, pb.RunStarted):
            self._wake.set()

    def close(self, timeout: float, final: pb.RunFinished) -> dict[str, int]:
        """Drain everything, publish ``final`` last, close the transport; returns what was lost."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        lost = self.counters.not_recorded
        if self._thread.is_alive():
            lost["events still queued at finish timeout"] += len(self._metrics) + len(
                self._payloads
            )
        else:
            self._drain()  # anything queued between the thread's last drain and its exit
        if self._dropped_points:
            lost["metric points dropped: queue full"] += self._dropped_points
        if self._retry:  # still failing: the retry and everything queued behind it is lost
            queued = sum(len(queue) for queue in self._metrics.values())
            lost["events not written to the spool"] += (
                len(self._retry) + len(self._payloads) + len(self._encoded) + queued
            )
            self._retry = []
        final.nonfinite_values = self.counters.nonfinite_values
        for reason, count in lost.items():
            final.not_recorded[reason] = count
        if not self._publish([self._factory.wrap(final)], 0):
            lost["run finished event not written to the spool"] += 1
        for reason, count in self._transport.close(max(timeout, 1.0)).items():
            lost[reason] += count
        return dict(lost)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._options.flush_interval)
            self._wake.clear()
            try:
                self._periodic()
                self._drain()
            except Exception:  # the recorder must outlive any bug: its death would lose data
                logger.exception("runstream: the recorder failed a cycle; it keeps going")
                self.counters.not_recorded["recorder errors"] += 1

    def _periodic(self) -> None:
        now = time.monotonic()
        if now >= self._next_heartbeat:
            interval = self._options.heartbeat_interval
            self._payloads.append(
                pb.Heartbeat(
                    interval_ms=int(interval * 1000),
                    last_log_unix_nano=self._last_log_ns,
                    log_calls=self._log_calls,
                )
            )
            self._next_heartbeat = now + interval
        if self._system_sampler and self._options.system_interval and now >= self._next_system:
            self._next_system = now + self._options.system_interval
            try:
                sample = self._system_sampler()
            except Exception:  # a broken sensor must never stop recording
                logger.exception("runstream: system stats sampling failed")
                self.counters.not_recorded["system samples failed"] += 1
            else:
                if sample is not None:
                    self._payloads.append(sample)

    def _drain(self) -> None:
        if self._retry:  # the spool failed last time: retry that alone, leave the rest queued
            # _retry stays set until the write succeeds: log() reads it to stop encoding
            # into memory (see _help), so it must never look empty during an outage.
            if not self._publish(self._retry, self._retry_points):
                return  # still failing: the bounded queues fill and log() counts drops
            self._retry = []
        envelopes: list[pb.Envelope] = []
        while self._payloads:  # first: RunStarted must precede the run's metrics
            envelopes.append(self._factory.wrap(self._payloads.popleft()))
        points = 0
        for batch in self._metric_batches():
            points += metric_batch.point_count(batch)
            envelopes.append(self._factory.wrap(batch))
        if envelopes:
            self._publish(envelopes, points)

    def _publish(self, envelopes: list[pb.Envelope], points: int) -> bool:
        """Write ``envelopes``; on failure keep them as the retry and return False."""
        try:
            self._transport.publish(envelopes)
        except Exception as exc:
            self.write_failures.failed(exc)  # rate-limited: a full disk fails every cycle
            self._retry = envelopes
            self._retry_points = points
            return False
        self.write_failures.succeeded()
        self.counters.events_published += len(envelopes)
        self.counters.points_published += points
        return True

    def _metric_batches(self) -> list[pb.MetricBatch]:
        encoded = _take_all(self._encoded)  # what the training thread encoded when the queue filled
        self._helped_written += sum(item.points + item.rejected for item in encoded)
        for split, queue in list(self._metrics.items()):  # list(): log() may add a split
            rows = _take_all(queue)
            if rows:
                # Counted as soon as taken, so log() does not see a full queue while we encode.
                self._drained_points += _points(rows)
                encoded.append(_encode(split, rows))
        batches = []
        for item in encoded:
            self.counters.points_queued += item.points
            if item.rejected:
                self.counters.not_recorded["metric values outside the float64 range"] += (
                    item.rejected
                )
            for entry in item.nonfinite:
                self._count_nonfinite(entry)
            batches.extend(item.batches)
        return batches

    def _count_nonfinite(self, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            if not math.isfinite(value):
                self.counters.nonfinite_values += 1
                self.counters.nonfinite_keys.add(key)
