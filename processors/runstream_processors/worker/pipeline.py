"""The agent's body: faust batches → per-partition chunks → the store thread → DLQ → acks.

Commit semantics, and why they hold:

* faust commits a partition's offset only up to the unbroken run of *acknowledged*
  records, and ``take_events`` acknowledges a batch when the agent asks for the next
  one — also when the agent is cancelled mid-batch (its ``finally``). So the
  pipeline takes one extra reference on every message of a batch before doing
  anything and releases it only after the store (and the DLQ topic) have the batch:
  a batch interrupted by a crash, a stop or an error is never acknowledged, hence
  never committed, hence consumed again.
* A replay must not change query results: chunks are per partition and announced in
  the replay journal first (journal.py), and after a (re)assignment the first
  journaled chunk is rebuilt exactly, so the sink's deduplication tokens match.
* Per-run order: a run is one key, hence one partition; chunks of a partition are
  written one after the other, in offset order, by a single store thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .dlq import DeadLetterTopic
from .outage import OutageLog
from .records import Chunk, RawRecord
from .stats import Stats
from .store_writer import ChunkOutcome, StoreWriter

logger = logging.getLogger("runstream.worker")

T = TypeVar("T")


@dataclass
class _Partition:
    generation: int
    written_through: int
    """Offsets below this are in the store (their events need not be written again)."""
    replay: tuple[int, int] | None = None
    """The journaled chunk ``[start, end)`` to rebuild once the stream reaches it."""


class Pipeline:
    """One per worker process; ``handle`` is called by the single agent, one batch at a time."""

    def __init__(self, writer: StoreWriter, stop: threading.Event) -> None:
        self.stats = Stats(lag=self.lag)
        self.outage = OutageLog()
        """Aggregates the log lines of a Kafka outage (app.py installs it on the handlers)."""
        self.failure: BaseException | None = None
        """An unexpected error that ended the worker (its exit status is then 1)."""
        self._writer = writer
        self._stop = stop
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="runstream-store"
        )
        self._partitions: dict[int, _Partition] = {}
        self._highwater: Callable[[int], int | None] = lambda partition: None
        self._dlq: DeadLetterTopic | None = None

    def open(self) -> None:
        """Open the store on its thread, before the worker joins the group (fails fast)."""
        self._executor.submit(self._writer.open).result()

    def attach(self, dlq: DeadLetterTopic, highwater: Callable[[int], int | None]) -> None:
        self._dlq = dlq
        self._highwater = highwater

    def close(self) -> None:
        """Stop retries, let a write in progress finish, close the store."""
        self._stop.set()
        self._executor.submit(self._writer.close).result()
        self._executor.shutdown(wait=True)

    async def handle(self, events: Sequence[Any]) -> None:
        """Store one batch of faust events; acknowledged only once stored."""
        for event in events:
            event.message.incref()  # our hold: see the module docstring
        try:
            chunks = await self._chunks(events)
            if chunks:
                await self._store(chunks, journal=True)
        except asyncio.CancelledError:
            self._stop.set()  # the worker is stopping: end retries in the store thread
            raise
        for event in events:
            event.ack()
        self.outage.recovered()  # records arrived: the broker answers

    async def check_alerts(self) -> None:
        """Run the time-driven alert rules (stalled, crashed) on the store thread."""
        with contextlib.suppress(RuntimeError):  # the store thread is shut down: stopping
            await self._run(self._writer.check_alerts)

    def lag(self) -> int:
        """Records of the assigned partitions seen so far that are not in the store yet."""
        total = 0
        for partition, state in self._partitions.items():
            highwater = self._highwater(partition)  # None: not assigned to us (any more)
            if highwater is not None:
                total += max(highwater - state.written_through, 0)
        return total

    def behind(self, highwaters: Mapping[int, int], positions: Mapping[int, int | None]) -> int:
        """Records of the partitions in ``highwaters`` (fresh from the broker) not in the store.

        A partition no batch came from yet counts from its fetch position (``positions``;
        None: unknown, so it is not caught up).
        """
        total = 0
        for partition, highwater in highwaters.items():
            state = self._partitions.get(partition)
            through = state.written_through if state is not None else positions.get(partition)
            total += highwater if through is None else max(highwater - through, 0)
        return total

    async def mark_caught_up(self, source: str, at: float) -> None:
        """Record in the store that this worker had taken in everything there was at ``at``."""
        await self._run(self._writer.mark_caught_up, source, at)

    async def _chunks(self, events: Sequence[Any]) -> list[Chunk]:
        """The batch as one chunk per partition, after any journaled chunk is rebuilt."""
        by_partition: dict[int, list[RawRecord]] = {}
        generations: dict[int, int] = {}
        for event in events:
            message = event.message
            records = by_partition.setdefault(message.partition, [])
            records.append(RawRecord(message.partition, message.offset, message.key, event.value))
            generations[message.partition] = message.generation_id or 0
        chunks = []
        for partition, records in by_partition.items():
            state = await self._partition(partition, generations[partition], records[0].offset)
            if state.replay is not None:
                await self._replay(state, records)
            fresh = tuple(r for r in records if r.offset >= state.written_through)
            if fresh and state.replay is None:
                chunks.append(Chunk(partition, fresh))
        return chunks

    async def _partition(self, partition: int, generation: int, first_offset: int) -> _Partition:
        """State of a partition; after each (re)assignment, look up its journaled chunk."""
        state = self._partitions.get(partition)
        if state is not None and state.generation == generation:
            return state
        state = self._partitions[partition] = _Partition(generation, first_offset)
        last = await self._run(self._writer.last_chunk, partition)
        if last is not None and first_offset <= last[0] < last[1]:
            state.replay = last
        return state

    async def _replay(self, state: _Partition, records: list[RawRecord]) -> None:
        """Write what precedes the journaled chunk, then the chunk exactly as it was.

        Records before it were stored by whoever journaled it (so writing them again is a
        no-op), unless the store was rebuilt since: writing them first keeps the run order.
        """
        assert state.replay is not None
        start, end = state.replay
        partition = records[0].partition
        before = tuple(r for r in records if state.written_through <= r.offset < start)
        if before:
            await self._store([Chunk(partition, before)], journal=False)
        if records[-1].offset < start - 1:
            return  # the stream has not reached the journaled chunk yet
        state.replay = None
        chunk = await self._run(self._writer.read_chunk, partition, start, end)
        if chunk is None:
            logger.warning(
                "partition %d: journaled chunk %d..%d is gone from Kafka; going on without it",
                partition,
                start,
                end - 1,
            )
            return
        logger.info(
            "partition %d: rewriting the journaled chunk %d..%d as it was",
            partition,
            start,
            end - 1,
        )
        await self._store([chunk], journal=False)

    async def _store(self, chunks: list[Chunk], journal: bool) -> None:
        began = time.monotonic()
        outcomes: list[ChunkOutcome] = await self._run(self._writer.write, chunks, journal)
        logger.debug(
            "stored %d records in %d chunks in %.3fs",
            sum(len(c.records) for c in chunks),
            len(chunks),
            time.monotonic() - began,
        )
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            if outcome.rejected and self._dlq is not None:
                await self._dlq.send(outcome.rejected)
            self._partitions[chunk.partition].written_through = chunk.end
            self.stats.totals.add(outcome)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)
