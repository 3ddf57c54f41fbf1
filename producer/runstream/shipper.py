"""Ship spooled envelopes to Kafka, remembering how far the broker has acknowledged.

Why the spool sits in front of Kafka: kafka-python buffers
without a memory bound, and an idempotent producer whose batches expired during an
outage never sends again. So the shipper never trusts the producer's buffer:

* it reads records past the *sent* position in bounded chunks and keeps at most
  ``max_in_flight_bytes`` unacknowledged (memory stays bounded, whatever the outage);
* records are produced in spool order, key = run id, so a run's events keep their
  order in its partition (idempotence keeps retries in order too);
* the *acknowledged* position advances only over the unbroken prefix of records the
  broker acknowledged, and is saved in the checkpoint ``kafka`` of the spool;
* on any failure (timeout, broker gone, a batch expired) the producer is closed and
  recreated and everything after the acknowledged position is sent again: replays
  are harmless because the store dedupes by ``event_id``.

The producer is built by the thread that runs the shipper, never by the training
thread: building one while the broker is down blocks for its bootstrap timeout.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backoff import Backoff
from .errors import MissingExtraError, ServiceUnavailableError
from .spool import (
    MAGIC,
    Checkpoint,
    FailureWarnings,
    ReadResult,
    SegmentDamage,
    SpoolReader,
    SpoolRecord,
    segment_in_use,
)
from .wire import events_pb2 as pb

if TYPE_CHECKING:
    from .settings import Settings

logger = logging.getLogger("runstream")

CONSUMER = "kafka"
DAMAGE_LOG = f"{CONSUMER}-damage.jsonl"
"""In the spool's ``checkpoints`` folder: the damage shippers found and skipped, one JSON
line each, until ``runstream sync`` records it in the store as dead letters. A shipper
cannot reach the store itself, and the damage is skipped in the checkpoint once found,
so this file is what keeps it from being known only to a log."""
_FRAME_BYTES = 8  # <u32 length><u32 crc32> in front of every spool record


@dataclass(frozen=True)
class ShipperOptions:
    """Producer tuning; the defaults suit metric batches of up to a few hundred KiB."""

    compression: str | None = "gzip"
    """``gzip`` or None: lz4/zstd need packages the processors' consumer lacks."""
    linger_ms: int = 20
    batch_bytes: int = 512 * 1024
    max_in_flight_bytes: int = 16 * 1024 * 1024
    """Bytes sent but not yet acknowledged; the bound on what the shipper holds."""
    read_bytes: int = 4 * 1024 * 1024
    read_records: int = 5_000
    delivery_timeout_s: float = 30.0
    """How long a record may wait for its acknowledgement before the producer is rebuilt."""
    connect_timeout_s: float = 5.0
    checkpoint_interval_s: float = 0.2
    retry_backoff_max_s: float = 5.0
    """Longest wait between reconnection attempts (runstream.backoff.Backoff, from 0.25 s)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ShipperOptions:
        """The defaults, with the codec of ``RUNSTREAM_KAFKA_COMPRESSION`` (``Settings``)."""
        return cls(compression=settings.kafka_compression)

    def producer_config(self, bootstrap: str) -> dict[str, Any]:
        request_timeout_ms = int(min(self.delivery_timeout_s / 2, 10.0) * 1000)
        return {
            "bootstrap_servers": bootstrap.split(","),
            "client_id": "runstream-shipper",
            "enable_idempotence": True,
            "acks": "all",
            "compression_type": self.compression,
            "linger_ms": self.linger_ms,
            "batch_size": self.batch_bytes,
            "delivery_timeout_ms": int(self.delivery_timeout_s * 1000),
            "request_timeout_ms": request_timeout_ms,
            "max_block_ms": int(self.connect_timeout_s * 1000),
            "bootstrap_timeout_ms": int(self.connect_timeout_s * 1000),
            "reconnect_backoff_max_ms": 1000,
            "allow_auto_create_topics": False,
        }


@dataclass
class ShipperCounters:
    shipped: int = 0
    """Records acknowledged by the broker."""
    shipped_bytes: int = 0
    """Spool bytes (frames included) acknowledged, for progress bars."""
    too_large: int = 0
    """Records Kafka refused as too large; they stay in the spool only."""
    damaged_segments: set[str] = field(default_factory=set)
    resets: int = 0


class SharedCheckpoint:
    """The ``kafka`` checkpoint, shared by every shipper of one spool directory.

    Each training process ships its own segments and ``runstream sync`` ships the
    leftovers, all into one file. A save therefore merges under a lock with what is
    on disk: offsets only grow (``-1``, a segment given up, wins), so the merge is
    a plain maximum and no process can undo another's progress.
    """

    def __init__(self, spool_dir: Path) -> None:
        self.checkpoint = Checkpoint.load(spool_dir, CONSUMER)
        self._lock_path = self.checkpoint.path.with_name(f"{CONSUMER}.json.lock")

    @property
    def offsets(self) -> dict[str, int]:
        return self.checkpoint.offsets

    def save(self) -> None:
        """Merge with the file and replace it; entries of deleted segments are dropped."""
        spool_dir = self.checkpoint.path.parent.parent
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            on_disk = Checkpoint.load(spool_dir, CONSUMER)
            for name, offset in on_disk.offsets.items():
                self.offsets[name] = _merged(self.offsets.get(name, 0), offset)
            for name in [name for name in self.offsets if not (spool_dir / name).exists()]:
                del self.offsets[name]
            self.checkpoint.save()

    def discard_shipped(self, retention_s: float) -> list[str]:
        """Delete segments Kafka has fully acknowledged, once older than ``retention_s``."""
        deleted = SpoolReader(self.checkpoint.path.parent.parent).discard_consumed(
            self.checkpoint, retention_s
        )
        if deleted:
            self.save()
        return deleted


def _merged(mine: int, theirs: int) -> int:
    return -1 if -1 in (mine, theirs) else max(mine, theirs)


class FilteredReader(SpoolReader):
    """A spool reader that sees only the segments ``selects`` accepts (by file name)."""

    def __init__(self, directory: Path, selects: Callable[[Path], bool]) -> None:
        super().__init__(directory)
        self._selects = selects

    def segments(self) -> list[Path]:
        return [path for path in super().segments() if self._selects(path)]


@dataclass
class _InFlight:
    """A record sent (or skipped), or the damage that ends a segment, in spool order."""

    sent_at: float
    record: SpoolRecord | None = None
    future: Any | None = None
    """A kafka-python FutureRecordMetadata; None for a record skipped as too large."""
    damage: SegmentDamage | None = None

    @property
    def size(self) -> int:
        return len(self.record.payload) if self.record is not None else 0


class Shipper:
    """Produces the selected spool segments to Kafka; drive it with :meth:`step`.

    Not thread-safe: one thread calls ``step``; ``wake`` may be set from anywhere.
    """

    def __init__(
        self,
        spool_dir: Path,
        bootstrap: str,
        topic: str,
        selects: Callable[[Path], bool],
        options: ShipperOptions,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.counters = ShipperCounters()
        self._damage_logged: set[tuple[str, int]] = set()
        self._bootstrap = bootstrap
        self._topic = topic
        self._options = options
        self._wake = wake
        self._spool_dir = spool_dir
        self._reader = FilteredReader(spool_dir, selects)
        self._acked = SharedCheckpoint(spool_dir)
        self._sent = self._copy_of_acked()
        self._in_flight: collections.deque[_InFlight] = collections.deque()
        self._in_flight_bytes = 0
        self._producer: Any = None
        self._retry_at = 0.0
        self._backoff = Backoff(
            first_s=min(0.25, options.retry_backoff_max_s), max_s=options.retry_backoff_max_s
        )
        self._dirty_since: float | None = None
        self._save_failures = FailureWarnings("saving the Kafka shipping checkpoint")
        self.damage: list[SegmentDamage] = []
        """Damage found in the spool, once each, in the order found (``runstream sync``
        reports it and writes it to the store as dead letters)."""
        self._exhausted = False
        self._unreachable_logged = False

    @property
    def idle(self) -> bool:
        """Nothing in flight and the last read found nothing new."""
        return self._exhausted and not self._in_flight

    def pending_bytes(self) -> int:
        """Spool bytes (frames included) of the selected segments not yet acknowledged."""
        total = 0
        for path in self._reader.segments():
            done = self._acked.offsets.get(path.name, 0)
            if done >= 0:
                try:
                    size = path.stat().st_size
                except OSError:  # deleted meanwhile: nothing pending there
                    continue
                total += max(size - max(done, len(MAGIC)), 0)
        return total

    def step(self) -> bool:
        """Send what fits, collect acknowledgements; returns whether anything moved."""
        if self._producer is None and not self._connect():
            return False
        try:
            moved = self._fill()
            moved = self._collect() or moved
        except Exception as exc:  # broker, network or spool: resend from the acked position
            self._reset(exc)
            return False
        try:
            self._save_if_due()
        except OSError as exc:  # a full disk: the acks stay in memory, saved when it has room
            self._save_failures.failed(exc)
        else:
            if self._dirty_since is None:
                self._save_failures.succeeded()
        return moved

    def discard_shipped(self, retention_s: float) -> None:
        """Delete old segments Kafka has all of (any writer's); a failure only logs."""
        try:
            deleted = self._acked.discard_shipped(retention_s)
        except OSError as exc:
            logger.warning("runstream: could not clean up shipped spool segments: %s", exc)
            return
        if deleted:
            logger.info(
                "runstream: deleted %d shipped spool segments older than %.0f h",
                len(deleted),
                retention_s / 3600,
            )

    def flush_checkpoint(self) -> None:
        if self._dirty_since is not None:
            self._acked.save()
            self._dirty_since = None

    def close(self, timeout: float = 0.0) -> None:
        """Close the producer (records it still holds stay in the spool) and save progress.

        A checkpoint that cannot be saved (a full disk) only logs: the records after the
        last saved position are shipped again later, which the store deduplicates.
        """
        try:
            self.flush_checkpoint()
        except OSError as exc:
            self._save_failures.failed(exc)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                producer.close(timeout=timeout)
            except Exception:  # closing a broken producer must not hide the report
                logger.debug("runstream: closing the Kafka producer failed", exc_info=True)

    # -- sending ---------------------------------------------------------------------

    def _connect(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        try:
            from kafka import KafkaProducer
        except ImportError as exc:
            raise MissingExtraError("kafka-python", "kafka") from exc
        try:
            self._producer = KafkaProducer(**self._options.producer_config(self._bootstrap))
        except Exception as exc:
            unavailable = ServiceUnavailableError(f"cannot connect: {exc}")
            unavailable.__cause__ = exc
            self._schedule_retry(unavailable)
            return False
        if self._unreachable_logged:
            logger.warning(
                "runstream: Kafka at %s is reachable again; shipping the spool", self._bootstrap
            )
            self._unreachable_logged = False
        self._backoff.reset()
        return True

    def _fill(self) -> bool:
        sent_any = False
        self._exhausted = False
        while self._in_flight_bytes < self._options.max_in_flight_bytes:
            batch = self._reader.read(
                self._sent, self._options.read_records, self._options.read_bytes
            )
            if not batch.records and not batch.damage:
                self._exhausted = True
                break
            self._send_all(batch)
            sent_any = True
        return sent_any

    def _send_all(self, batch: ReadResult) -> None:
        from kafka.errors import MessageSizeTooLargeError

        now = time.monotonic()
        for record in batch.records:
            try:
                future = self._producer.send(
                    self._topic, key=run_key(record.payload), value=record.payload
                )
            except MessageSizeTooLargeError:
                self.counters.too_large += 1
                logger.warning(
                    "runstream: a %d-byte event is too large for Kafka; it stays in the spool only",
                    len(record.payload),
                )
                future = None
            else:
                future.add_both(self._on_done)
            self._in_flight.append(_InFlight(now, record, future))
            self._in_flight_bytes += len(record.payload)
            self._sent.advance([record])
        for damage in batch.damage:
            self._note_damage(damage)
            self._in_flight.append(_InFlight(now, damage=damage))
        self._sent.skip(batch.damage)

    def _on_done(self, _: object) -> None:
        """Called by the producer's I/O thread: wake the shipping thread."""
        self._wake()

    def _note_damage(self, damage: SegmentDamage) -> None:
        """Damaged bytes cannot be shipped: say so loudly, once (a reset may read them again)."""
        if (damage.segment, damage.offset) not in self._damage_logged:
            logger.error("runstream: spool damage, not shipped: %s", damage.describe())
            self._damage_logged.add((damage.segment, damage.offset))
            self.counters.damaged_segments.add(damage.segment)
            self.damage.append(damage)
            try:
                record_damage(self._spool_dir, [damage])
            except OSError as exc:  # the error above still says it; only the store won't know
                logger.warning("runstream: could not record the spool damage for sync: %s", exc)

    # -- acknowledgements ------------------------------------------------------------

    def _collect(self) -> bool:
        moved = False
        now = time.monotonic()
        while self._in_flight:
            head = self._in_flight[0]
            if head.future is not None and not head.future.is_done:
                if now - head.sent_at > self._options.delivery_timeout_s + 5.0:
                    raise ServiceUnavailableError("no acknowledgement within the delivery timeout")
                break
            if head.future is not None and head.future.failed():
                raise _DeliveryFailed(head.future.exception)
            self._in_flight.popleft()
            self._acknowledge(head)
            moved = True
        return moved

    def _acknowledge(self, item: _InFlight) -> None:
        self._in_flight_bytes -= item.size
        if item.damage is not None:
            self._acked.checkpoint.skip([item.damage])
        if item.record is not None:
            self._acked.checkpoint.advance([item.record])
        if item.future is not None:
            self.counters.shipped += 1
            self.counters.shipped_bytes += item.size + _FRAME_BYTES
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()

    def _save_if_due(self) -> None:
        if self._dirty_since is None:
            return
        if not self._in_flight or time.monotonic() - self._dirty_since >= (
            self._options.checkpoint_interval_s
        ):
            self.flush_checkpoint()

    # -- failures --------------------------------------------------------------------

    def _reset(self, error: Exception) -> None:
        """Drop the producer and everything unacknowledged; resend from the acked position."""
        self.counters.resets += 1
        self.close(timeout=0.0)
        self._in_flight.clear()
        self._in_flight_bytes = 0
        self._sent = self._copy_of_acked()
        self._schedule_retry(error)

    def _schedule_retry(self, error: Exception) -> None:
        """Reconnect after the backoff's next delay (the error's ``retry_after`` counts)."""
        self._retry_at = time.monotonic() + self._backoff.next_delay(error)
        if not self._unreachable_logged:
            logger.warning(
                "runstream: shipping to Kafka at %s failed (%s: %s); events are kept "
                "in the spool and sent when it answers",
                self._bootstrap,
                type(error).__name__,
                error,
            )
            self._unreachable_logged = True

    def _copy_of_acked(self) -> Checkpoint:
        acked = self._acked.checkpoint
        return Checkpoint(acked.path, dict(acked.offsets))


class _DeliveryFailed(ServiceUnavailableError):
    """Kafka did not take a record (its future failed); the shipper resends from the ack."""

    def __init__(self, cause: object) -> None:
        super().__init__(f"delivery failed: {cause}")


def run_key(payload: bytes) -> bytes | None:
    """The partition key: the envelope's run id (None when the bytes do not parse)."""
    try:
        run_id = pb.Envelope.FromString(payload).run_id
    except Exception:  # a record the processors will dead-letter; any partition will do
        return None
    return run_id.encode() if run_id else None


@contextlib.contextmanager
def _damage_log(spool_dir: Path) -> Iterator[Path]:
    """The damage log, locked against other shippers and syncs of the spool."""
    path = spool_dir / "checkpoints" / DAMAGE_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f"{DAMAGE_LOG}.lock"), "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield path


def record_damage(spool_dir: Path, damage: Sequence[SegmentDamage]) -> None:
    """Append damage a shipper skipped to the damage log (see ``DAMAGE_LOG``)."""
    lines = "".join(
        json.dumps(
            {
                "segment": d.segment,
                "offset": d.offset,
                "reason": d.reason,
                "resumes_at": d.resumes_at,
            }
        )
        + "\n"
        for d in damage
    )
    with _damage_log(spool_dir) as path, open(path, "a") as log:
        log.write(lines)


def recorded_damage(spool_dir: Path) -> list[SegmentDamage]:
    """The damage in the log, once each (a line that does not parse is itself reported)."""
    path = spool_dir / "checkpoints" / DAMAGE_LOG
    if not path.exists():
        return []
    with _damage_log(spool_dir):
        text = path.read_bytes().decode(errors="replace")
    found: dict[tuple[str, int], SegmentDamage] = {}
    for number, line in enumerate(text.splitlines(), 1):
        try:
            item = json.loads(line)
            damage = SegmentDamage(
                str(item["segment"]),
                int(item["offset"]),
                str(item["reason"]),
                int(item["resumes_at"]),
            )
        except (ValueError, TypeError, KeyError) as exc:
            damage = SegmentDamage(DAMAGE_LOG, number, f"unreadable damage record ({exc})")
        found.setdefault((damage.segment, damage.offset), damage)
    return list(found.values())


def forget_damage(spool_dir: Path, damage: Sequence[SegmentDamage]) -> None:
    """Drop from the log the damage now recorded elsewhere (the store's dead letters)."""
    done = {(d.segment, d.offset) for d in damage}
    with _damage_log(spool_dir) as path:
        if not path.exists():
            return
        kept = []
        for line in path.read_bytes().decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError, TypeError, KeyError):
                item = json.loads(line)
                if (str(item["segment"]), int(item["offset"])) in done:
                    continue
            kept.append(line + "\n")
        temporary = path.with_suffix(".tmp")
        temporary.write_text("".join(kept))
        os.replace(temporary, path)


def _in_use_or_gone(path: Path) -> bool:
    try:
        return segment_in_use(path)
    except OSError:  # deleted meanwhile, or unreadable after all: not ours to ship
        return True


@dataclass(frozen=True)
class SyncReport:
    shipped: int
    pending_bytes: int
    """Spool bytes still unacknowledged when the time was up (0: all shipped)."""
    too_large: int
    damaged_segments: int
    damage: tuple[SegmentDamage, ...] = ()
    """All damage shippers of this spool found and skipped (this sync's and the training
    processes'), not yet recorded in the store (see ``DAMAGE_LOG``)."""


def ship_leftovers(
    spool_dir: Path,
    bootstrap: str,
    topic: str,
    timeout: float,
    options: ShipperOptions,
    on_progress: Callable[[int, int], None] | None = None,
    retention_s: float | None = None,
) -> SyncReport:
    """Ship the segments no live process is writing (dead or finished runs' leftovers).

    A segment still held by its writer is that process's own shipper's job. Shipping
    a segment a live shipper is also sending only duplicates events in Kafka, which
    the store ignores; the shared checkpoint keeps the furthest position of both.
    ``on_progress(done_bytes, total_bytes)`` is called as acknowledgements arrive; with
    ``retention_s``, fully shipped segments older than that are deleted afterwards.
    """
    leftovers = {
        path.name for path in SpoolReader(spool_dir).segments() if not _in_use_or_gone(path)
    }
    wake = threading.Event()
    shipper = Shipper(
        spool_dir, bootstrap, topic, lambda path: path.name in leftovers, options, wake=wake.set
    )
    total = shipper.pending_bytes()
    deadline = time.monotonic() + timeout
    try:
        while total and time.monotonic() < deadline:
            moved = shipper.step()
            if on_progress is not None and moved:
                on_progress(shipper.counters.shipped_bytes, total)
            if shipper.idle:
                break
            if not moved:
                wake.wait(min(0.1, max(deadline - time.monotonic(), 0.0)))
                wake.clear()
    finally:
        shipper.close(timeout=1.0)
    if retention_s is not None:
        shipper.discard_shipped(retention_s)
    counters = shipper.counters
    try:
        damage = tuple(recorded_damage(spool_dir))
    except OSError as exc:
        logger.warning("runstream: cannot read the spool damage log: %s", exc)
        damage = tuple(shipper.damage)
    return SyncReport(
        counters.shipped,
        shipper.pending_bytes(),
        counters.too_large,
        len(counters.damaged_segments | {d.segment for d in damage}),
        damage,
    )
