"""Several training processes append to one spool while a consumer reads it."""

from __future__ import annotations

import collections
import multiprocessing
import time
from pathlib import Path

from runstream.spool import Checkpoint, SpoolReader, SpoolWriter

PROCESSES = 4
RECORDS_PER_PROCESS = 2_000


def _write(directory: str, writer_id: int, start: multiprocessing.synchronize.Event) -> None:
    """One training process: batches of varying size, small segments so that they roll over."""
    writer = SpoolWriter(Path(directory), segment_bytes=32 * 1024, fsync=False)
    start.wait()
    i = 0
    batch = 1
    while i < RECORDS_PER_PROCESS:
        records = [
            f"{writer_id}:{n}:".encode() + b"." * (n % 50)
            for n in range(i, min(i + batch, RECORDS_PER_PROCESS))
        ]
        writer.append(records)
        i += len(records)
        batch = batch % 37 + 1
    writer.close()


def test_concurrent_writers_and_a_live_reader_see_every_record_exactly_once(
    tmp_path: Path,
) -> None:
    context = multiprocessing.get_context("fork")  # the children run this module's function
    start = context.Event()
    writers = [
        context.Process(target=_write, args=(str(tmp_path), writer_id, start))
        for writer_id in range(PROCESSES)
    ]
    for process in writers:
        process.start()

    reader = SpoolReader(tmp_path)
    checkpoint = Checkpoint(tmp_path / "checkpoints" / "t.json")
    seen: list[bytes] = []

    def consume() -> None:
        result = reader.read(checkpoint, max_records=500)
        assert result.damage == [], "a live writer's half-written record reported as damage"
        seen.extend(record.payload for record in result.records)
        checkpoint.advance(result.records)

    start.set()
    deadline = time.monotonic() + 60
    while any(process.is_alive() for process in writers):  # read while they write
        assert time.monotonic() < deadline, "writers did not finish"
        consume()
    for process in writers:
        process.join()
        assert process.exitcode == 0
    while True:  # and take the rest
        before = len(seen)
        consume()
        if len(seen) == before:
            break

    counts = collections.Counter(seen)
    duplicates = [record for record, count in counts.items() if count > 1]
    assert duplicates == []
    by_writer: dict[int, list[int]] = collections.defaultdict(list)
    for record in seen:
        writer, number, _ = record.split(b":")
        by_writer[int(writer)].append(int(number))
    for writer_id in range(PROCESSES):
        # Exactly once, but not necessarily in order: while a writer rolls over, a pass may
        # reach its new segment before the next pass finishes its old one.
        assert sorted(by_writer[writer_id]) == list(range(RECORDS_PER_PROCESS)), writer_id
    assert reader.pending_bytes(checkpoint) == 0
