"""Embedded mode end to end: SDK → spool → validation → chdb, through real files and engine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import runstream
from runstream.settings import Settings
from runstream.spool import MAGIC, Checkpoint, SpoolReader, SpoolWriter
from runstream.wire import events_pb2 as pb
from runstream_processors.errors import StoreBusyError
from runstream_processors.ingest.spool import ingest_spool
from runstream_processors.store.connection import open_store
from runstream_processors.store.lock import StoreLock
from support.runs import make_run, scalar, snapshot, store

CONFIG = "WHERE key != 'runstream.redacted'"
"""The params of the config: the count of redactions depends on this machine's environment and
checkout (a CI token in the environment, a secret in an uncommitted change)."""


def test_group_and_job_type_reach_the_run_row(runstream_dir: Settings) -> None:
    with runstream.init(
        project="tests",
        group="sweep-7",
        job_type="train",
        capture_code=False,
        capture_env=False,
        system_interval=None,
    ):
        pass
    with store(runstream_dir) as client:
        rows = client.query("SELECT run_group, job_type FROM runstream.runs_started").result_rows
    assert rows == [("sweep-7", "train")]


@pytest.mark.parametrize(
    ("field", "value"), [("group", "g\ud800"), ("job_type", "x" * 257), ("group", 3)]
)
def test_a_bad_group_or_job_type_is_refused_at_init_by_name(
    runstream_dir: Settings, field: str, value: object
) -> None:
    with pytest.raises(runstream.InvalidInputError, match=field):
        runstream.init(project="tests", capture_code=False, **{field: value})


def test_a_run_lands_in_every_table(runstream_dir: Settings) -> None:
    run_id = make_run("alpha", lr=0.1, steps=50)
    with store(runstream_dir) as client:
        assert (
            scalar(
                client, "SELECT count() FROM runstream.metrics WHERE run_id={r:String}", r=run_id
            )
            == 102
        )
        assert (
            scalar(client, "SELECT status FROM runstream.runs WHERE run_id={r:String}", r=run_id)
            == "finished"
        )
        params = dict(
            client.query(f"SELECT key, value_type FROM runstream.params {CONFIG}").result_rows
        )
        assert params == {"lr": "number", "layers": "text"}
        final = client.query(
            "SELECT metric, last_value, last_step FROM runstream.run_metrics "
            "WHERE metric='eval.accuracy'"
        ).result_rows
        assert final == [("eval.accuracy", pytest.approx(0.91), 49)]
        correct = client.query(
            "SELECT sample_id, correct FROM runstream.samples ORDER BY idx"
        ).result_rows
        assert correct == [("0", True), ("1", False)]
        assert (
            scalar(
                client, "SELECT value_text FROM runstream.run_summary WHERE key='final_accuracy'"
            )
            == "0.91"
        )
        assert scalar(client, "SELECT count() FROM runstream.packages WHERE name='pytest'") == 1


def test_ingesting_the_same_spool_twice_changes_no_query_result(runstream_dir: Settings) -> None:
    make_run("alpha", lr=0.1)
    make_run("beta", lr=0.2)
    with store(runstream_dir) as client:
        before = snapshot(client)
    checkpoint = runstream_dir.local_spool_dir / "checkpoints" / "store.json"
    checkpoint.unlink()
    with store(runstream_dir) as client:
        after = snapshot(client)
    assert after == before
    assert before["metrics"] == 2 * 102


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
            points = scalar(client, "SELECT count() FROM runstream.metrics")
        if status == "crashed":
            break
        time.sleep(0.5)
    assert status == "crashed"
    assert points == 100


def _spool_write(settings: Settings, payloads: list[bytes]) -> None:
    writer = SpoolWriter(settings.local_spool_dir)
    writer.append(payloads)
    writer.close()


def test_invalid_events_become_dead_letters_with_their_reason(runstream_dir: Settings) -> None:
    make_run("alpha", lr=0.1)
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
        assert scalar(client, "SELECT count() FROM runstream.metrics") == 102
    assert [reason for reason, _ in letters] == ["malformed", "unknown_run"]
    assert letters[0][1] == b"not an envelope"


def test_a_torn_segment_is_reported_and_the_rest_is_kept(runstream_dir: Settings) -> None:
    make_run("alpha", lr=0.1)
    segment = next(Path(runstream_dir.local_spool_dir).glob("*.seg"))
    with open(segment, "ab") as damaged:
        damaged.write(b"\x10\x00\x00\x00garbage")
    with store(runstream_dir) as client:
        reasons = [
            row[0] for row in client.query("SELECT reason FROM runstream.dead_letters").result_rows
        ]
        assert scalar(client, "SELECT count() FROM runstream.metrics") == 102
    assert reasons == ["spool_damage"]


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

    with store(runstream_dir) as client:
        letters = client.query("SELECT reason, detail FROM runstream.dead_letters").result_rows
        metric_points = scalar(client, "SELECT count() FROM runstream.metrics")
        finished = scalar(client, "SELECT count() FROM runstream.runs_finished")
    [(reason, detail)] = letters
    assert reason == "spool_damage" and "skipped to the next intact record" in detail
    assert finished == 1, "the records after the damaged one were taken in"
    assert 0 < metric_points < 102


def test_a_config_split_over_several_envelopes_is_stored_whole(runstream_dir: Settings) -> None:
    config = {f"text{i}": "x" * 60_000 for i in range(40)} | {f"k{i}": i for i in range(3_000)}
    with runstream.init(project="tests", name="wide", config=config, system_interval=None):
        pass
    with store(runstream_dir) as client:
        stored = scalar(client, f"SELECT count() FROM runstream.params {CONFIG}")
        dead = scalar(client, "SELECT count() FROM runstream.dead_letters")
        status = scalar(client, "SELECT status FROM runstream.runs")
    assert (stored, dead, status) == (len(config), 0, "finished")


def test_a_second_owner_waits_then_gets_a_clear_error(runstream_dir: Settings) -> None:
    with StoreLock(runstream_dir.store_dir, "a long query") as lock:
        lock.acquire(timeout=1)
        with (
            pytest.raises(StoreBusyError, match=r"in use by process \d+ \(a long query\)"),
            open_store(runstream_dir, "tests", lock_wait=0.3),
        ):
            pass


def test_a_busy_store_says_so_at_once_then_waits(
    runstream_dir: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    told: list[tuple[float, str]] = []
    with StoreLock(runstream_dir.store_dir, "a long query") as lock:
        lock.acquire(timeout=1)
        second = StoreLock(runstream_dir.store_dir, "tests")
        started = time.monotonic()
        with pytest.raises(StoreBusyError):
            second.acquire(1.0, on_wait=lambda m: told.append((time.monotonic() - started, m)))
        waited = time.monotonic() - started
        [(after, message)] = told
        assert after < 0.5 and waited >= 1.0, "told first, then waited the whole time"
        assert re.search(r"in use by process \d+ \(a long query\); waiting up to 1s", message)
        with pytest.raises(StoreBusyError), open_store(runstream_dir, "tests", lock_wait=0.3):
            pass
    assert "(a long query); waiting up to 0.3s" in capsys.readouterr().err  # by default


def test_consumed_segments_are_deleted_after_the_retention_window(runstream_dir: Settings) -> None:
    make_run("alpha", lr=0.1)
    spool = runstream_dir.local_spool_dir
    with open_store(runstream_dir, "tests") as client:
        ingest_spool(client, spool, retention_s=3600)
        assert len(list(spool.glob("*.seg"))) == 1, "recent segments are kept for replays"
        ingest_spool(client, spool, retention_s=0)
        assert list(spool.glob("*.seg")) == []
        assert scalar(client, "SELECT count() FROM runstream.metrics") == 102
