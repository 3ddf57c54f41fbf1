"""Alerts found in the stream: real SDK runs, the real embedded store, real replays."""

from __future__ import annotations

import math
from typing import Any

import runstream
from runstream.settings import Settings
from runstream_processors.ingest.spool import ingest_spool
from support.runs import store


def _alerts(client: Any, run_id: str) -> list[tuple[Any, ...]]:
    return client.query(
        "SELECT rule, severity, metric, step, message FROM runstream.run_alerts "
        "WHERE run_id = {run:String} ORDER BY rule, metric, step",
        parameters={"run": run_id},
    ).result_rows


def _diverging_run(blow_up_at: int = 30, steps: int = 40) -> str:
    """Loss falls, then climbs to 1e39 (each point x1e6 the last): what the issue saw."""
    with runstream.init(project="alerts", name="diverging", system_interval=None) as run:
        for step in range(steps):
            loss = 2.0 / (1 + step) if step < blow_up_at else 10.0 ** (6 * (step - blow_up_at))
            run.log({"loss": min(loss, 1e39), "accuracy": 0.5}, step=step, split="train")
        return run.id


def test_a_loss_climbing_to_1e39_raises_one_divergence_alert(runstream_dir: Settings) -> None:
    run_id = _diverging_run()
    with store(runstream_dir) as client:
        found = _alerts(client, run_id)
    rules = [row[0] for row in found]
    assert rules == ["divergence", "finished"]
    _, severity, metric, step, message = found[0]
    assert (severity, metric) == ("critical", "train.loss")
    assert step == 31, "the first point far above the minimum (x1e6 at step 31)"
    assert "diverged" in message
    assert found[1][1] == "info", "a run that finished is an info alert"


def test_a_slowly_rising_loss_diverges_after_several_points_above_its_minimum(
    runstream_dir: Settings,
) -> None:
    with runstream.init(project="alerts", system_interval=None) as run:
        losses = [1.0, 0.5, 0.2, 0.3, 1.0, 3.0, 2.5, 4.0, 6.0, 8.0]
        for step, loss in enumerate(losses):
            run.log({"val_loss": loss}, step=step)
        run_id = run.id
    with store(runstream_dir) as client:
        found = [row for row in _alerts(client, run_id) if row[0] == "divergence"]
    # min 0.2: above 10x (2.0) and above the first value (1.0) from step 5 on; 3 in a row at 7
    assert [(row[2], row[3]) for row in found] == [("val_loss", 5)]


def test_a_healthy_run_raises_no_metric_alert(runstream_dir: Settings) -> None:
    with runstream.init(project="alerts", system_interval=None) as run:
        for step in range(200):
            noisy = 1.0 / (1 + step) * (1.5 if step % 7 == 0 else 1.0)
            run.log({"loss": noisy, "grad_norm": 10.0 ** (step % 5)}, step=step)
        run_id = run.id
    with store(runstream_dir) as client:
        assert [row[0] for row in _alerts(client, run_id)] == ["finished"]


def test_nan_raises_one_nonfinite_alert_per_metric(runstream_dir: Settings) -> None:
    with runstream.init(project="alerts", system_interval=None) as run:
        for step in range(20):
            bad = step >= 10
            run.log({"loss": math.nan if bad else 1.0, "acc": math.inf if step == 15 else 0.5})
        run_id = run.id
    with store(runstream_dir) as client:
        found = [row for row in _alerts(client, run_id) if row[0] == "nonfinite"]
    assert [(row[1], row[2], row[3]) for row in found] == [
        ("critical", "acc", 15),
        ("critical", "loss", 10),
    ]
    assert "nan" in found[1][4]


def test_replaying_the_spool_records_each_alert_once(runstream_dir: Settings) -> None:
    diverging = _diverging_run()
    with runstream.init(project="alerts", system_interval=None) as run:
        run.log({"loss": 1.0})
        run.log({"loss": math.nan})
        nan_run = run.id
    with store(runstream_dir) as client:
        before = _alerts(client, diverging) + _alerts(client, nan_run)
        assert len(before) == 4
        checkpoint = runstream_dir.local_spool_dir / "checkpoints" / "store.json"
        checkpoint.unlink()
        ingest_spool(client, runstream_dir.local_spool_dir)  # the state says: seen
        assert _alerts(client, diverging) + _alerts(client, nan_run) == before
        client.command("TRUNCATE TABLE runstream.alert_state")
        checkpoint.unlink()
        ingest_spool(client, runstream_dir.local_spool_dir)  # state lost: found again, same ids
        assert _alerts(client, diverging) + _alerts(client, nan_run) == before
        stored = client.query("SELECT count(DISTINCT alert_id) FROM runstream.alerts")
        assert stored.result_rows[0][0] == 4


def test_a_failed_run_is_a_critical_finish_alert(runstream_dir: Settings) -> None:
    try:
        with runstream.init(project="alerts", system_interval=None) as run:
            run.log({"loss": 1.0})
            run_id = run.id
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with store(runstream_dir) as client:
        assert [row[:2] for row in _alerts(client, run_id)] == [("finished", "critical")]
        assert _alerts(client, run_id)[0][4] == "run failed"


def test_alerts_do_not_depend_on_how_points_are_batched(runstream_dir: Settings) -> None:
    """Healthy stretches take the vectorized path, suspicious ones the point-by-point one:
    the same series cut into batches of 1, 7 or all points finds the same alerts."""
    import uuid

    from runstream.metric_batch import encode
    from runstream.wire import events_pb2 as pb
    from runstream_processors.alerts.detector import AlertDetector
    from runstream_processors.store.connection import open_store

    losses = [2.0, 1.0, 0.5, 0.4, 0.45, 0.3, 5.0, 6.0, 0.3, 7.0, 8.0, 9.0, 1e9, math.inf]
    rows = [(step, 1, {"loss": loss, "acc": 0.5}) for step, loss in enumerate(losses)]
    found = {}
    with open_store(runstream_dir, "tests") as client:
        for size in (1, 7, len(rows)):
            run_id = uuid.uuid4().hex
            envelopes = [
                pb.Envelope(
                    event_id=uuid.uuid4().hex,
                    project="alerts",
                    run_id=run_id,
                    seq=start + 1,
                    time_unix_nano=1,
                    metrics=encode("", rows[start : start + size])[0],
                )
                for start in range(0, len(rows), size)
            ]
            detector = AlertDetector(client, "tests")
            for envelope in envelopes:
                detector.observe([envelope])
            found[size] = sorted((a[0], a[2], a[3]) for a in _alerts(client, run_id))
    # min 0.3 from step 5: 10x above it and above the first value (2.0) from step 9 on
    assert found[1] == [("divergence", "loss", 9), ("nonfinite", "loss", 13)]
    assert found[7] == found[1] and found[len(rows)] == found[1]
