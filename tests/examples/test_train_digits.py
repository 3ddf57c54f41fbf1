"""The README's main job: the example trains, and the CLI shows what it tracked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runstream.settings import Settings

REPO = Path(__file__).resolve().parents[2]
RUNSTREAM = str(Path(sys.executable).with_name("runstream"))


def _run(*command: str) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, env=os.environ.copy(), timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_example_runs_are_tracked_and_comparable(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    script = str(REPO / "examples" / "train_digits.py")
    _run(sys.executable, script, "--name", "baseline", "--epochs", "3")
    _run(
        sys.executable,
        script,
        "--name",
        "sgd",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--epochs",
        "3",
    )

    runs = json.loads(_run(RUNSTREAM, "runs", "--format", "json"))
    assert [(run["name"], run["status"]) for run in runs] == [
        ("sgd", "finished"),
        ("baseline", "finished"),
    ]
    assert all(
        run["eval.accuracy"] > 0.5 for run in runs
    )  # 3 epochs learn the digits well past chance

    shown = json.loads(_run(RUNSTREAM, "show", "baseline", "--format", "json"))
    params = {param["key"]: param["value"] for param in shown["params"]}
    assert params["optimizer"] == "adam" and params["epochs"] == "3"
    assert shown["run"]["seed"] == 0
    assert shown["environment"]["determinism"]["torch.deterministic_algorithms"] in (
        "True",
        "False",
    )
    assert any(package["name"] == "torch" for package in shown["packages"])
    assert shown["git"]["commit"], "the example runs inside this git checkout"
    assert [a["kind"] for a in shown["artifacts"] if a["name"] == "model"] == ["checkpoint"]
    assert len(shown["samples"]) > 0 and shown["samples"][0]["split"] == "eval"
    metrics = {m["metric"]: m for m in shown["metrics"]}
    assert {"train.loss", "eval.accuracy", "watch/lr/group0", "watch/grad_norm"} <= set(metrics)
    assert metrics["watch/grad_norm"]["last_step"] == 60, "3 epochs of 23 steps, every 10th"
    assert 0 < metrics["watch/lr/group0"]["max"] <= 0.01, "OneCycle peaks at --lr"

    plot = tmp_path / "curves.png"
    compared = json.loads(
        _run(
            RUNSTREAM,
            "compare",
            "baseline",
            "sgd",
            "--plot",
            str(plot),
            "--metric",
            "accuracy",
            "--format",
            "json",
        )
    )
    differing = {row["param"] for row in compared["params that differ"]}
    assert {"optimizer", "lr"} <= differing
    assert plot.stat().st_size > 10_000

    reliability = tmp_path / "reliability.png"
    evaluated = json.loads(
        _run(
            RUNSTREAM,
            "eval",
            "baseline",
            "--by",
            "parity",
            "--by",
            "density",
            "--plot",
            str(reliability),
            "--format",
            "json",
        )
    )
    assert evaluated["evaluation"]["samples"] == 360  # the whole eval set at the last epoch
    numbers = {(row["slice"], row["metric"], row["class"]): row for row in evaluated["metrics"]}
    assert numbers["", "accuracy", ""]["value"] > numbers["", "accuracy", ""]["majority"]
    assert {"parity=even", "parity=odd", "density=light"} <= {row[0] for row in numbers}
    assert numbers["", "ece", ""]["value"] < 0.5 and reliability.stat().st_size > 10_000

    counted = json.loads(
        _run(RUNSTREAM, "sql", "SELECT count() AS n FROM runstream.samples", "--format", "json")
    )
    assert counted[0]["n"] > 0
