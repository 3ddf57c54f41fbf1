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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .envelopes import EnvelopeFactory, Payload
from .limits import MAX_POINTS_PER_BATCH
from .transport.base import Transport
from .wire import events_pb2 as pb

logger = logging.getLogger("runstream")

MetricEntry = tuple[str, int, int, Mapping[str, float]]
"""(split, step, time_unix_nano, values) as queued by ``log``."""


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
    max_pending_points: int = 2_000_000
    heartbeat_interval: float = 10.0
    system_interval: float | None = 15.0
    """Seconds between system samples; None disables the sampler."""


class _MetricColumns:
    """Columns of one MetricBatch under construction."""

    def __init__(self, split: str) -> None:
        self.split = split
        self.keys: list[str] = []
        self.key_ids: dict[str, int] = {}
        self.shapes: dict[tuple[str, ...], list[int]] = {}
        self.key_index: list[int] = []
        self.steps: list[int] = []
        self.values: list[float] = []
        self.times: list[int] = []

    def add(self, step: int, time_ns: int, values: Mapping[str, float]) -> None:
        shape = tuple(values)
        indexes = self.shapes.get(shape)
        if indexes is None:
            indexes = [self._key_id(key) for key in shape]
            self.shapes[shape] = indexes
        count = len(indexes)
        self.key_index.extend(indexes)
        self.values.extend(values.values())
        self.steps.extend([step] * count)
        self.times.extend([time_ns] * count)

    def _key_id(self, key: str) -> int:
        index = self.key_ids.get(key)
        if index is None:
            index = self.key_ids[key] = len(self.keys)
            self.keys.append(key)
        return index

    def to_message(self) -> pb.MetricBatch:
        return pb.MetricBatch(
            split=self.split,
            keys=self.keys,
            key_index=self.key_index,
            steps=self.steps,
            values=self.values,
            time_unix_nano=self.times,
        )


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
        self._metrics: collections.deque[MetricEntry] = collections.deque()
        self._payloads: collections.deque[Payload] = collections.deque()
        # Each counter has one writing thread, so no lock is needed: pending = queued - drained.
        self._queued_points = 0
        self._drained_points = 0
        self._dropped_points = 0
        self._retry: list[pb.Envelope] = []
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runstream-recorder", daemon=True)
        self._next_heartbeat = 0.0
        self._next_system = 0.0

    def start(self) -> None:
        self._thread.start()

    def add_metrics(self, split: str, step: int, values: Mapping[str, float]) -> None:
        """Queue one ``log`` call; never blocks. Called from the training thread."""
        count = len(values)
        if self._queued_points - self._drained_points + count > self._options.max_pending_points:
            self._dropped_points += count
            return
        self._queued_points += count
        self._metrics.append((split, step, time.time_ns(), values))

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
        if self._retry:
            lost["events not written to the spool"] += len(self._retry)
            self._retry = []
        final.nonfinite_values = self.counters.nonfinite_values
        for reason, count in lost.items():
            final.not_recorded[reason] = count
        self._publish([self._factory.wrap(final)], 0)
        if self._retry:
            lost["run finished event not written to the spool"] += 1
        for reason, count in self._transport.close(max(timeout, 1.0)).items():
            lost[reason] += count
        return dict(lost)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._options.flush_interval)
            self._wake.clear()
            self._periodic()
            self._drain()

    def _periodic(self) -> None:
        now = time.monotonic()
        if now >= self._next_heartbeat:
            interval = self._options.heartbeat_interval
            self._payloads.append(pb.Heartbeat(interval_ms=int(interval * 1000)))
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
        envelopes = self._retry
        self._retry = []
        while self._payloads:  # first: RunStarted must precede the run's metrics
            envelopes.append(self._factory.wrap(self._payloads.popleft()))
        points = 0
        for batch in self._metric_batches():
            points += len(batch.values)
            envelopes.append(self._factory.wrap(batch))
        if envelopes:
            self._publish(envelopes, points)

    def _publish(self, envelopes: list[pb.Envelope], points: int) -> None:
        try:
            self._transport.publish(envelopes)
        except Exception as exc:
            logger.warning(
                "runstream: could not write %d events, will retry: %s", len(envelopes), exc
            )
            self._retry = envelopes
            return
        self.counters.events_published += len(envelopes)
        self.counters.points_published += points

    def _metric_batches(self) -> list[pb.MetricBatch]:
        columns: dict[str, _MetricColumns] = {}
        done: list[pb.MetricBatch] = []
        metrics = self._metrics
        while metrics:
            split, step, time_ns, values = metrics.popleft()
            self._drained_points += len(values)
            self.counters.points_queued += len(values)
            if not all(map(math.isfinite, values.values())):
                self._count_nonfinite(values)
            batch = columns.get(split)
            if batch is None:
                batch = columns[split] = _MetricColumns(split)
            batch.add(step, time_ns, values)
            if len(batch.values) >= MAX_POINTS_PER_BATCH:
                done.append(columns.pop(split).to_message())
        done.extend(batch.to_message() for batch in columns.values())
        return done

    def _count_nonfinite(self, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            if not math.isfinite(value):
                self.counters.nonfinite_values += 1
                self.counters.nonfinite_keys.add(key)
