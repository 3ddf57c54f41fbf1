"""The spool: an append-only segment log on local disk, the local twin of the Kafka topic.

Each writing process appends to segment files of its own, so any number of
training processes can write to one spool at once without coordination. A
segment is a header followed by records framed as ``<u32 length><u32 crc32>payload``.
While its writer lives, a segment holds an exclusive ``flock``; a reader that can
take the lock knows the writer is gone, so a torn record at the end is final
(the process died mid-write) rather than still being written.

Consumers (the embedded ingester, the Kafka shipper) remember how far they got
in a checkpoint file per consumer; replays are harmless because every event
carries a unique ``event_id`` that storage deduplicates on.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import SpoolError

MAGIC = b"RSSPOOL1"
_FRAME = struct.Struct("<II")
SEGMENT_SUFFIX = ".seg"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
MAX_RECORD_BYTES = 64 * 1024 * 1024


def frame(payload: bytes) -> bytes:
    """One record as stored on disk."""
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


class SpoolWriter:
    """Appends records to this process's current segment; not thread-safe (one writer thread)."""

    def __init__(
        self,
        directory: Path,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: bool = True,
    ) -> None:
        self._directory = directory
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._file: BinaryIO | None = None
        self._size = 0
        self.bytes_written = 0

    def append(self, payloads: Sequence[bytes]) -> None:
        """Append records in one write and make them durable (fsync unless disabled)."""
        if not payloads:
            return
        data = b"".join(frame(payload) for payload in payloads)
        segment = self._segment_for(len(data))
        try:
            segment.write(data)
            segment.flush()
            if self._fsync:
                os.fsync(segment.fileno())
        except OSError as exc:
            raise SpoolError(f"cannot append to the spool in {self._directory}: {exc}") from exc
        self._size += len(data)
        self.bytes_written += len(data)

    def close(self) -> None:
        """Close the current segment; its lock is released so readers see it as complete."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _segment_for(self, incoming: int) -> BinaryIO:
        if self._file is not None and self._size + incoming > self._segment_bytes:
            self.close()
        if self._file is None:
            self._file = self._open_new_segment()
        return self._file

    def _open_new_segment(self) -> BinaryIO:
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SEGMENT_SUFFIX}"
            segment = open(self._directory / name, "xb")  # noqa: SIM115 - held open on purpose
            fcntl.flock(segment.fileno(), fcntl.LOCK_EX)
            segment.write(MAGIC)
            segment.flush()
        except OSError as exc:
            raise SpoolError(f"cannot create a spool segment in {self._directory}: {exc}") from exc
        self._size = len(MAGIC)
        return segment


@dataclass(frozen=True)
class SpoolRecord:
    """A record and where the next one starts (the offset to checkpoint after it)."""

    segment: str
    next_offset: int
    payload: bytes


@dataclass
class SegmentDamage:
    """Bytes a reader had to skip: a torn tail of a dead writer or a corrupt record."""

    segment: str
    offset: int
    reason: str
    resumes_at: int = -1
    """Where the next intact record starts; -1 when none follows (the rest is given up)."""

    def describe(self) -> str:
        if self.resumes_at < 0:
            return f"{self.segment} at byte {self.offset}: {self.reason}; the rest is unreadable"
        return (
            f"{self.segment} at byte {self.offset}: {self.reason}; "
            f"{self.resumes_at - self.offset} bytes skipped to the next intact record"
        )


@dataclass
class ReadResult:
    records: list[SpoolRecord] = field(default_factory=list)
    damage: list[SegmentDamage] = field(default_factory=list)


class SpoolReader:
    """Reads records after a consumer's checkpoint, in segment order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def segments(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob(f"*{SEGMENT_SUFFIX}"))

    def read(
        self, checkpoint: Checkpoint, max_records: int = 10_000, max_bytes: int = 16 * 1024 * 1024
    ) -> ReadResult:
        """Records past the checkpoint, up to either limit (the checkpoint is not advanced here)."""
        result = ReadResult()
        budget = _Budget(max_records, max_bytes)
        for path in self.segments():
            start = checkpoint.offsets.get(path.name, 0)
            if start >= 0 and path.stat().st_size > max(start, len(MAGIC)):
                self._read_segment(path, start, budget, result)
            if budget.spent:
                break
        return result

    def pending_bytes(self, checkpoint: Checkpoint) -> int:
        """How many spooled bytes the consumer has not taken yet."""
        total = 0
        for path in self.segments():
            offset = checkpoint.offsets.get(path.name, 0)
            if offset < 0:
                continue  # given up as damaged: nothing more will be read from it
            total += max(path.stat().st_size - max(offset, len(MAGIC)), 0)
        return total

    def discard_consumed(self, checkpoint: Checkpoint, older_than_s: float) -> list[str]:
        """Delete segments the consumer has fully taken whose writer is gone and that are old.

        Kept for ``older_than_s`` after their last write, so a recent spool can still be
        replayed (harmlessly) into a rebuilt store. Returns the names deleted.
        """
        deleted = []
        cutoff = time.time() - older_than_s
        for path in self.segments():
            stat = path.stat()
            offset = checkpoint.offsets.get(path.name, 0)
            consumed = offset == -1 or offset >= stat.st_size
            if consumed and stat.st_mtime < cutoff and not segment_in_use(path):
                path.unlink(missing_ok=True)
                checkpoint.offsets.pop(path.name, None)
                deleted.append(path.name)
        return deleted

    def _read_segment(self, path: Path, start: int, budget: _Budget, result: ReadResult) -> None:
        writer_alive = segment_in_use(path)
        with open(path, "rb") as segment:
            if segment.read(len(MAGIC)) != MAGIC:
                result.damage.append(SegmentDamage(path.name, 0, "not a spool segment"))
                return
            offset = max(start, len(MAGIC))
            segment.seek(offset)
            while not budget.spent:
                header = segment.read(_FRAME.size)
                if not header:
                    return
                problem = self._frame_problem(header)
                payload = b"" if problem else segment.read(_FRAME.unpack(header)[0])
                if not problem:
                    length, crc = _FRAME.unpack(header)
                    if len(payload) < length:
                        problem = "truncated record"
                    elif zlib.crc32(payload) != crc:
                        problem = "checksum mismatch"
                if problem:
                    resumes_at = _next_intact_record(segment, offset + 1)
                    if resumes_at < 0 and writer_alive:
                        return  # a record still being written, or more to come after damage
                    result.damage.append(SegmentDamage(path.name, offset, problem, resumes_at))
                    if resumes_at < 0:
                        return
                    offset = resumes_at
                    segment.seek(offset)
                    continue
                offset += _FRAME.size + len(payload)
                result.records.append(SpoolRecord(path.name, offset, payload))
                budget.take(len(payload))

    @staticmethod
    def _frame_problem(header: bytes) -> str | None:
        if len(header) < _FRAME.size:
            return "truncated record"
        length, _ = _FRAME.unpack(header)
        return "record length out of range" if length > MAX_RECORD_BYTES else None


def _next_intact_record(segment: BinaryIO, start: int) -> int:
    """The offset of the first intact record at or after ``start``, or -1.

    Frames carry no sync marker, so every offset is tried: a plausible length (a record
    is never empty) and a CRC-32 that matches the payload. A random match is a 1 in 2^32
    chance per plausible offset, and would surface as an invalid event, never silently.
    """
    segment.seek(start)
    data = segment.read()
    end = len(data) - _FRAME.size
    for index in range(end + 1):
        length, crc = _FRAME.unpack_from(data, index)
        if 0 < length <= min(MAX_RECORD_BYTES, end - index):
            body = index + _FRAME.size
            if zlib.crc32(data[body : body + length]) == crc:
                return start + index
    return -1


@dataclass
class _Budget:
    records: int
    bytes: int

    @property
    def spent(self) -> bool:
        return self.records <= 0 or self.bytes <= 0

    def take(self, size: int) -> None:
        self.records -= 1
        self.bytes -= size


def segment_in_use(path: Path) -> bool:
    """True while a live writer holds the segment open (it keeps an exclusive flock)."""
    with open(path, "rb") as probe:
        try:
            fcntl.flock(probe.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe.fileno(), fcntl.LOCK_UN)
        return False


def written_by_this_process(since_ns: int) -> Callable[[Path], bool]:
    """Selects the segments this process created after ``since_ns``.

    Segment names are ``<time_ns>-<pid>-<random>.seg``; the time bound keeps a recycled
    pid from adopting a dead process's segments.
    """
    pid, floor = str(os.getpid()), f"{since_ns:020d}"

    def selects(path: Path) -> bool:
        parts = path.name.split("-")
        return len(parts) >= 3 and parts[1] == pid and parts[0] >= floor

    return selects


@dataclass
class Checkpoint:
    """How far one consumer got in each segment; ``-1`` marks a segment given up as damaged."""

    path: Path
    offsets: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, spool_dir: Path, consumer: str) -> Checkpoint:
        path = spool_dir / "checkpoints" / f"{consumer}.json"
        try:
            offsets = json.loads(path.read_text())
        except FileNotFoundError:
            offsets = {}
        except (OSError, ValueError) as exc:
            raise SpoolError(f"spool checkpoint {path} is unreadable: {exc}") from exc
        return cls(path, {str(name): int(offset) for name, offset in offsets.items()})

    def advance(self, records: Sequence[SpoolRecord]) -> None:
        for record in records:
            self.offsets[record.segment] = max(
                self.offsets.get(record.segment, 0), record.next_offset
            )

    def skip(self, damage: Sequence[SegmentDamage]) -> None:
        """Move past damage: to the next intact record, or give up the rest of the segment."""
        for item in damage:
            if item.resumes_at < 0:
                self.offsets[item.segment] = -1
            elif self.offsets.get(item.segment, 0) >= 0:
                self.offsets[item.segment] = max(self.offsets.get(item.segment, 0), item.resumes_at)

    def save(self) -> None:
        """Atomically replace the checkpoint file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.offsets, sort_keys=True))
        os.replace(temporary, self.path)


@contextlib.contextmanager
def consumer_lock(spool_dir: Path, consumer: str, timeout: float) -> Iterator[None]:
    """Serialize consumers of the same name (two CLI calls, a server and a CLI call)."""
    lock_path = spool_dir / "checkpoints" / f"{consumer}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as lock_file:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SpoolError(
                        f"another process has been consuming the spool {spool_dir} "
                        f"as {consumer!r} for over {timeout:.0f}s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
