"""`runstream runs --group`: a sweep made with runstream.sweep, read back by its group."""

from __future__ import annotations

import json

import pytest
import runstream
from click.testing import CliRunner
from runstream.settings import Settings
from runstream_processors.cli.main import cli
from support.runs import make_run

QUIET = {"capture_code": False, "capture_env": False, "system_interval": None}


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_runs_group_lists_a_sweep_its_trials_and_nothing_else(store: Settings) -> None:
    make_run("outsider", lr=0.5)
    with runstream.sweep(
        "tests", "lr-search", objective="eval.loss", space={"lr": [0.01, 0.1]}
    ) as search:
        for lr, loss, status in (
            (0.01, 0.4, "finished"),
            (0.1, 0.2, "finished"),
            (1.0, 9, "pruned"),
        ):
            trial = search.trial(f"lr-{lr}", config={"lr": lr}, **QUIET)
            trial.log({"loss": loss}, step=0, split="eval")
            trial.finish(status)  # type: ignore[arg-type]
            search.record(trial, loss, status)  # type: ignore[arg-type]
    assert search.best_run_id and search.best_value == pytest.approx(0.2)

    runs = json.loads(
        invoke(
            "runs", "--group", "lr-search", "-c", "status,eval.loss,params.lr", "--format", "json"
        )
    )
    assert sorted((run["name"], run["status"]) for run in runs) == [
        ("lr-0.01", "finished"),
        ("lr-0.1", "finished"),
        ("lr-1.0", "pruned"),
        ("lr-search", "finished"),
    ]
    by_name = {run["name"]: run for run in runs}
    assert by_name["lr-0.1"]["eval.loss"] == pytest.approx(0.2)
    assert by_name["lr-0.1"]["params.lr"] == "0.1"
    pruned = json.loads(invoke("runs", "-g", "lr-search", "--status", "pruned", "--format", "json"))
    assert [run["name"] for run in pruned] == ["lr-1.0"]
    assert json.loads(invoke("runs", "--group", "other", "--format", "json")) == []
    shown = json.loads(invoke("show", "lr-search", "--format", "json"))
    summary = {entry["key"]: entry["value"] for entry in shown["summary"]}
    assert summary == {
        "best.lr": "0.1",
        "best.run_name": "lr-0.1",
        "best.value": "0.2",
        "trials.finished": "2",
        "trials.pruned": "1",
    }
    config = {entry["key"]: entry["value"] for entry in shown["params"]}
    assert config["sweep.objective"] == "eval.loss"
    assert config["sweep.goal"] == "minimize"


def test_importance_ranks_a_sweeps_params_by_their_hold_on_its_objective(
    store: Settings,
) -> None:
    from scipy import stats

    lrs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    noise = [3, 1, 2, 3, 1, 2]
    optimizers = ["adam", "adam", "sgd", "adam", "sgd", "sgd"]
    losses = [lr * 2 + n / 100 for lr, n in zip(lrs, noise, strict=True)]
    with runstream.sweep("tests", "imp", objective="eval.loss") as search:
        for index, lr in enumerate(lrs):
            config = {"lr": lr, "noise": noise[index], "opt": optimizers[index], "width": 8}
            with search.trial(f"t{index}", config=config, **QUIET) as trial:
                trial.log({"loss": losses[index]}, step=0, split="eval")
            search.record(trial, losses[index])

    found = json.loads(invoke("importance", "eval.loss", "--group", "imp", "--format", "json"))
    by_param = {row["param"]: row for row in found}
    assert found[0]["param"] == "lr"
    assert by_param["width"]["kind"] == "constant"  # the same everywhere: not ranked
    assert by_param["opt"]["kind"] == "categorical"
    assert by_param["lr"]["spearman"] == pytest.approx(1.0)
    rho = stats.spearmanr(noise, losses).statistic
    assert by_param["noise"]["spearman"] == pytest.approx(rho, abs=1e-6)
    assert not any(param.startswith("sweep.") for param in by_param)  # the sweep's own run
