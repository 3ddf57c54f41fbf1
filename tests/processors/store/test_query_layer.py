"""The query layer (migration 0007): the views CLI, dashboards and SQL share, checked against
independent computations over the raw tables."""

from __future__ import annotations

import math
from typing import Any

import runstream
from runstream.settings import Settings
from support.runs import scalar, store

QUIET: dict[str, Any] = {"capture_code": False, "capture_env": False, "system_interval": None}


def _sweep_run(name: str, lr: float, optimizer: str, group: str, steps: int = 40) -> str:
    with runstream.init(
        project="ql", name=name, config={"lr": lr, "optimizer": optimizer}, group=group, **QUIET
    ) as run:
        for step in range(steps):
            run.log({"loss": 1.0 / (1 + step * lr)}, step=step, split="train")
        run.log({"loss": 0.5 / (1 + lr), "accuracy": 0.8 + lr}, step=steps - 1, split="eval")
        return run.id


def test_run_table_exposes_params_and_metrics_as_typed_maps(runstream_dir: Settings) -> None:
    _sweep_run("a", 0.001, "sgd", "g1")
    _sweep_run("b", 0.05, "adam", "g1")
    _sweep_run("c", 0.1, "adam", "g2")
    with store(runstream_dir) as client:
        chosen = client.query(
            "SELECT name FROM runstream.run_table WHERE params_number['lr'] > 0.01 "
            "AND params_text['optimizer'] = 'adam' ORDER BY metrics_best['eval.accuracy'] DESC"
        ).result_rows
        groups = dict(client.query("SELECT name, run_group FROM runstream.runs").result_rows)
        best_loss = client.query(
            "SELECT name, metrics_best['train.loss'] FROM runstream.run_table ORDER BY name"
        ).result_rows
        raw = client.query(
            "SELECT s.name, min(m.value) FROM runstream.metrics AS m JOIN runstream.runs_started "
            "AS s USING (run_id) WHERE m.key = 'loss' AND m.split = 'train' "
            "GROUP BY s.name ORDER BY s.name"
        ).result_rows
    assert chosen == [("c",), ("b",)]
    assert groups == {"a": "g1", "b": "g1", "c": "g2"}
    assert best_loss == raw  # loss: the lowest value is the best


def test_leaderboard_ranks_losses_ascending_and_accuracy_descending(
    runstream_dir: Settings,
) -> None:
    for name, lr in (("slow", 0.001), ("mid", 0.02), ("fast", 0.2)):
        _sweep_run(name, lr, "sgd", "g")
    with store(runstream_dir) as client:
        directions = dict(
            client.query(
                "SELECT DISTINCT metric, lower_is_better FROM runstream.leaderboard"
            ).result_rows
        )
        by_accuracy = client.query(
            "SELECT name FROM runstream.leaderboard WHERE metric = 'eval.accuracy' "
            "ORDER BY best_value DESC"
        ).result_rows
    assert directions == {"train.loss": True, "eval.loss": True, "eval.accuracy": False}
    assert [name for (name,) in by_accuracy] == ["fast", "mid", "slow"]


def test_a_long_curve_comes_back_in_at_most_a_thousand_buckets_keeping_spikes(
    runstream_dir: Settings,
) -> None:
    with runstream.init(project="ql", name="long", **QUIET) as run:
        for step in range(20_000):
            run.log({"loss": 100.0 if step == 12_345 else 1.0 + (step % 7)}, step=step)
        run.log({"loss": math.nan}, step=20_000)
        run_id = run.id
    with store(runstream_dir) as client:
        curve = client.query(
            "SELECT step, value, value_min, value_max, points, width FROM runstream.metric_curve "
            "WHERE project = 'ql' AND run_id = {r:String} AND key = 'loss' AND split = '' "
            "ORDER BY step",
            parameters={"r": run_id},
        ).result_rows
        width = curve[0][5]
        independent = client.query(
            "SELECT intDiv(step, {w:UInt64}) AS slot, min(step), avgIf(value, isFinite(value)), "
            "count() FROM runstream.metrics WHERE run_id = {r:String} GROUP BY slot ORDER BY slot",
            parameters={"r": run_id, "w": width},
        ).result_rows
        points = scalar(client, "SELECT sum(points) FROM runstream.metric_buckets WHERE width = 16")
    assert 500 <= len(curve) <= 1000
    assert width % 16 == 0  # from the 16-step level, not the raw points
    assert max(row[3] for row in curve if row[3] is not None) == 100.0  # the spike survives
    assert curve[-1][3] is None and math.isnan(curve[-1][1])  # a NaN-only bucket: no range
    assert [(row[0], row[4]) for row in curve] == [(row[1], row[3]) for row in independent]
    for ours, theirs in zip(curve, independent, strict=True):
        assert math.isclose(ours[1], theirs[2]) or (math.isnan(ours[1]) and math.isnan(theirs[2]))
    assert points == 20_001  # every point in exactly one bucket of the level


def test_a_short_curve_is_drawn_from_its_raw_points(runstream_dir: Settings) -> None:
    _sweep_run("short", 0.01, "sgd", "", steps=300)
    with store(runstream_dir) as client:
        curve = client.query(
            "SELECT step, value, value_min = value_max, width FROM runstream.metric_curve "
            "WHERE metric = 'train.loss' ORDER BY step"
        ).result_rows
    assert [row[0] for row in curve] == list(range(300))
    assert {row[3] for row in curve} == {1} and all(row[2] for row in curve)


def test_replaying_the_spool_changes_no_bucket(runstream_dir: Settings) -> None:
    _sweep_run("replayed", 0.01, "sgd", "g", steps=500)
    query = "SELECT width, sum(points), sum(value_sum) FROM runstream.metric_buckets GROUP BY width"
    with store(runstream_dir) as client:
        before = sorted(client.query(query).result_rows)
    checkpoints = list((runstream_dir.local_spool_dir / "checkpoints").glob("*.json"))
    for checkpoint in checkpoints:
        checkpoint.unlink()  # the next ingest replays every segment from the start
    with store(runstream_dir) as client:
        after = sorted(client.query(query).result_rows)
    assert checkpoints and before == after
    assert [row[1] for row in before] == [502, 502]
