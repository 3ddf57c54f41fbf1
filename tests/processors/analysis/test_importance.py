"""Parameter importance on synthetic sweeps whose truth is known.

The sweep goes through the real path: SDK runs into the spool, the spool into the
embedded store (which refreshes ``param_importance`` because runs finished), then
``runstream importance``. The metric is driven strongly by lr (log-uniform), weakly by
batch size and by the optimizer (a categorical), not at all by ``unused``; one run lacks
batch_size, ``epochs`` is the same everywhere.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import runstream
from click.testing import CliRunner
from runstream.capture import environment
from runstream.settings import Settings, load_settings
from runstream_processors.analysis.importance import (
    ImportanceInputs,
    ParamImportance,
    compute_importance,
)
from runstream_processors.analysis.importance_store import goal_of, lower_is_better
from runstream_processors.cli.main import cli
from runstream_processors.errors import QueryError
from support.runs import store
from support.store_server import ADMIN_PASSWORD, READONLY_PASSWORD, start_server

RUNS = 30
EXTRA = 4


def accuracy(lr: float, batch_size: int | None, optimizer: str, noise: float) -> float:
    """The known truth: log10(lr) matters most, batch size and optimizer a little."""
    batch = math.log2((batch_size or 32) / 16)
    return 0.8 + 0.08 * math.log10(lr) + 0.03 * batch - 0.05 * (optimizer == "sgd") + noise


def sweep_configs(count: int, seed: int) -> list[tuple[dict[str, Any], float]]:
    rng = np.random.default_rng(seed)
    optimizers = (["adam", "sgd"] * count)[:count]
    rng.shuffle(optimizers)
    configs = []
    for index in range(count):
        config: dict[str, Any] = {
            "lr": float(10 ** rng.uniform(-4, -1)),
            "batch_size": int(rng.choice([16, 32, 64, 128])),
            "unused": float(rng.uniform(0, 1)),
            "optimizer": str(optimizers[index]),
            "epochs": 3,
        }
        noise = float(rng.normal(0, 0.004))
        if index == 1:
            del config["batch_size"]  # a run that lacks a param
        value = accuracy(config["lr"], config.get("batch_size"), config["optimizer"], noise)
        configs.append((config, value))
    return configs


def log_run(index: int, config: dict[str, Any], value: float, group: str, tags: list[str]) -> None:
    with runstream.init(
        project="sweep",
        name=f"{group}-{index}",
        config=config,
        group=group,
        tags=tags,
        system_interval=None,
    ) as run:
        run.log({"accuracy": value - 0.1, "loss": 1.1 - value}, step=0, split="eval")
        run.log({"accuracy": value, "loss": 1.0 - value}, step=1, split="eval")


@dataclass(frozen=True)
class Sweep:
    settings: Settings
    refreshed: list[dict[str, Any]]
    """param_importance_latest as the refresh after the runs finished left it."""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    root = tmp_path_factory.mktemp("importance") / "rs"
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("RUNSTREAM_KAFKA_BOOTSTRAP", "RUNSTREAM_CLICKHOUSE_URL"):
            patch.delenv(variable, raising=False)
        patch.setenv("RUNSTREAM_DIR", str(root))
        # Every init() lists the installed distributions (~0.8 s here): once is enough
        # for 34 runs of one process, whose packages do not change.
        patch.setattr(
            environment, "installed_packages", functools.cache(environment.installed_packages)
        )
        settings = load_settings(root)
        for index, (config, value) in enumerate(sweep_configs(RUNS, seed=0)):
            log_run(index, config, value, "grid", ["even"] if index % 2 == 0 else [])
        for index, (config, value) in enumerate(sweep_configs(EXTRA, seed=1)):
            log_run(index, config, value, "extra", [])
        with store(settings) as client:  # takes the spool in: RunFinished → refresh
            result = client.query(
                "SELECT * FROM runstream.param_importance_latest WHERE project = 'sweep' "
                "ORDER BY metric, which, param"
            )
            refreshed = [
                dict(zip(result.column_names, row, strict=True)) for row in result.result_rows
            ]
        yield Sweep(settings, refreshed)


def importance(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        cli, ["importance", *args, "--format", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def by_param(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["param"]: row for row in rows}


def test_the_refresh_after_runs_finish_stores_every_metric_final_and_best(sweep: Sweep) -> None:
    computed = {(row["metric"], row["which"], row["goal"]) for row in sweep.refreshed}
    assert computed == {
        ("eval.accuracy", "final", ""),
        ("eval.accuracy", "best", "max"),
        ("eval.loss", "final", ""),
        ("eval.loss", "best", "min"),
    }
    final = by_param(
        [
            row
            for row in sweep.refreshed
            if (row["metric"], row["which"]) == ("eval.accuracy", "final")
        ]
    )
    assert set(final) == {"lr", "batch_size", "unused", "optimizer", "epochs"}
    assert {row["runs_total"] for row in final.values()} == {RUNS + EXTRA}
    assert {row["run_group"] for row in final.values()} == {""}
    assert final["epochs"]["kind"] == "constant"
    assert final["lr"]["permutation_importance"] > final["unused"]["permutation_importance"]


def test_importance_ranks_lr_over_batch_size_over_unused(
    sweep: Sweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNSTREAM_DIR", str(sweep.settings.root))
    rows = importance("eval.accuracy", "--project", "sweep", "--group", "grid")
    ranked = [row["param"] for row in rows]
    assert ranked[0] == "lr"
    assert ranked.index("batch_size") < ranked.index("unused")
    assert ranked.index("optimizer") < ranked.index("unused")
    assert ranked[-1] == "epochs"  # constant: reported, not ranked
    found = by_param(rows)
    lr, batch, unused = found["lr"], found["batch_size"], found["unused"]
    assert lr["log_scale"] and not batch["log_scale"]
    assert lr["pearson"] > 0.7 and lr["spearman"] > 0.7
    assert lr["ci_low"] > batch["ci_high"]  # lr clearly matters more
    assert batch["ci_low"] > 0  # batch size matters, a little
    assert unused["ci_low"] <= 0 <= unused["ci_high"]
    assert abs(unused["pearson"]) < 0.5
    assert lr["runs_used"] == RUNS and batch["runs_used"] == RUNS - 1  # one run lacks it
    optimizer = found["optimizer"]
    assert optimizer["kind"] == "categorical" and optimizer["pearson"] is None
    assert 0.2 < optimizer["eta"] < 1
    epochs = found["epochs"]
    assert epochs["kind"] == "constant" and epochs["permutation_importance"] is None
    assert {row["metric"] for row in rows} == {"eval.accuracy"}


def test_the_printed_result_is_what_the_dashboards_read(
    sweep: Sweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNSTREAM_DIR", str(sweep.settings.root))
    printed = by_param(importance("eval.accuracy", "--group", "grid", "--which", "best"))
    with store(sweep.settings) as client:
        result = client.query(
            "SELECT param, permutation_importance, ci_low, goal, runs_total "
            "FROM runstream.param_importance_latest WHERE project = 'sweep' "
            "AND run_group = 'grid' AND tag = '' AND metric = 'eval.accuracy' AND which = 'best'"
        )
    stored = {row[0]: row[1:] for row in result.result_rows}
    assert set(stored) == set(printed)
    for param, (permutation, low, goal, runs_total) in stored.items():
        assert permutation == printed[param]["permutation_importance"]
        assert low == printed[param]["ci_low"]
        assert goal == "max" and runs_total == RUNS


def test_filters_by_tag_and_the_best_of_a_loss_is_its_minimum(
    sweep: Sweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNSTREAM_DIR", str(sweep.settings.root))
    tagged = by_param(importance("eval.loss", "--tag", "even", "--which", "best"))
    assert tagged["lr"]["runs_used"] == RUNS // 2
    assert tagged["lr"]["goal"] == "min"
    assert tagged["lr"]["pearson"] < -0.5  # a lower loss with a higher lr
    every = by_param(importance("eval.loss", "--all-statuses"))
    assert every["lr"]["runs_used"] == RUNS + EXTRA


def test_importance_of_an_unknown_metric_says_so(
    sweep: Sweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNSTREAM_DIR", str(sweep.settings.root))
    result = CliRunner().invoke(cli, ["importance", "eval.nothing"])
    assert result.exit_code != 0
    assert "eval.nothing" in str(result.exception)


def test_fewer_than_three_finished_runs_refresh_nothing(runstream_dir: Settings) -> None:
    for index, (config, value) in enumerate(sweep_configs(2, seed=2)):
        log_run(index, config, value, "pair", [])
    with store(runstream_dir) as client:
        count = client.query("SELECT count() FROM runstream.param_importance").result_rows[0][0]
    assert count == 0


def compute(params: dict[str, list[Any]], metric: list[float]) -> dict[str, ParamImportance]:
    inputs = ImportanceInputs([str(index) for index in range(len(metric))], params, metric)
    return {result.param: result for result in compute_importance(inputs)}


def test_log_scale_needs_two_orders_of_magnitude() -> None:
    rng = np.random.default_rng(3)
    metric = list(rng.normal(size=12))
    found = compute(
        {
            "wide": list(np.geomspace(1e-3, 1e-1, 12)),
            "narrow": list(np.geomspace(1.0, 99.0, 12)),
            "signed": list(np.linspace(-100, 100, 12)),
            "grid": [1e-4, 1e-3, 1e-2, 1e-1] * 3,
            "dropout": [0.001, *np.linspace(0.05, 0.5, 11)],  # linear, though 500× apart
        },
        metric,
    )
    assert found["wide"].log_scale and found["grid"].log_scale
    assert not found["narrow"].log_scale and not found["signed"].log_scale
    assert not found["dropout"].log_scale


def test_runs_without_the_metric_are_left_out_and_three_are_needed() -> None:
    nan = float("nan")
    found = compute({"x": [1.0, 2.0, 3.0, 4.0, 5.0]}, [1.0, nan, 3.0, 4.0, 5.0])
    assert found["x"].runs_used == 4 and found["x"].pearson == pytest.approx(1.0)
    with pytest.raises(QueryError, match="at least 3 runs"):
        compute({"x": [1.0, 2.0, 3.0]}, [1.0, nan, nan])


def test_categorical_eta_missing_and_constant_params() -> None:
    labels = ["a", "a", "b", "b", None, None]
    metric = [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    found = compute(
        {
            "label": labels,
            "same": [7.0] * 6,
            "absent": [None] * 6,
            "sometimes": [5.0, None, 5.0, None, 5.0, None],
        },
        metric,
    )
    assert found["label"].kind == "categorical"
    assert found["label"].eta == pytest.approx(1.0)  # the groups explain everything
    assert found["label"].runs_used == 4  # two runs lack it: a <missing> group of their own
    assert found["same"].kind == found["absent"].kind == "constant"
    assert found["sometimes"].kind == "numeric" and found["sometimes"].pearson is None
    assert found["label"].rf_importance is not None


def test_a_metric_that_never_changes_has_nothing_to_explain() -> None:
    found = compute({"x": [1.0, 2.0, 3.0, 4.0]}, [0.5] * 4)
    assert found["x"].pearson is None and found["x"].permutation_importance is None


def test_lower_is_better_goes_by_the_metric_name() -> None:
    for name in ("loss", "eval.loss", "val_error", "train.MSE", "wer", "p99_latency", "ppl"):
        assert lower_is_better(name), name
        assert goal_of(name) == "min"
    for name in ("eval.accuracy", "f1", "bleu", "reward"):
        assert not lower_is_better(name), name
    assert goal_of("eval.loss", "max") == "max"


def test_many_categories_fold_into_other_and_rank(tmp_path: Path) -> None:
    count = 60
    rng = np.random.default_rng(4)
    names = [f"name{index}" for index in range(count)]
    strong = list(rng.uniform(0, 1, count))
    found = compute({"name": names, "strong": strong}, [value * 10 for value in strong])
    assert found["name"].kind == "categorical"
    assert next(iter(found)) == "strong"


def test_through_a_store_server_and_a_read_only_account(
    runstream_dir: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Served: the spool taken in through the server refreshes the table; a dashboard
    account gets the answer printed and a warning that it could not be stored."""
    for index, (config, value) in enumerate(sweep_configs(4, seed=3)):
        log_run(index, config, value, "served", [])
    server = start_server(tmp_path / "server", "--ingest-interval", "0")
    address = f"{server.host}:{server.port}"
    try:
        monkeypatch.setenv("RUNSTREAM_CLICKHOUSE_URL", f"http://default:{ADMIN_PASSWORD}@{address}")
        assert by_param(importance("eval.accuracy"))["lr"]["runs_used"] == 4
        stored = importance_rows_stored()
        monkeypatch.setenv(
            "RUNSTREAM_CLICKHOUSE_URL", f"http://readonly:{READONLY_PASSWORD}@{address}"
        )
        result = CliRunner().invoke(cli, ["importance", "eval.accuracy", "--format", "json"])
        assert result.exit_code == 0, result.output
        assert {row["param"] for row in json.loads(result.stdout)} == {
            "lr",
            "batch_size",
            "unused",
            "optimizer",
            "epochs",
        }
        assert "not stored" in result.stderr
        monkeypatch.setenv("RUNSTREAM_CLICKHOUSE_URL", f"http://default:{ADMIN_PASSWORD}@{address}")
        assert importance_rows_stored() == stored
    finally:
        assert server.stop() == 0, server.output()
    # refresh (4 metrics × final/best) and one printed computation
    assert stored == {
        ("eval.accuracy", "final"): 2,
        ("eval.accuracy", "best"): 1,
        ("eval.loss", "final"): 1,
        ("eval.loss", "best"): 1,
    }


def importance_rows_stored() -> dict[tuple[str, str], int]:
    result = CliRunner().invoke(
        cli,
        [
            "sql",
            "SELECT metric, which, uniqExact(computed_at) AS computations "
            "FROM runstream.param_importance GROUP BY metric, which",
            "--format",
            "json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return {(row["metric"], row["which"]): row["computations"] for row in json.loads(result.stdout)}


def test_the_ingest_core_names_the_projects_whose_runs_finished(runstream_dir: Settings) -> None:
    """What both callers (the spool ingest, the worker's store writer) refresh for."""
    from runstream.spool import Checkpoint, SpoolReader
    from runstream_processors.ingest.core import Incoming, IngestCore
    from runstream_processors.sinks.clickhouse import ClickHouseSink
    from runstream_processors.store.connection import open_store

    for index, (config, value) in enumerate(sweep_configs(2, seed=4)):
        log_run(index, config, value, "core", [])
    spool = runstream_dir.local_spool_dir
    records = SpoolReader(spool).read(Checkpoint.load(spool, "test"), max_records=10_000).records
    with open_store(runstream_dir, "tests") as client:
        sink = ClickHouseSink(client)
        try:
            core = IngestCore(sink, "test")
            before_finish = core.process([Incoming(r.payload, r) for r in records[:2]])
            everything = core.process([Incoming(r.payload, r) for r in records])
        finally:
            sink.close()
    assert before_finish.finished_projects == set()
    assert everything.finished_projects == {"sweep"}


def test_the_latest_view_shows_only_the_newest_computation(runstream_dir: Settings) -> None:
    """A param dropped from the sweep leaves the view; older rows stay in the table."""
    import datetime

    from runstream_processors.analysis.importance_store import SweepFilter, write_results
    from runstream_processors.store.connection import open_store

    where = SweepFilter("p", group="g")
    first = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    old = [ParamImportance("lr", "numeric", 5), ParamImportance("gone", "numeric", 5)]
    new = [ParamImportance("lr", "numeric", 6, permutation_importance=0.5, ci_low=float("nan"))]
    with open_store(runstream_dir, "tests") as client:
        write_results(client, where, "acc", "final", "auto", old, 5, first)
        write_results(client, where, "acc", "best", "auto", old, 5, first)
        write_results(client, where, "acc", "final", "auto", new, 6, first + datetime.timedelta(1))
        latest = client.query(
            "SELECT which, param, runs_used, permutation_importance, goal, ci_low "
            "FROM runstream.param_importance_latest ORDER BY which, param"
        ).result_rows
        stored = client.query("SELECT count() FROM runstream.param_importance").result_rows
    assert [row[:3] for row in latest] == [
        ("best", "gone", 5),
        ("best", "lr", 5),
        ("final", "lr", 6),
    ]
    assert latest[2][3] == 0.5 and latest[0][3] is None
    assert latest[0][4] == "max" and latest[2][4] == ""
    assert latest[2][5] is None  # NaN is stored as NULL
    assert stored == [(5,)]
