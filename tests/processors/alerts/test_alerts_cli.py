"""Alerts as the CLI shows them, and the time-driven ones (stalled, crashed) it records."""

from __future__ import annotations

import json
import math
import time
import uuid

import runstream
from click.testing import CliRunner
from runstream.settings import Settings
from runstream.spool import SpoolWriter
from runstream.wire import events_pb2 as pb
from runstream_processors.cli.main import cli

SECOND = 1_000_000_000


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_runs_counts_alerts_and_show_lists_them(runstream_dir: Settings) -> None:
    with runstream.init(project="alerts", name="nan", system_interval=None) as run:
        run.log({"loss": 1.0}, step=0)
        run.log({"loss": math.nan}, step=1)
    with runstream.init(project="alerts", name="fine", system_interval=None) as run:
        run.log({"loss": 1.0}, step=0)
    runs = {row["name"]: row for row in json.loads(invoke("runs", "--format", "json"))}
    assert (runs["nan"]["alerts"], runs["fine"]["alerts"]) == (1, 0)
    assert "alerts" in invoke("runs").splitlines()[2], "a column of the table's header"
    shown = json.loads(invoke("show", "nan", "--format", "json"))["alerts"]
    assert [(a["rule"], a["severity"], a["metric"], a["step"]) for a in shown] == [
        ("nonfinite", "critical", "loss", 1),
        ("finished", "info", "", 0),
    ]


def _envelope(run_id: str, seq: int, at_s: float, **payload: object) -> bytes:
    return pb.Envelope(
        event_id=uuid.uuid4().hex,
        project="alerts",
        run_id=run_id,
        seq=seq,
        time_unix_nano=time.time_ns() + int(at_s * SECOND),
        **payload,  # type: ignore[arg-type]
    ).SerializeToString()


def _unfinished(name: str, beat_at_s: float, last_log_s: float) -> list[bytes]:
    """A run started 3000 s ago, with one heartbeat (every 30 s) and log() activity: stalled
    after 900 s without log(), crashed 91 s after its last beat (long, so that a slow
    machine's ingest does not turn a stalled run into a crashed one)."""
    run_id = uuid.uuid4().hex
    started = pb.RunStarted(name=name, heartbeat_interval_ms=30_000)
    beat = pb.Heartbeat(
        interval_ms=30_000,
        last_log_unix_nano=time.time_ns() + int(last_log_s * SECOND),
        log_calls=100,
    )
    return [
        _envelope(run_id, 1, -3000.0, run_started=started),
        _envelope(run_id, 2, beat_at_s, heartbeat=beat),
    ]


def test_stalled_and_crashed_runs_become_alerts_once(runstream_dir: Settings) -> None:
    hung = _unfinished("hung", beat_at_s=-0.1, last_log_s=-2000.0)
    dead = _unfinished("dead", beat_at_s=-200.0, last_log_s=-200.0)
    busy = _unfinished("busy", beat_at_s=-0.1, last_log_s=-0.2)
    writer = SpoolWriter(runstream_dir.local_spool_dir)
    writer.append(hung + dead + busy)
    writer.close()
    for _ in range(2):  # asking again records nothing twice
        runs = {row["name"]: row for row in json.loads(invoke("runs", "--format", "json"))}
    assert {name: (row["status"], row["alerts"]) for name, row in runs.items()} == {
        "hung": ("stalled", 1),
        "dead": ("crashed", 1),
        "busy": ("running", 0),
    }
    hung_alert = json.loads(invoke("show", "hung", "--format", "json"))["alerts"][0]
    assert (hung_alert["rule"], hung_alert["severity"]) == ("stalled", "warning")
    assert "no log() for 200" in hung_alert["message"]
    dead_alert = json.loads(invoke("show", "dead", "--format", "json"))["alerts"][0]
    assert (dead_alert["rule"], dead_alert["severity"]) == ("crashed", "critical")
