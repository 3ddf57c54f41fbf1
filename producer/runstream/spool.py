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
import errno
import fcntl
import json
import logging
import os
import stat
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import SpoolError

logger = logging.getLogger("runstream")

MAGIC = b"RSSPOOL1"
_FRAME = struct.Struct("<II")
SEGMENT_SUFFIX = ".seg"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
MAX_RECORD_BYTES = 64 * 1024 * 1024


def frame(payload: bytes) -> bytes:
    """One record as stored on disk."""
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


class SpoolWriter:
    """Appends records to this process's current segment; not thread-safe (one writer thread).

    A failed append (a full disk, an I/O error) leaves no torn bytes behind: the segment
    is cut back to its last complete record before the error is raised, so the caller can
    simply append the same records again once the disk has room (see ``_cut_torn_tail``).
    """

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
            _write_all(segment.fileno(), data)
            if self._fsync:
                os.fsync(segment.fileno())
        except OSError as exc:
            self._cut_torn_tail()
            raise _spool_error(f"cannot append to the spool in {self._directory}", exc) from exc
        self._size += len(data)
        self.bytes_written += len(data)

    def close(self) -> None:
        """Close the current segment; its lock is released so readers see it as complete."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _cut_torn_tail(self) -> None:
        """After a failed append, cut the segment back to its last complete record.

        Part of the batch may have reached the file (a disk that filled mid-write); once
        the batch is written again intact, a reader would take those torn bytes for damage.
        Truncating to the last good size removes them. If even that fails, the segment is
        closed and the retry starts a new one: the torn bytes then end a segment whose
        complete records are all still read (and the tail is reported, as it must be).
        """
        segment = self._file
        if segment is None:
            return
        try:
            os.ftruncate(segment.fileno(), self._size)
            os.lseek(segment.fileno(), self._size, os.SEEK_SET)  # or the next write leaves a hole
        except OSError:
            self._file = None
            with contextlib.suppress(OSError):
                segment.close()

    def _segment_for(self, incoming: int) -> BinaryIO:
        if self._file is not None and self._size + incoming > self._segment_bytes:
            self.close()
        if self._file is None:
            self._file = self._open_new_segment()
        return self._file

    def _open_new_segment(self) -> BinaryIO:
        path: Path | None = None
        segment: BinaryIO | None = None
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SEGMENT_SUFFIX}"
            path = self._directory / name
            # Unbuffered: every append is one os.write loop, and nothing lingers in a buffer
            # after a failed write to be flushed later behind the records written again.
            segment = open(path, "xb", buffering=0)  # noqa: SIM115 - held open on purpose
            fcntl.flock(segment.fileno(), fcntl.LOCK_EX)
            _write_all(segment.fileno(), MAGIC)
        except OSError as exc:
            if segment is not None:  # no empty or half-headed segment left behind
                with contextlib.suppress(OSError):
                    segment.close()
                if path is not None:
                    with contextlib.suppress(OSError):
                        path.unlink()
            raise _spool_error(f"cannot create a spool segment in {self._directory}", exc) from exc
        self._size = len(MAGIC)
        return segment


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _spool_error(message: str, cause: OSError) -> SpoolError:
    """A SpoolError that keeps the cause's errno (callers tell ENOSPC apart by it)."""
    error = SpoolError(f"{message}: {cause}")
    error.errno = cause.errno
    return error


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says the disk or the quota is full."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__
    return False


class FailureWarnings:
    """Warnings about a failure that repeats (a full disk): rate-limited, never one per retry.

    One warning when the failure starts, then at most one every ``every_s`` while it
    lasts (with how many attempts failed), and one when an attempt succeeds again.
    """

    def __init__(
        self, what: str, every_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.what = what
        self.every_s = every_s
        self._clock = clock
        self.failures = 0
        self._since = 0.0
        self._last_warned = 0.0

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def failed(self, error: BaseException) -> None:
        now = self._clock()
        self.failures += 1
        full = " (the disk is full)" if is_disk_full(error) else ""
        if self.failures == 1:
            self._since = self._last_warned = now
            logger.warning("runstream: %s failed%s, retrying: %s", self.what, full, error)
        elif now - self._last_warned >= self.every_s:
            self._last_warned = now
            logger.warning(
                "runstream: %s still failing%s: %d attempts in %.0f s, retrying: %s",
                self.what,
                full,
                self.failures,
                now - self._since,
                error,
            )

    def succeeded(self) -> None:
        if self.failures:
            logger.warning(
                "runstream: %s works again after %d failed attempts in %.0f s",
                self.what,
                self.failures,
                self._clock() - self._since,
            )
            self.failures = 0


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
    """Reads records after a consumer's checkpoint, in segment order.

    Whatever in the directory is not a readable segment of this user (a directory or a
    link named ``*.seg``, a file it may not read, a file of another owner) is left alone
    with one warning per path and process: it never stops the reading of the others.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def segments(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return [path for path in sorted(self.directory.glob(f"*{SEGMENT_SUFFIX}")) if _usable(path)]

    def read(
        self, checkpoint: Checkpoint, max_records: int = 10_000, max_bytes: int = 16 * 1024 * 1024
    ) -> ReadResult:
        """Records past the checkpoint, up to either limit (the checkpoint is not advanced here)."""
        result = ReadResult()
        budget = _Budget(max_records, max_bytes)
        for path in self.segments():
            start = checkpoint.offsets.get(path.name, 0)
            try:
                if start >= 0 and path.stat().st_size > max(start, len(MAGIC)):
                    self._read_segment(path, start, budget, result)
            except FileNotFoundError:
                continue  # deleted by another consumer's clean-up meanwhile
            except OSError as exc:
                _warn_unusable(path, f"cannot be read: {exc}")
                continue
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
            total += max(_size(path) - max(offset, len(MAGIC)), 0)
        return total

    def discard_consumed(self, checkpoint: Checkpoint, older_than_s: float) -> list[str]:
        """Delete segments the consumer has fully taken whose writer is gone and that are old.

        Kept for ``older_than_s`` after their last write, so a recent spool can still be
        replayed (harmlessly) into a rebuilt store. Returns the names deleted.
        """
        deleted = []
        cutoff = time.time() - older_than_s
        for path in self.segments():
            try:
                status = path.stat()
                offset = checkpoint.offsets.get(path.name, 0)
                consumed = offset == -1 or offset >= status.st_size
                if consumed and status.st_mtime < cutoff and not segment_in_use(path):
                    path.unlink(missing_ok=True)
                    checkpoint.offsets.pop(path.name, None)
                    deleted.append(path.name)
            except OSError as exc:  # gone meanwhile, or not ours to delete: keep going
                logger.debug("runstream: not deleting spool segment %s: %s", path, exc)
        return deleted

    def _read_segment(self, path: Path, start: int, budget: _Budget, result: ReadResult) -> None:
        writer_alive = segment_in_use(path)
        with open(path, "rb") as segment:
            offset = max(start, len(MAGIC))
            problem: str | None = None
            if start < len(MAGIC) and segment.read(len(MAGIC)) != MAGIC:
                # A damaged header is damage at offset 0 like any other: resynchronize on
                # the first intact record, so only the damaged bytes are lost.
                offset, problem = 0, "damaged segment header"
            segment.seek(offset)
            while not budget.spent:
                if problem is None:
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
                    # Past a damaged record, from its next byte; past a damaged header, from
                    # byte 0 (records may start there if the header is missing altogether).
                    resumes_at = _next_intact_record(segment, offset + 1 if offset else 0)
                    if resumes_at < 0 and writer_alive:
                        return  # a record still being written, or more to come after damage
                    result.damage.append(SegmentDamage(path.name, offset, problem, resumes_at))
                    if resumes_at < 0:
                        return
                    offset, problem = resumes_at, None
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


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_unusable(path: Path, why: str) -> None:
    """Warn once per path and process about something in the spool that is not read."""
    with _warned_lock:
        if str(path) in _warned:
            return
        _warned.add(str(path))
    logger.warning("runstream: skipping %s in the spool: it %s", path, why)


def _usable(path: Path) -> bool:
    """Whether ``path`` is a regular file of this user that it may read (warns once if not)."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        _warn_unusable(path, f"cannot be examined: {exc}")
        return False
    if not stat.S_ISREG(status.st_mode):
        _warn_unusable(path, "is not a regular file")
        return False
    if status.st_uid != os.geteuid():
        _warn_unusable(path, f"belongs to another user (uid {status.st_uid})")
        return False
    if not os.access(path, os.R_OK):
        _warn_unusable(path, "is not readable")
        return False
    return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


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
        """The consumer's checkpoint; a damaged one is set aside and rebuilt from scratch.

        Rebuilt means empty: the consumer starts every segment from offset 0 again. That
        replays what it had taken already, which is harmless (storage deduplicates by
        ``event_id``), whereas refusing to start would stop the consumer for good. The
        damaged file is kept beside it as ``<consumer>.json.damaged-<time>``.
        """
        path = spool_dir / "checkpoints" / f"{consumer}.json"
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            return cls(path, {})
        except OSError as exc:
            return cls(path, _set_aside(path, f"cannot be read: {exc}"))
        try:
            loaded = json.loads(text)
            if not isinstance(loaded, dict):
                raise ValueError(f"expected an object, found {type(loaded).__name__}")
            offsets = {str(name): _offset(value) for name, value in loaded.items()}
        except (TypeError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            return cls(path, _set_aside(path, f"is malformed: {exc}"))
        return cls(path, offsets)

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
        """Atomically replace the checkpoint file (on failure, the old one stays intact)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps(self.offsets, sort_keys=True))
            os.replace(temporary, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()  # a half-written file must not use up the little room left
            raise


def _offset(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ValueError(f"{value!r} is not an offset")
    return value


def _set_aside(path: Path, why: str) -> dict[str, int]:
    """Rename a damaged checkpoint out of the way (kept for a post-mortem); start afresh."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another process of the same consumer set it aside first
        return {}
    except OSError as exc:
        logger.warning(
            "runstream: spool checkpoint %s %s; cannot set it aside (%s): starting its "
            "segments from the beginning (replays are deduplicated by the store)",
            path,
            why,
            exc,
        )
        return {}
    logger.warning(
        "runstream: spool checkpoint %s %s; kept as %s and rebuilt: its segments are read "
        "from the beginning again (replays are deduplicated by the store)",
        path,
        why,
        aside.name,
    )
    return {}


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
