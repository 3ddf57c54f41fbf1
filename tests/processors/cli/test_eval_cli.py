"""``runstream eval`` end to end: samples logged through the SDK, evaluated from the store,
recorded as an evaluation event, and read back by SQL views, ``runs`` and ``compare``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import runstream
from click.testing import CliRunner
from runstream.settings import Settings
from runstream_processors.cli.main import cli

CLASSES = ["cat", "dog", "owl"]
LABELS = [0, 0, 1, 1, 2, 2, 0, 1]
PREDICTIONS = [0, 1, 1, 1, 2, 0, 0, 1]
PROBABILITIES = [
    [0.8, 0.1, 0.1],
    [0.4, 0.5, 0.1],
    [0.2, 0.7, 0.1],
    [0.1, 0.6, 0.3],
    [0.1, 0.1, 0.8],
    [0.5, 0.2, 0.3],
    [0.9, 0.05, 0.05],
    [0.3, 0.4, 0.3],
]
SIZES = ["big", "small", "big", "small", "big", "small", "big", "small"]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def sql(query: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(invoke("sql", query, "--format", "json"))
    return rows


def log_run(name: str) -> str:
    with runstream.init(project="tests", name=name, system_interval=None) as run:
        # step 1 is older: eval takes the newest step of the split
        run.log_samples(["x"], [2], [0], step=1, split="eval", class_names=CLASSES)
        run.log_samples(
            [f"x{i}" for i in range(8)],
            PREDICTIONS,
            LABELS,
            step=2,
            split="eval",
            probabilities=PROBABILITIES,
            class_names=CLASSES,
            slices={"size": SIZES},
        )
        # the train split's labels: owl is the majority there (zero rule from train)
        run.log_samples(["t"] * 3, [2, 2, 2], [2, 2, 2], step=2, split="train", class_names=CLASSES)
        return run.id


def test_eval_computes_records_and_shows_the_evaluation(store: Settings, tmp_path: Path) -> None:
    run_id = log_run("evaluated")
    plot = tmp_path / "reliability.png"
    document = json.loads(
        invoke("eval", "evaluated", "--by", "size", "--format", "json", "--plot", str(plot))
    )
    about = document["evaluation"]
    assert (about["step"], about["samples"], about["stored"]) == (2, 8, "recorded")
    overall = {(row["slice"], row["metric"], row["class"]): row for row in document["metrics"]}
    accuracy = overall["", "accuracy", ""]
    assert accuracy["value"] == pytest.approx(6 / 8)
    assert accuracy["majority"] == pytest.approx(2 / 8)  # owl, the train split's majority
    assert accuracy["lift vs majority"] == pytest.approx(6 / 8 - 2 / 8)
    assert overall["size=small", "accuracy", ""]["value"] == pytest.approx(2 / 4)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    slices = sql(
        "SELECT slice_value, value, count, ci_low FROM runstream.evaluation_slices "
        f"WHERE run_id = '{run_id}' AND metric = 'accuracy' ORDER BY slice_value"
    )
    assert [(r["slice_value"], r["value"], r["count"]) for r in slices] == [
        ("big", 1.0, 4),
        ("small", 0.5, 4),
    ]
    assert 0 < slices[1]["ci_low"] < 0.5
    cells = sql(
        "SELECT label, prediction, count FROM runstream.evaluation_confusion_cells "
        f"WHERE run_id = '{run_id}' ORDER BY label, prediction"
    )
    assert sum(cell["count"] for cell in cells) == 8
    assert {"label": "owl", "prediction": "cat", "count": 1} in cells
    curve = sql(
        "SELECT bin, confidence, accuracy, count FROM runstream.evaluation_calibration_curve "
        f"WHERE run_id = '{run_id}' ORDER BY bin"
    )
    assert sum(row["count"] for row in curve) == 8
    assert [row["bin"] for row in curve if row["count"]] == sorted(row["bin"] for row in curve)

    again = json.loads(invoke("eval", "evaluated", "--by", "size", "--format", "json"))
    assert again["evaluation"]["stored"] == "already recorded"
    counted = sql(f"SELECT count() AS n FROM runstream.evaluation_runs WHERE run_id = '{run_id}'")
    assert counted[0]["n"] == 1

    listed = json.loads(invoke("runs", "--columns", "evaluation.eval.accuracy", "--format", "json"))
    assert listed[0]["evaluation.eval.accuracy"] == pytest.approx(6 / 8)


def test_a_run_as_its_own_baseline_has_zero_lift(runstream_dir: Settings) -> None:
    run_id = log_run("itself")
    document = json.loads(
        invoke("eval", "itself", "--baseline", "itself", "--by", "size", "--format", "json")
    )
    column = f"lift vs run:{run_id[:8]}"
    assert {row[column] for row in document["metrics"]} == {0.0}
    lifts = sql(
        "SELECT DISTINCT lift FROM runstream.evaluation_lift "
        f"WHERE run_id = '{run_id}' AND baseline = 'run:{run_id}'"
    )
    assert lifts == [{"lift": 0.0}]
    compared = json.loads(invoke("compare", "itself", "--format", "json"))
    rows = compared["evaluation (lift = run - baseline)"]
    accuracy = next(row for row in rows if row["metric"] == "accuracy")
    assert accuracy["itself"] == pytest.approx(6 / 8)
    assert accuracy[f"itself Δ run:{run_id[:8]}"] == 0.0


def test_eval_says_what_is_missing(runstream_dir: Settings) -> None:
    log_run("missing")
    result = CliRunner().invoke(cli, ["eval", "missing", "--split", "test"])
    assert result.exit_code != 0
    assert "logged no samples in split 'test'" in str(result.exception)
    result = CliRunner().invoke(cli, ["eval", "missing", "--by", "lang"])
    assert "no slice named 'lang'" in str(result.exception)


def test_regression_samples_are_evaluated_with_mae_rmse_and_r2(runstream_dir: Settings) -> None:
    with runstream.init(project="tests", name="regressor", system_interval=None) as run:
        run.log_samples(
            ["a", "b", "c", "d"],
            [1.5, 2.0, 2.0, 5.0],
            [1, 2, 3, 4],
            step=0,
            split="eval",
            task="regression",
            slices={"half": ["low", "low", "high", "high"]},
        )
    document = json.loads(invoke("eval", "regressor", "--by", "half", "--format", "json"))
    numbers = {(row["slice"], row["metric"]): row for row in document["metrics"]}
    assert document["evaluation"]["task"] == "regression"
    assert numbers["", "mae"]["value"] == pytest.approx(2.5 / 4)
    assert numbers["", "mae"]["majority"] == pytest.approx(1.0)  # the mean target, 2.5
    assert numbers["half=high", "mae"]["value"] == pytest.approx(2.0 / 2)
    assert numbers["", "r2"]["value"] == pytest.approx(1 - 2.25 / 5)  # errors .5, 0, -1, 1
    stored = sql(
        "SELECT metric, value FROM runstream.evaluation_metrics "
        f"WHERE run_id = '{run.id}' AND baseline = '' AND slice_key = '' ORDER BY metric"
    )
    assert [row["metric"] for row in stored] == ["mae", "r2", "rmse"]
