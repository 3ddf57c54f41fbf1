"""The spool on real disk: framing, torn tails of dead and live writers, corruption, checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from runstream.errors import SpoolError
from runstream.spool import (
    MAGIC,
    MAX_RECORD_BYTES,
    Checkpoint,
    SegmentDamage,
    SpoolReader,
    SpoolRecord,
    SpoolWriter,
    frame,
)


def payloads(count: int, tag: str = "r") -> list[bytes]:
    """Distinct records of varied sizes (0 to ~3 KB), including an empty one."""
    return [f"{tag}{i}:".encode() * (i % 300) for i in range(count)]


def read_all(directory: Path, checkpoint: Checkpoint | None = None, **limits: int) -> list[bytes]:
    """Every record past ``checkpoint``, read in budgeted batches, advancing it like a consumer."""
    reader = SpoolReader(directory)
    checkpoint = checkpoint or Checkpoint(directory / "checkpoints" / "t.json")
    records: list[bytes] = []
    while True:
        result = reader.read(checkpoint, **limits)
        assert result.damage == []
        if not result.records:
            return records
        records += [record.payload for record in result.records]
        checkpoint.advance(result.records)


def only_segment(directory: Path) -> Path:
    [segment] = SpoolReader(directory).segments()
    return segment


# -- round trip ----------------------------------------------------------------------------


def test_many_records_round_trip_in_order(tmp_path: Path) -> None:
    written = payloads(3_000)
    writer = SpoolWriter(tmp_path, fsync=False)
    for start in range(0, len(written), 97):
        writer.append(written[start : start + 97])
    writer.close()
    assert read_all(tmp_path) == written
    assert writer.bytes_written == sum(len(frame(p)) for p in written)


def test_records_roll_over_into_new_segments_and_still_read_in_order(tmp_path: Path) -> None:
    written = payloads(1_000)
    writer = SpoolWriter(tmp_path, segment_bytes=16 * 1024, fsync=False)
    for record in written:
        writer.append([record])
    writer.close()
    segments = SpoolReader(tmp_path).segments()
    assert len(segments) > 10
    assert all(path.read_bytes().startswith(MAGIC) for path in segments)
    assert read_all(tmp_path) == written


def test_small_read_budgets_return_every_record_exactly_once(tmp_path: Path) -> None:
    written = payloads(500)
    writer = SpoolWriter(tmp_path, segment_bytes=8 * 1024, fsync=False)
    writer.append(written)
    writer.append(written[:1])  # a batch larger than a segment still lands whole
    writer.close()
    assert read_all(tmp_path, max_records=7) == [*written, written[0]]
    assert read_all(tmp_path, max_bytes=1_000) == [*written, written[0]]


def test_a_record_carries_its_segment_and_the_offset_after_it(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"one", b"three"])
    writer.close()
    result = SpoolReader(tmp_path).read(Checkpoint(tmp_path / "cp.json"))
    name = only_segment(tmp_path).name
    assert result.records == [
        SpoolRecord(name, len(MAGIC) + 8 + 3, b"one"),
        SpoolRecord(name, len(MAGIC) + 8 + 3 + 8 + 5, b"three"),
    ]


def test_an_empty_or_missing_spool_reads_as_nothing(tmp_path: Path) -> None:
    reader = SpoolReader(tmp_path / "never-created")
    checkpoint = Checkpoint(tmp_path / "cp.json")
    assert reader.read(checkpoint).records == []
    assert reader.pending_bytes(checkpoint) == 0
    SpoolWriter(tmp_path / "empty", fsync=False).append([])
    assert not (tmp_path / "empty").exists(), "appending nothing creates no segment"


# -- torn tails ----------------------------------------------------------------------------

DYING_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from runstream.spool import SpoolReader, SpoolWriter, frame

    directory, count, cut = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    writer = SpoolWriter(directory)  # fsync on, as in training
    for i in range(count):
        writer.append([b"record-%d" % i])
    # Half of one more record reaches the file, as when the process dies mid-write.
    [segment] = SpoolReader(directory).segments()
    with open(segment, "ab") as tail:
        tail.write(frame(b"the record that never finished")[:cut])
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("cut", [3, 20], ids=["torn-header", "torn-payload"])
def test_a_torn_tail_left_by_a_killed_writer_is_damage_after_every_complete_record(
    tmp_path: Path, cut: int
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DYING_WRITER, str(tmp_path), "200", str(cut)],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()

    segment = only_segment(tmp_path)
    checkpoint = Checkpoint(tmp_path / "checkpoints" / "t.json")
    reader = SpoolReader(tmp_path)
    result = reader.read(checkpoint)
    assert [r.payload for r in result.records] == [b"record-%d" % i for i in range(200)]
    torn_at = segment.stat().st_size - cut
    assert result.damage == [SegmentDamage(segment.name, torn_at, "truncated record")]
    assert result.records[-1].next_offset == torn_at

    checkpoint.advance(result.records)
    checkpoint.skip(result.damage)
    again = reader.read(checkpoint)
    assert (again.records, again.damage) == ([], []), "damage is reported once, then skipped"


def test_a_segment_given_up_as_damaged_is_not_pending(tmp_path: Path) -> None:
    """After skip(), nothing more will be read from the segment: it has no pending bytes."""
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"complete"])
    writer.close()
    with open(only_segment(tmp_path), "ab") as tail:
        tail.write(frame(b"torn")[:5])
    reader = SpoolReader(tmp_path)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    result = reader.read(checkpoint)
    assert len(result.damage) == 1
    checkpoint.advance(result.records)
    checkpoint.skip(result.damage)
    assert reader.pending_bytes(checkpoint) == 0


def test_a_torn_tail_of_a_live_writer_is_not_damage(tmp_path: Path) -> None:
    """A writer that still holds its segment may be mid-write: wait for it, report nothing."""
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"a", b"b"])
    segment = only_segment(tmp_path)
    with open(segment, "ab") as tail:  # as if the reader looked in the middle of a write
        tail.write(frame(b"in flight")[:10])
    reader = SpoolReader(tmp_path)
    checkpoint = Checkpoint(tmp_path / "cp.json")

    live = reader.read(checkpoint)
    assert [r.payload for r in live.records] == [b"a", b"b"]
    assert live.damage == []

    writer.close()  # the writer is gone: now the half record is final
    checkpoint.advance(live.records)
    dead = reader.read(checkpoint)
    assert dead.records == []
    assert dead.damage == [
        SegmentDamage(segment.name, live.records[-1].next_offset, "truncated record")
    ]


def test_a_live_writer_is_seen_across_processes(tmp_path: Path) -> None:
    """The lock that marks a live writer is held by another process, as in training."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
            import sys
            from pathlib import Path
            from runstream.spool import SpoolWriter
            writer = SpoolWriter(Path(sys.argv[1]), fsync=False)
            writer.append([b"x"])
            print("ready", flush=True)
            sys.stdin.read()  # hold the segment until the test closes stdin
            """
            ),
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        with open(only_segment(tmp_path), "ab") as tail:
            tail.write(frame(b"in flight")[:4])
        assert SpoolReader(tmp_path).read(Checkpoint(tmp_path / "cp.json")).damage == []
    finally:
        child.communicate("", timeout=30)
    assert len(SpoolReader(tmp_path).read(Checkpoint(tmp_path / "cp.json")).damage) == 1


# -- corruption ----------------------------------------------------------------------------


def corrupt(segment: Path, offset: int, mask: int = 0xFF) -> None:
    data = bytearray(segment.read_bytes())
    data[offset] ^= mask
    segment.write_bytes(bytes(data))


def test_a_corrupted_record_is_skipped_and_the_records_after_it_are_read(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"record-%d" % i for i in range(10)])
    writer.close()
    segment = only_segment(tmp_path)
    good = SpoolReader(tmp_path).read(Checkpoint(tmp_path / "cp.json")).records
    fifth_starts, sixth_starts = good[3].next_offset, good[4].next_offset
    corrupt(segment, fifth_starts + 8 + 2)  # a byte inside the fifth record's payload

    checkpoint = Checkpoint(tmp_path / "cp.json")
    result = SpoolReader(tmp_path).read(checkpoint)
    assert [r.payload for r in result.records] == [b"record-%d" % i for i in range(10) if i != 4]
    assert result.damage == [
        SegmentDamage(segment.name, fifth_starts, "checksum mismatch", resumes_at=sixth_starts)
    ]
    assert "16 bytes skipped to the next intact record" in result.damage[0].describe()

    checkpoint.advance(result.records)
    checkpoint.skip(result.damage)
    again = SpoolReader(tmp_path).read(checkpoint)
    assert (again.records, again.damage) == ([], []), "damage is reported once, then skipped"


def test_a_corrupted_length_resynchronizes_on_the_next_intact_record(tmp_path: Path) -> None:
    """A flipped bit in a length makes the frame claim the wrong extent; the reader finds
    the next record by its checksum instead."""
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"x" * 100 + b"-%d" % i for i in range(50)])
    writer.close()
    segment = only_segment(tmp_path)
    good = SpoolReader(tmp_path).read(Checkpoint(tmp_path / "cp.json")).records
    corrupt(segment, good[19].next_offset, mask=0x40)  # record 20's length: 103 -> 39

    result = SpoolReader(tmp_path).read(Checkpoint(tmp_path / "cp.json"))
    assert [r.payload for r in result.records] == [
        b"x" * 100 + b"-%d" % i for i in range(50) if i != 20
    ]
    assert [(d.offset, d.resumes_at) for d in result.damage] == [
        (good[19].next_offset, good[20].next_offset)
    ]


def test_damage_in_a_live_writers_segment_waits_for_the_next_record(tmp_path: Path) -> None:
    """With nothing intact after the damage yet, the writer may still add records: the
    reader neither reports nor gives up the segment until one arrives or the writer is gone."""
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"a", b"bb"])
    segment = only_segment(tmp_path)
    reader = SpoolReader(tmp_path)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    first = reader.read(checkpoint)
    corrupt(segment, first.records[0].next_offset + 8)  # inside b"bb"

    waiting = reader.read(checkpoint)
    assert [r.payload for r in waiting.records] == [b"a"] and waiting.damage == []

    writer.append([b"ccc"])
    resumed = reader.read(checkpoint)
    assert [r.payload for r in resumed.records] == [b"a", b"ccc"]
    assert [d.reason for d in resumed.damage] == ["checksum mismatch"]
    writer.close()


def test_an_absurd_length_is_damage_not_a_huge_allocation(tmp_path: Path) -> None:
    segment = tmp_path / f"{0:020d}-1-deadbeef.seg"
    segment.write_bytes(
        MAGIC + frame(b"ok") + (MAX_RECORD_BYTES + 1).to_bytes(4, "little") + b"\0" * 8
    )
    result = SpoolReader(tmp_path).read(Checkpoint(tmp_path / "cp.json"))
    assert [r.payload for r in result.records] == [b"ok"]
    assert [d.reason for d in result.damage] == ["record length out of range"]


def test_a_file_that_is_not_a_segment_is_reported(tmp_path: Path) -> None:
    (tmp_path / f"{0:020d}-1-cafebabe.seg").write_bytes(b"NOTASPOOL" + b"\0" * 32)
    result = SpoolReader(tmp_path).read(Checkpoint(tmp_path / "cp.json"))
    assert result.records == []
    assert [(d.reason, d.offset, d.resumes_at) for d in result.damage] == [
        ("damaged segment header", 0, -1)
    ]


# -- checkpoints and pending bytes ---------------------------------------------------------


def test_a_checkpoint_survives_save_and_load(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"a", b"b", b"c"])
    writer.close()
    reader = SpoolReader(tmp_path)
    checkpoint = Checkpoint.load(tmp_path, "shipper")
    assert checkpoint.offsets == {}
    first = reader.read(checkpoint, max_records=2)
    checkpoint.advance(first.records)
    checkpoint.save()

    loaded = Checkpoint.load(tmp_path, "shipper")
    assert loaded == checkpoint
    assert json.loads((tmp_path / "checkpoints" / "shipper.json").read_text()) == checkpoint.offsets
    assert [r.payload for r in reader.read(loaded).records] == [b"c"]
    assert list((tmp_path / "checkpoints").iterdir()) == [tmp_path / "checkpoints" / "shipper.json"]
    assert Checkpoint.load(tmp_path, "someone-else").offsets == {}, "consumers are independent"


def test_checkpoints_never_move_backwards(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "cp.json")
    checkpoint.advance([SpoolRecord("s.seg", 100, b"")])
    checkpoint.advance([SpoolRecord("s.seg", 50, b"")])  # a replayed, older record
    assert checkpoint.offsets == {"s.seg": 100}


def test_an_unreadable_checkpoint_is_set_aside_and_rebuilt(tmp_path: Path) -> None:
    """tests/faults/test_spool_faults.py covers this end to end (no loss, no doubles)."""
    path = tmp_path / "checkpoints" / "shipper.json"
    path.parent.mkdir()
    path.write_text("{not json")
    assert Checkpoint.load(tmp_path, "shipper").offsets == {}
    [aside] = path.parent.glob("shipper.json.damaged-*")
    assert aside.read_text() == "{not json" and not path.exists()


def test_pending_bytes_counts_what_the_consumer_has_not_taken(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, segment_bytes=1_000, fsync=False)
    written = [b"x" * 100 for _ in range(30)]
    writer.append(written[:10])
    writer.append(written[10:])
    writer.close()
    reader = SpoolReader(tmp_path)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    total = sum(len(frame(p)) for p in written)
    assert reader.pending_bytes(checkpoint) == total

    first = reader.read(checkpoint, max_records=12)
    checkpoint.advance(first.records)
    assert reader.pending_bytes(checkpoint) == total - 12 * len(frame(written[0]))

    checkpoint.advance(reader.read(checkpoint).records)
    assert reader.pending_bytes(checkpoint) == 0


def test_each_writer_appends_to_a_segment_of_its_own(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.append([b"a"])
    writer.append([b"b"])
    [segment] = SpoolReader(tmp_path).segments()
    assert f"-{os.getpid()}-" in segment.name
    writer.close()
    other = SpoolWriter(tmp_path)
    other.append([b"c"])
    other.close()
    assert len(SpoolReader(tmp_path).segments()) == 2
    assert read_all(tmp_path) == [b"a", b"b", b"c"]


def test_an_unwritable_spool_raises_spool_error(tmp_path: Path) -> None:
    (tmp_path / "spool").write_text("a file where the directory should be")
    with pytest.raises(SpoolError, match="cannot create a spool segment"):
        SpoolWriter(tmp_path / "spool").append([b"x"])


# -- retention -----------------------------------------------------------------------------

DAY = 24 * 3600.0


def age(path: Path, seconds: float) -> None:
    """Make ``path`` look last written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def consumed_segment(directory: Path, payloads: list[bytes]) -> tuple[Path, Checkpoint]:
    """A closed segment a consumer has read to the end."""
    writer = SpoolWriter(directory, fsync=False)
    writer.append(payloads)
    writer.close()
    checkpoint = Checkpoint(directory / "checkpoints" / "t.json")
    checkpoint.advance(SpoolReader(directory).read(checkpoint).records)
    return only_segment(directory), checkpoint


def test_old_fully_consumed_segments_are_deleted(tmp_path: Path) -> None:
    segment, checkpoint = consumed_segment(tmp_path, [b"a", b"b"])
    age(segment, 2 * DAY)
    assert SpoolReader(tmp_path).discard_consumed(checkpoint, older_than_s=DAY) == [segment.name]
    assert not segment.exists()
    assert segment.name not in checkpoint.offsets


def test_recent_segments_are_kept_for_replays(tmp_path: Path) -> None:
    segment, checkpoint = consumed_segment(tmp_path, [b"a"])
    age(segment, DAY / 2)
    assert SpoolReader(tmp_path).discard_consumed(checkpoint, older_than_s=DAY) == []
    assert segment.exists()


def test_segments_not_fully_consumed_are_kept(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"a", b"b", b"c"])
    writer.close()
    reader = SpoolReader(tmp_path)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    checkpoint.advance(reader.read(checkpoint, max_records=2).records)
    segment = only_segment(tmp_path)
    age(segment, 2 * DAY)
    assert reader.discard_consumed(checkpoint, older_than_s=DAY) == []
    assert [r.payload for r in reader.read(checkpoint).records] == [b"c"]


def test_a_live_writers_segment_is_never_deleted(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"a"])
    segment = only_segment(tmp_path)
    reader = SpoolReader(tmp_path)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    checkpoint.advance(reader.read(checkpoint).records)
    age(segment, 2 * DAY)  # e.g. a run that logs rarely
    assert reader.discard_consumed(checkpoint, older_than_s=DAY) == []
    writer.append([b"b"])  # and it can go on appending
    writer.close()
    assert [r.payload for r in reader.read(checkpoint).records] == [b"b"]


def test_old_damaged_segments_given_up_are_deleted(tmp_path: Path) -> None:
    segment, _ = consumed_segment(tmp_path, [b"a"])
    with open(segment, "ab") as tail:
        tail.write(frame(b"torn")[:5])
    reader = SpoolReader(tmp_path)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    result = reader.read(checkpoint)
    checkpoint.advance(result.records)
    checkpoint.skip(result.damage)
    age(segment, 2 * DAY)
    assert reader.discard_consumed(checkpoint, older_than_s=DAY) == [segment.name]
    assert checkpoint.offsets == {}
