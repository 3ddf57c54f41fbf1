"""Embedded mode's ingest under faults: replays, a killed trainer, invalid events, a torn or
corrupted segment, a checkpoint that cannot be saved. Each ends with exact counts per table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from runstream.settings import Settings
from runstream.spool import MAGIC, Checkpoint, SpoolReader, SpoolWriter
from runstream.wire import events_pb2 as pb
from support.counts import assert_exactly_once, spooled
from support.runs import make_run, scalar, snapshot, store
from support.small_disk import run_on_small_disk

POINTS_PER_RUN = 102  # make_run: 50 train steps of loss and accuracy, one eval step


def test_ingesting_the_same_spool_twice_changes_no_query_result(runstream_dir: Settings) -> None:
    make_run("alpha", lr=0.1)
    make_run("beta", lr=0.2)
    sent = spooled(runstream_dir.local_spool_dir)
    with store(runstream_dir) as client:
        before = snapshot(client)
        counts = assert_exactly_once(client, sent)
    checkpoint = runstream_dir.local_spool_dir / "checkpoints" / "store.json"
    checkpoint.unlink()
    with store(runstream_dir) as client:
        after = snapshot(client)
        assert assert_exactly_once(client, sent) == counts
    assert after == before
    assert counts["metrics"] == 2 * POINTS_PER_RUN and counts["runs_finished"] == 2


def test_a_killed_training_process_shows_as_crashed(runstream_dir: Settings) -> None:
    script = textwrap.dedent("""
        import os, signal, time, runstream
        run = runstream.init(project="tests", name="doomed", heartbeat_interval=0.5,
                             system_interval=None)
        for step in range(100):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        time.sleep(1.0)  # the recorder flushes every 0.2 s: these points reach the spool
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), timeout=60)
    assert done.returncode == -signal.SIGKILL
    # Overdue (3 heartbeats and a second) after the spool was taken in whole: the pipeline
    # delivered everything there was, so the process is what stopped.
    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        with store(runstream_dir) as client:
            status = scalar(client, "SELECT status FROM runstream.runs WHERE name='doomed'")
        if status == "crashed":
            break
        time.sleep(0.5)
    assert status == "crashed"
    with store(runstream_dir) as client:
        counts = assert_exactly_once(client, spooled(runstream_dir.local_spool_dir))
    assert (counts["metrics"], counts["runs_started"], counts["runs_finished"]) == (100, 1, 0)


def _spool_write(settings: Settings, payloads: list[bytes]) -> None:
    writer = SpoolWriter(settings.local_spool_dir)
    writer.append(payloads)
    writer.close()


def test_invalid_events_become_dead_letters_with_their_reason(runstream_dir: Settings) -> None:
    make_run("alpha", lr=0.1)
    sent = spooled(runstream_dir.local_spool_dir)
    orphan = pb.Envelope(
        event_id="c" * 32,
        project="tests",
        run_id="d" * 32,
        seq=1,
        time_unix_nano=time.time_ns(),
        heartbeat=pb.Heartbeat(interval_ms=10),
    )
    _spool_write(runstream_dir, [b"not an envelope", orphan.SerializeToString()])
    with store(runstream_dir) as client:
        letters = client.query(
            "SELECT reason, payload FROM runstream.dead_letters ORDER BY reason",
            column_formats={"payload": "bytes"},
        ).result_rows
        counts = assert_exactly_once(client, sent, {"malformed": 1, "unknown_run": 1})
    assert counts["metrics"] == POINTS_PER_RUN
    assert [reason for reason, _ in letters] == ["malformed", "unknown_run"]
    assert letters[0][1] == b"not an envelope"


def test_a_torn_segment_is_reported_and_the_rest_is_kept(runstream_dir: Settings) -> None:
    make_run("alpha", lr=0.1)
    sent = spooled(runstream_dir.local_spool_dir)
    segment = next(Path(runstream_dir.local_spool_dir).glob("*.seg"))
    with open(segment, "ab") as damaged:
        damaged.write(b"\x10\x00\x00\x00garbage")
    with store(runstream_dir) as client:
        counts = assert_exactly_once(client, sent, {"spool_damage": 1})
    assert counts["metrics"] == POINTS_PER_RUN


def test_a_corrupted_record_is_a_dead_letter_and_the_records_after_it_are_kept(
    runstream_dir: Settings,
) -> None:
    make_run("alpha", lr=0.1)
    spool = Path(runstream_dir.local_spool_dir)
    [segment] = spool.glob("*.seg")
    records = SpoolReader(spool).read(Checkpoint(spool / "probe.json")).records
    starts = [len(MAGIC)] + [record.next_offset for record in records]
    metrics = next(
        index
        for index, record in enumerate(records)
        if pb.Envelope.FromString(record.payload).HasField("metrics")
    )
    data = bytearray(segment.read_bytes())
    data[starts[metrics] + 20] ^= 0xFF  # inside the first metric batch's payload
    segment.write_bytes(bytes(data))
    survivors = [
        pb.Envelope.FromString(record.payload)
        for index, record in enumerate(records)
        if index != metrics
    ]

    with store(runstream_dir) as client:
        [(reason, detail)] = client.query(
            "SELECT reason, detail FROM runstream.dead_letters"
        ).result_rows
        counts = assert_exactly_once(client, survivors, {"spool_damage": 1})
    assert reason == "spool_damage" and "skipped to the next intact record" in detail
    assert counts["runs_finished"] == 1, "the records after the damaged one were taken in"
    assert 0 < counts["metrics"] < POINTS_PER_RUN


def test_a_checkpoint_that_cannot_be_saved_is_one_clear_error_and_a_rerun_resumes(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    """The checkpoint directory on a real, full 256 KiB file system: the CLI names the
    problem (no traceback, exit 1); what was taken in stays, and once there is room again
    the next command replays the chunk harmlessly."""
    for index in range(2):
        make_run(f"run-{index}", lr=0.1 * (index + 1))
    sent = spooled(runstream_dir.local_spool_dir)
    out = tmp_path / "out"
    out.mkdir()
    cli = f"{sys.executable} -m runstream_processors.cli.main"
    script = f"""
        fill "$MOUNT_POINT/filler"
        {cli} runs --format json > {out}/full.out 2> {out}/full.err; echo $? > {out}/full.rc
        rm "$MOUNT_POINT/filler"
        {cli} runs --format json > {out}/free.out 2> {out}/free.err; echo $? > {out}/free.rc
        cp "$MOUNT_POINT/store.json" {out}/checkpoint.json
    """
    checkpoints = runstream_dir.local_spool_dir / "checkpoints"
    done = run_on_small_disk(checkpoints, textwrap.dedent(script), size="256k")
    assert done.returncode == 0, done.stderr

    full_err = (out / "full.err").read_text()
    assert (out / "full.rc").read_text().strip() == "1", full_err
    assert "Traceback" not in full_err and "Exception ignored" not in full_err, full_err
    assert "cannot save the spool checkpoint" in full_err, full_err
    assert "No space left on device" in full_err and "run it again" in full_err, full_err
    assert f"the {len(sent)} events taken in so far are in the store" in full_err, full_err
    assert (out / "free.rc").read_text().strip() == "0", (out / "free.err").read_text()
    assert (out / "checkpoint.json").stat().st_size > 2, "saved once there was room"

    with store(runstream_dir) as client:  # the mount is gone: a third, full replay
        counts = assert_exactly_once(client, sent)
    assert counts["metrics"] == 2 * POINTS_PER_RUN and counts["runs_finished"] == 2
