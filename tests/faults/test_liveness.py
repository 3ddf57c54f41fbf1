"""The status of an unfinished run in runstream.runs: running, stalled, crashed or delayed.

Events are written to the spool with chosen times, so each case is exact and fast: a run
is overdue when its newest event is older than 3 heartbeat intervals plus a second.
"""

from __future__ import annotations

import time
import uuid

import pytest
import runstream
from runstream.settings import Settings
from runstream.spool import SpoolWriter
from runstream.wire import events_pb2 as pb
from support.counts import assert_exactly_once, spooled
from support.runs import store

INTERVAL_MS = 500
SECOND = 1_000_000_000


@pytest.fixture(autouse=True)
def _warm_store(runstream_dir: Settings) -> None:
    """Create the store (migrations, the engine's start) before a test dates its events:
    the statuses are read within a heartbeat timeout (2.5 s) of those dates."""
    with store(runstream_dir):
        pass


class _Run:
    """Envelopes of one synthetic run, with times relative to now."""

    def __init__(self, name: str, started_ago_s: float = 60.0) -> None:
        self.name = name
        self.run_id = uuid.uuid4().hex
        self.seq = 0
        self.envelopes = [
            self._wrap(
                -started_ago_s,
                run_started=pb.RunStarted(name=name, heartbeat_interval_ms=INTERVAL_MS),
            )
        ]

    def _wrap(self, at_s: float, **payload: object) -> pb.Envelope:
        self.seq += 1
        return pb.Envelope(
            event_id=uuid.uuid4().hex,
            project="tests",
            run_id=self.run_id,
            seq=self.seq,
            time_unix_nano=time.time_ns() + int(at_s * SECOND),
            **payload,  # type: ignore[arg-type]
        )

    def heartbeat(self, at_s: float, last_log_s: float | None = None, log_calls: int = 0) -> None:
        last_log = 0 if last_log_s is None else time.time_ns() + int(last_log_s * SECOND)
        self.envelopes.append(
            self._wrap(
                at_s,
                heartbeat=pb.Heartbeat(
                    interval_ms=INTERVAL_MS, last_log_unix_nano=last_log, log_calls=log_calls
                ),
            )
        )


def _statuses(
    settings: Settings, *runs: _Run, caught_up: bool = True
) -> dict[str, tuple[str, float]]:
    """Statuses after the spool is taken in; ``caught_up=False`` forgets that it was (as
    when the events came through a pipeline that has not caught up since)."""
    writer = SpoolWriter(settings.local_spool_dir)
    writer.append([envelope.SerializeToString() for run in runs for envelope in run.envelopes])
    writer.close()
    with store(settings) as client:
        if not caught_up:
            client.command("TRUNCATE TABLE runstream.pipeline_progress")
        rows = client.query("SELECT name, status, stalled_for_s FROM runstream.runs").result_rows
        assert_exactly_once(client, [envelope for run in runs for envelope in run.envelopes])
    return {name: (status, stalled_for) for name, status, stalled_for in rows}


def test_an_overdue_run_is_crashed_while_other_runs_events_arrive(runstream_dir: Settings) -> None:
    dead, alive = _Run("dead"), _Run("alive")
    dead.heartbeat(-10.0)
    alive.heartbeat(-0.2, last_log_s=-0.3, log_calls=10)
    statuses = _statuses(runstream_dir, dead, alive)
    assert statuses["dead"][0] == "crashed"
    assert statuses["alive"][0] == "running"


def test_when_no_events_arrive_for_anyone_overdue_runs_are_delayed_not_crashed(
    runstream_dir: Settings,
) -> None:
    first, second = _Run("first"), _Run("second")
    first.heartbeat(-10.0)
    second.heartbeat(-8.0)
    statuses = _statuses(runstream_dir, first, second, caught_up=False)
    assert statuses == {"first": ("delayed", 0.0), "second": ("delayed", 0.0)}


def test_a_lone_overdue_run_is_crashed_once_the_pipeline_has_caught_up(
    runstream_dir: Settings,
) -> None:
    lone = _Run("lone")
    lone.heartbeat(-10.0)
    assert _statuses(runstream_dir, lone)["lone"][0] == "crashed"


def test_a_run_that_beats_but_stopped_logging_is_stalled(runstream_dir: Settings) -> None:
    # Threshold: max(30 heartbeat intervals = 15 s, 10 x the mean log() interval).
    hung = _Run("hung", started_ago_s=70.0)
    hung.heartbeat(-0.1, last_log_s=-60.0, log_calls=100)  # logged every 0.1 s, then stopped
    busy = _Run("busy", started_ago_s=70.0)
    busy.heartbeat(-0.1, last_log_s=-0.3, log_calls=100)
    rare = _Run("rare", started_ago_s=1000.0)
    rare.heartbeat(-0.1, last_log_s=-60.0, log_calls=2)  # logs every ~470 s: not overdue
    statuses = _statuses(runstream_dir, hung, busy, rare)
    status, stalled_for = statuses["hung"]
    assert status == "stalled"
    assert 59.0 < stalled_for < 120.0
    assert statuses["busy"] == ("running", 0.0)
    assert statuses["rare"] == ("running", 0.0)


def test_a_run_that_never_logged_is_stalled_counting_from_its_start(
    runstream_dir: Settings,
) -> None:
    idle, fresh = _Run("idle", started_ago_s=30.0), _Run("fresh", started_ago_s=2.0)
    idle.heartbeat(-0.1)
    fresh.heartbeat(-0.1)
    statuses = _statuses(runstream_dir, idle, fresh)
    assert statuses["idle"][0] == "stalled"
    assert statuses["fresh"][0] == "running"


def test_the_newest_metric_row_time_counts_as_a_log_call(runstream_dir: Settings) -> None:
    run = _Run("logger", started_ago_s=70.0)
    run.heartbeat(-0.1)  # tells no log() (an older SDK, or before the first heartbeat)
    run.envelopes.append(
        run._wrap(
            -0.5,
            metrics=pb.MetricBatch(
                keys=["loss"],
                row_lengths=(1).to_bytes(4, "little"),
                steps=(0).to_bytes(8, "little"),
                time_unix_nano=(time.time_ns() - SECOND).to_bytes(8, "little"),
                key_index=(0).to_bytes(4, "little"),
                values=bytes(8),
            ),
        )
    )
    assert _statuses(runstream_dir, run)["logger"][0] == "running"


def test_an_sdk_run_whose_loop_hangs_is_stalled_then_running_when_it_logs_again(
    runstream_dir: Settings,
) -> None:
    # heartbeat_interval=0.2: stalled after 30 x 0.2 = 6 s without log() (heartbeats go on).
    with runstream.init(
        project="tests", name="hangs", heartbeat_interval=0.2, system_interval=None
    ) as run:
        for step in range(5):
            run.log({"loss": 1.0}, step=step)
        time.sleep(1.0)
        assert _sdk_status(runstream_dir) == ("running", 0.0)
        time.sleep(6.0)  # the main loop "hangs"; the recorder thread keeps beating
        status, stalled_for = _sdk_status(runstream_dir)
        assert status == "stalled"
        assert 6.0 < stalled_for < 30.0
        run.log({"loss": 0.5}, step=5)
        time.sleep(0.6)  # a flush and a heartbeat
        assert _sdk_status(runstream_dir) == ("running", 0.0)
    assert _sdk_status(runstream_dir) == ("finished", 0.0)
    assert run.report is not None and run.report.not_recorded == {}
    with store(runstream_dir) as client:
        counts = assert_exactly_once(client, spooled(runstream_dir.local_spool_dir))
    assert (counts["metrics"], counts["runs_started"], counts["runs_finished"]) == (6, 1, 1)


def _sdk_status(settings: Settings) -> tuple[str, float]:
    with store(settings) as client:
        row = client.query(
            "SELECT status, stalled_for_s FROM runstream.runs WHERE name='hangs'"
        ).result_rows[0]
    return row[0], row[1]
