"""Embedded mode end to end: SDK → spool → validation → chdb, through real files and engine."""

from __future__ import annotations

import re
import time

import pytest
import runstream
from runstream.settings import Settings
from runstream_processors.errors import StoreBusyError
from runstream_processors.ingest.spool import ingest_spool
from runstream_processors.store.connection import open_store
from runstream_processors.store.lock import StoreLock
from support.runs import make_run, scalar, store

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
