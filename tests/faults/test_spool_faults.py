"""The spool under bad input and faults: it loses at most the damaged bytes, and never stops.

A damaged segment header, strangers in the spool directory (a directory named ``*.seg``,
a file it may not read, another user's file), a malformed checkpoint and a full disk:
each must cost no more than the bytes that are actually gone, and never an exception.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import runstream
from runstream import spool as spool_module
from runstream.settings import Settings
from runstream.spool import (
    MAGIC,
    Checkpoint,
    FailureWarnings,
    SegmentDamage,
    SpoolReader,
    SpoolWriter,
    frame,
)
from runstream_processors.ingest.pending import CONSUMER
from runstream_processors.ingest.spool import ingest_spool
from runstream_processors.store.connection import open_store
from support.counts import assert_exactly_once, spooled
from support.runs import make_run, scalar, store
from support.small_disk import run_on_small_disk

DISK_FULL_JOB = Path(__file__).with_name("disk_full_job.py")

POINTS_PER_RUN = 50 * 2 + 2  # make_run: 50 train steps of loss and accuracy, one eval step


def corrupt(segment: Path, offset: int) -> None:
    data = bytearray(segment.read_bytes())
    data[offset] ^= 0xFF
    segment.write_bytes(bytes(data))


def one_segment_of(directory: Path, records: list[bytes]) -> Path:
    writer = SpoolWriter(directory, fsync=False)
    writer.append(records)
    writer.close()
    [segment] = SpoolReader(directory).segments()
    return segment


def metric_rows(client: object) -> int:
    return int(scalar(client, "SELECT count() FROM runstream.metrics"))


# -- a damaged header -------------------------------------------------------------------


def test_a_damaged_header_costs_only_the_header(tmp_path: Path) -> None:
    records = [b"record-%d" % i for i in range(10)]
    segment = one_segment_of(tmp_path, records)
    corrupt(segment, 3)

    reader, checkpoint = SpoolReader(tmp_path), Checkpoint(tmp_path / "cp.json")
    result = reader.read(checkpoint)
    assert [r.payload for r in result.records] == records, "every record is read back"
    assert result.damage == [
        SegmentDamage(segment.name, 0, "damaged segment header", resumes_at=len(MAGIC))
    ]
    assert "8 bytes skipped to the next intact record" in result.damage[0].describe()

    checkpoint.advance(result.records)
    checkpoint.skip(result.damage)
    again = reader.read(checkpoint)
    assert (again.records, again.damage) == ([], []), "damage is reported once, then skipped"


def test_a_damaged_header_and_first_record_cost_just_those_bytes(tmp_path: Path) -> None:
    records = [b"record-%d" % i for i in range(10)]
    segment = one_segment_of(tmp_path, records)
    corrupt(segment, 0)
    corrupt(segment, len(MAGIC) + 8 + 1)  # inside the first record's payload

    result = SpoolReader(tmp_path).read(Checkpoint(tmp_path / "cp.json"))
    assert [r.payload for r in result.records] == records[1:]
    [damage] = result.damage
    assert (damage.offset, damage.resumes_at) == (0, len(MAGIC) + len(frame(records[0])))


def test_a_damaged_header_of_a_live_writer_waits_for_an_intact_record(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"a"])
    [segment] = SpoolReader(tmp_path).segments()
    corrupt(segment, 0)
    corrupt(segment, len(MAGIC) + 8)  # b"a" too: nothing intact yet
    reader, checkpoint = SpoolReader(tmp_path), Checkpoint(tmp_path / "cp.json")
    assert reader.read(checkpoint).damage == []
    writer.append([b"b"])
    writer.close()
    result = reader.read(checkpoint)
    assert [r.payload for r in result.records] == [b"b"]
    assert [(d.offset, d.resumes_at) for d in result.damage] == [(0, len(MAGIC) + 9)]


# -- strangers in the spool directory ---------------------------------------------------


def skip_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [m for r in caplog.records if "skipping" in (m := r.getMessage())]


def test_what_is_not_a_readable_segment_is_skipped_with_one_warning(
    runstream_dir: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="runstream")
    make_run("before", 0.1)
    spool_dir = runstream_dir.local_spool_dir
    (spool_dir / "x.seg").mkdir()
    (spool_dir / "link.seg").symlink_to(spool_dir / "x.seg")
    unreadable = spool_dir / f"{1:020d}-1-unreadab.seg"
    unreadable.write_bytes(MAGIC + frame(b"not yours to read"))
    if os.geteuid() == 0:  # root reads anything: fail the open as a permission would
        real_open = open

        def refusing_open(file: object, *args: object, **kwargs: object) -> object:
            if Path(str(file)) == unreadable:
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(spool_module, "open", refusing_open, raising=False)
        foreign = spool_dir / f"{2:020d}-1-stranger.seg"
        foreign.write_bytes(MAGIC + frame(b"someone else's"))
        os.chown(foreign, 54321, 54321)
    else:
        unreadable.chmod(0)

    with store(runstream_dir) as client:
        assert metric_rows(client) == POINTS_PER_RUN
    make_run("after", 0.2)
    with store(runstream_dir) as client:  # a second pass: the same strangers, no new warning
        assert metric_rows(client) == 2 * POINTS_PER_RUN
        assert scalar(client, "SELECT count() FROM runstream.dead_letters") == 0

    warnings = skip_warnings(caplog)
    expected = 4 if os.geteuid() == 0 else 3
    assert len(warnings) == expected, warnings
    assert len({w.split(" in the spool")[0] for w in warnings}) == expected, "one per path"
    assert (spool_dir / "x.seg").is_dir() and unreadable.exists(), "left alone, not deleted"


def test_a_segment_deleted_while_listed_is_not_an_error(tmp_path: Path) -> None:
    segment = one_segment_of(tmp_path, [b"a"])
    reader = SpoolReader(tmp_path)
    listed = reader.segments()
    segment.unlink()
    reader.segments = lambda: listed  # type: ignore[method-assign]
    checkpoint = Checkpoint(tmp_path / "cp.json")
    assert reader.read(checkpoint).records == []
    assert reader.pending_bytes(checkpoint) == 0
    assert reader.discard_consumed(checkpoint, older_than_s=0.0) == []


# -- a malformed checkpoint -------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [b"{not json", b"[1, 2]", b'{"a.seg": "x"}', b"\xff\xfe", b""],
    ids=["syntax", "not-an-object", "not-an-offset", "not-utf8", "empty"],
)
def test_a_malformed_checkpoint_is_rebuilt_losing_and_doubling_nothing(
    runstream_dir: Settings, caplog: pytest.LogCaptureFixture, damage: bytes
) -> None:
    caplog.set_level(logging.WARNING, logger="runstream")
    make_run("first", 0.1)
    with store(runstream_dir) as client:
        assert metric_rows(client) == POINTS_PER_RUN
    path = runstream_dir.local_spool_dir / "checkpoints" / f"{CONSUMER}.json"
    assert path.exists()
    path.write_bytes(damage)
    make_run("second", 0.2)

    with open_store(runstream_dir, "tests") as client:
        report = ingest_spool(client, runstream_dir.local_spool_dir)
        assert report.duplicates > 0, "the first run was replayed ..."
        assert metric_rows(client) == 2 * POINTS_PER_RUN, "... and deduplicated"
        assert report.dead_letters == 0
        assert_exactly_once(client, spooled(runstream_dir.local_spool_dir))
    [aside] = path.parent.glob(f"{CONSUMER}.json.damaged-*")
    assert aside.read_bytes() == damage, "the damaged file is kept for a post-mortem"
    assert any("rebuilt" in r.getMessage() for r in caplog.records)
    assert Checkpoint.load(runstream_dir.local_spool_dir, CONSUMER).offsets, "saved anew"


# -- a full disk ------------------------------------------------------------------------


class DiskFull:
    """Makes the spool's writes fail with ENOSPC while ``full``, after writing half the data
    (a torn write, as when the disk fills in the middle of one)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        self.failures = 0
        real = spool_module._write_all

        def write_all(fd: int, data: bytes) -> None:
            if self.full:
                self.failures += 1
                os.write(fd, data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
            real(fd, data)

        monkeypatch.setattr(spool_module, "_write_all", write_all)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_failed_append_leaves_no_torn_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = DiskFull(monkeypatch)
    writer = SpoolWriter(tmp_path, fsync=False)
    writer.append([b"before"])
    disk.full = True
    for _ in range(3):
        with pytest.raises(OSError) as failed:
            writer.append([b"x" * 1000, b"y" * 1000])
        assert failed.value.errno == errno.ENOSPC and spool_module.is_disk_full(failed.value)
    disk.full = False
    writer.append([b"x" * 1000, b"y" * 1000])
    writer.close()
    result = SpoolReader(tmp_path).read(Checkpoint(tmp_path / "cp.json"))
    assert result.damage == [], "the torn bytes were cut before the retry"
    assert [r.payload for r in result.records] == [b"before", b"x" * 1000, b"y" * 1000]


def test_a_full_disk_at_a_new_segment_leaves_no_half_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = DiskFull(monkeypatch)
    disk.full = True
    writer = SpoolWriter(tmp_path, fsync=False)
    with pytest.raises(OSError, match="cannot create a spool segment"):
        writer.append([b"x"])
    assert list(tmp_path.glob("*.seg")) == []
    disk.full = False
    writer.append([b"x"])
    writer.close()
    assert [r.payload for r in SpoolReader(tmp_path).read(Checkpoint(tmp_path / "c")).records] == [
        b"x"
    ]


def test_a_run_outlives_a_full_disk_with_few_warnings_and_loses_nothing(
    runstream_dir: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="runstream")
    disk = DiskFull(monkeypatch)
    with runstream.init(
        project="tests", name="full-disk", system_interval=None, flush_interval=0.02
    ) as run:
        run.log({"loss": 1.0}, step=0)
        wait_for(lambda: bool(list(runstream_dir.local_spool_dir.glob("*.seg"))), "a segment")
        disk.full = True
        for step in range(1, 200):
            run.log({"loss": 1.0 / step, "accuracy": step / 200}, step=step)
            if step % 20 == 0:
                wanted = step // 20
                wait_for(lambda: disk.failures >= wanted, "a failed write")  # noqa: B023
        wait_for(lambda: disk.failures >= 20, "many failed writes")
        disk.full = False
    logged = 1 + 2 * 199

    assert run.report is not None and run.report.not_recorded == {}, run.report
    with store(runstream_dir) as client:
        counts = assert_exactly_once(client, spooled(runstream_dir.local_spool_dir))
    assert counts["metrics"] == logged, "every point landed exactly once"
    assert counts["runs_finished"] == 1
    messages = [m for r in caplog.records if "to the spool" in (m := r.getMessage())]
    assert len(messages) == 2, messages  # started failing; works again (not one per attempt)
    assert "disk is full" in messages[0] and "works again" in messages[1]


def test_failure_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="runstream")
    now = [0.0]
    warnings = FailureWarnings("writing", every_s=30.0, clock=lambda: now[0])
    for _ in range(500):  # 100 s of a failure every 0.2 s
        warnings.failed(OSError(errno.ENOSPC, "No space left on device"))
        now[0] += 0.2
    warnings.succeeded()
    warnings.succeeded()  # nothing to say: it was not failing
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 5, messages  # at 0, 30, 60 and 90 s, and once recovered
    assert "still failing (the disk is full): " in messages[1] and "attempts" in messages[1]
    assert "works again after 500 failed attempts" in messages[-1]


# -- a real full disk (a tmpfs in a user namespace; skipped, with the reason, where the
# kernel forbids one) --------------------------------------------------------------------

TEARS_NO_RECORD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runstream import spool
    from runstream.spool import Checkpoint, SpoolReader, SpoolWriter

    disk = Path(sys.argv[1])
    writer = SpoolWriter(disk / "spool")  # fsync on, as in training
    writer.append([b"before-%d" % i for i in range(10)])
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(bytes(4096))
        except OSError:
            pass
    batch = [b"%d:" % i + b"z" * 16_000 for i in range(8)]  # more than the room left
    for _ in range(3):
        try:
            writer.append(batch)
        except OSError as failed:
            assert spool.is_disk_full(failed), failed
        else:
            sys.exit("an append to a full disk succeeded")
    filler.unlink()  # space returns
    writer.append(batch)
    writer.close()
    result = SpoolReader(disk / "spool").read(Checkpoint(disk / "cp.json"))
    assert result.damage == [], f"torn bytes: false damage {result.damage}"
    expected = [b"before-%d" % i for i in range(10)] + batch
    assert [r.payload for r in result.records] == expected, "records lost or changed"
    print("ok")
    """
)


def test_a_real_full_disk_tears_no_record(tmp_path: Path) -> None:
    script = f'exec {sys.executable} -c "$1" "$MOUNT_POINT"'
    done = run_on_small_disk(tmp_path / "disk", script, args=(TEARS_NO_RECORD,))
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_a_run_on_a_real_full_disk_resumes_and_loses_nothing(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    """RUNSTREAM_DIR on a 2 MiB tmpfs that fills mid-run: the run goes on, warns twice, and
    once room returns every event lands exactly once; finish() says nothing was lost."""
    out = tmp_path / "out"
    out.mkdir()
    disk = tmp_path / "disk"
    env = {**os.environ, "RUNSTREAM_DIR": str(disk / "rs")}
    done = run_on_small_disk(
        disk,
        f'exec {sys.executable} {DISK_FULL_JOB} "$MOUNT_POINT" {out}',
        size="2m",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    report, spool_warnings = result["report"], result["warnings"]
    assert report["status"] == "finished" and report["not_recorded"] == {}, report
    assert report["points"] == 1 + 2 * 199
    assert len(spool_warnings) == 2, spool_warnings  # started failing; works again
    assert "disk is full" in spool_warnings[0] and "works again" in spool_warnings[1]

    sent = spooled(out / "spool")
    shutil.copytree(out / "spool", runstream_dir.local_spool_dir)
    with store(runstream_dir) as client:
        counts = assert_exactly_once(client, sent)
    assert counts["metrics"] == report["points"]
    assert (counts["runs_started"], counts["runs_finished"]) == (1, 1)
