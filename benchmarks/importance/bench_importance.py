#!/usr/bin/env python3
"""Parameter importance over 1,000 runs × 8 params: target ≤ 1 s (issue #13, item 7).

Measured, in one run on this machine:

* ``import``: ``import sklearn.ensemble`` in a fresh interpreter (paid once per process,
  only when something is computed).
* ``compute``: wall and CPU time of :func:`compute_importance` (one thread) on 1,000
  synthetic runs given directly as inputs (8 params: lr, weight decay (log-uniform),
  batch size, dropout, warmup steps, optimizer and scheduler (categorical), seed (no
  effect); 5 % of runs lack weight decay), warm, ``--repeats`` times; medians count.
* ``store`` (``--store``): the same sweep in an embedded store, from reading it
  (``load_sweep``: runs, params, metrics) to writing the rows (``compute_and_store``).
  Its rows are inserted straight into the tables the SDK's events become (runs_started,
  runs_finished, params, metrics), which 1,000 SDK runs would take minutes to fill.
* the ranking found, to show the computation is the real one (lr first, seed last).
* ``calibration`` (``--calibration``): over 100 small sweeps with the tests' truth (lr
  strong, batch size and optimizer weak, ``unused`` none) of 30 and of 100 runs, how often
  the ranking is right and how often the unused param's 95% interval includes 0.

    .venv/bin/python benchmarks/importance/bench_importance.py --store

Results: ``results/importance.json`` and ``results/importance.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
TARGET_S = 1.0


def synthetic(runs: int, seed: int = 0) -> tuple[dict[str, list[Any]], list[float]]:
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-5, -1, runs)
    weight_decay = 10 ** rng.uniform(-6, -2, runs)
    batch = rng.choice([16, 32, 64, 128, 256], runs)
    dropout = rng.uniform(0, 0.5, runs)
    warmup = rng.integers(0, 2000, runs)
    optimizer = rng.choice(["adam", "adamw", "sgd"], runs)
    scheduler = rng.choice(["cosine", "linear", "constant"], runs)
    seeds = rng.integers(0, 10_000, runs)
    accuracy = (
        0.9
        - 0.02 * (np.log10(lr) + 3) ** 2
        + 0.01 * np.log2(batch / 16) / 4
        - 0.05 * dropout
        - 0.03 * (optimizer == "sgd")
        + 0.002 * (np.log10(weight_decay) + 4)
        + rng.normal(0, 0.01, runs)
    )
    params: dict[str, list[Any]] = {
        "lr": lr.tolist(),
        "weight_decay": [None if rng.random() < 0.05 else float(v) for v in weight_decay],
        "batch_size": batch.astype(float).tolist(),
        "dropout": dropout.tolist(),
        "warmup_steps": warmup.astype(float).tolist(),
        "optimizer": optimizer.tolist(),
        "scheduler": scheduler.tolist(),
        "seed": seeds.astype(float).tolist(),
    }
    return params, accuracy.tolist()


def import_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sklearn.ensemble"], check=True)
    return time.perf_counter() - started


def time_compute(runs: int, repeats: int) -> tuple[list[float], list[float], list[dict[str, Any]]]:
    from runstream_processors.analysis.importance import ImportanceInputs, compute_importance

    params, metric = synthetic(runs)
    inputs = ImportanceInputs([f"{index:032x}" for index in range(runs)], params, metric)
    compute_importance(inputs)  # imports and warms up
    samples, cpu = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        results = compute_importance(inputs)
        samples.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    ranking = [
        {
            "param": result.param,
            "permutation_importance": result.permutation_importance,
            "ci": [result.ci_low, result.ci_high],
            "rf_importance": result.rf_importance,
            "spearman": result.spearman,
            "eta": result.eta,
            "log_scale": result.log_scale,
        }
        for result in results
    ]
    return samples, cpu, ranking


def fill_store(client: Any, runs: int) -> None:
    params, metric = synthetic(runs)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    started, finished, param_rows, metric_rows = [], [], [], []
    for index in range(runs):
        run_id = uuid.UUID(int=index + 1).hex
        event = uuid.uuid4().hex
        at = start + datetime.timedelta(seconds=index)
        started.append(["bench", run_id, f"run-{index}", at, event])
        finished.append(["bench", run_id, "finished", at + datetime.timedelta(minutes=5), event])
        for key, values in params.items():
            value = values[index]
            if value is None:
                continue
            text = isinstance(value, str)
            kind = "text" if text else "number"
            param_rows.append(
                ["bench", run_id, key, kind, None if text else value, str(value), event]
            )
        metric_rows.append(["bench", run_id, "accuracy", "eval", 1, metric[index], at, event, 0])
    client.insert(
        "runstream.runs_started",
        started,
        column_names=["project", "run_id", "name", "start_time", "event_id"],
    )
    client.insert(
        "runstream.runs_finished",
        finished,
        column_names=["project", "run_id", "status", "end_time", "event_id"],
    )
    client.insert(
        "runstream.params",
        param_rows,
        column_names=[
            "project",
            "run_id",
            "key",
            "value_type",
            "value_number",
            "value_text",
            "event_id",
        ],
    )
    client.insert(
        "runstream.metrics",
        metric_rows,
        column_names=[
            "project",
            "run_id",
            "key",
            "split",
            "step",
            "value",
            "time",
            "event_id",
            "idx",
        ],
    )


def time_store(runs: int, repeats: int) -> dict[str, list[float]]:
    from runstream.settings import load_settings
    from runstream_processors.analysis.importance_store import (
        SweepFilter,
        compute_and_store,
        load_sweep,
    )
    from runstream_processors.store.connection import open_store

    with (
        tempfile.TemporaryDirectory() as root,
        open_store(load_settings(Path(root) / "rs"), "bench") as client,
    ):
        fill_store(client, runs)
        load_sweep(client, SweepFilter("bench"), "eval.accuracy")  # warm
        reads, totals = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            sweep = load_sweep(client, SweepFilter("bench"), "eval.accuracy")
            read = time.perf_counter()
            compute_and_store(client, sweep, "eval.accuracy")
            reads.append(read - started)
            totals.append(time.perf_counter() - started)
        assert len(sweep.run_ids) == runs, len(sweep.run_ids)
    return {"read_s": reads, "total_s": totals}


def small_sweep(runs: int, seed: int) -> tuple[dict[str, list[Any]], list[float]]:
    """The tests' truth (tests/processors/analysis/test_importance.py)."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-4, -1, runs)
    batch = rng.choice([16, 32, 64, 128], runs)
    unused = rng.uniform(0, 1, runs)
    optimizer = np.array((["adam", "sgd"] * runs)[:runs])
    rng.shuffle(optimizer)
    accuracy = (
        0.8
        + 0.08 * np.log10(lr)
        + 0.03 * np.log2(batch / 16)
        - 0.05 * (optimizer == "sgd")
        + rng.normal(0, 0.004, runs)
    )
    params: dict[str, list[Any]] = {
        "lr": lr.tolist(),
        "batch_size": batch.astype(float).tolist(),
        "unused": unused.tolist(),
        "optimizer": optimizer.tolist(),
    }
    return params, accuracy.tolist()


def calibration(sizes: tuple[int, ...] = (30, 100), sweeps: int = 100) -> dict[str, Any]:
    from runstream_processors.analysis.importance import ImportanceInputs, compute_importance

    found: dict[str, Any] = {}
    for runs in sizes:
        ranked = covered = 0
        for seed in range(sweeps):
            params, metric = small_sweep(runs, seed)
            inputs = ImportanceInputs([str(index) for index in range(runs)], params, metric)
            results = {result.param: result for result in compute_importance(inputs)}
            order = list(results)
            ranked += (
                order[0] == "lr"
                and order.index("batch_size") < order.index("unused")
                and order.index("optimizer") < order.index("unused")
            )
            unused = results["unused"]
            assert unused.ci_low is not None and unused.ci_high is not None
            covered += unused.ci_low <= 0 <= unused.ci_high
        found[str(runs)] = {"sweeps": sweeps, "ranking_right": ranked, "unused_ci_has_0": covered}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--store", action="store_true", help="also read and write through a store")
    parser.add_argument(
        "--calibration", action="store_true", help="also check rankings and intervals"
    )
    args = parser.parse_args()
    result: dict[str, Any] = {
        "runs": args.runs,
        "params": 8,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average": os.getloadavg(),
        "import_sklearn_s": import_seconds(),
    }
    samples, cpu, ranking = time_compute(args.runs, args.repeats)
    result["compute_s"] = samples
    result["compute_median_s"] = statistics.median(samples)
    result["compute_cpu_s"] = cpu
    result["compute_cpu_median_s"] = statistics.median(cpu)
    result["ranking"] = ranking
    if args.store:
        store = time_store(args.runs, args.repeats)
        result["store"] = store
        result["store_read_median_s"] = statistics.median(store["read_s"])
        result["store_total_median_s"] = statistics.median(store["total_s"])
    if args.calibration:
        result["calibration"] = calibration()
    result["load_average_end"] = os.getloadavg()
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "importance.json").write_text(json.dumps(result, indent=2) + "\n")
    (HERE / "results" / "importance.md").write_text(report(result))
    print(report(result))


def report(result: dict[str, Any]) -> str:
    verdict = "met" if result["compute_median_s"] <= TARGET_S else "**not met**"
    cpu_verdict = "met" if result["compute_cpu_median_s"] <= TARGET_S else "**not met**"
    lines = [
        f"# Parameter importance: {result['runs']} runs × {result['params']} params",
        "",
        f"Machine: {result['machine']}; load average {result['load_average'][0]:.1f} at the "
        f"start, {result['load_average_end'][0]:.1f} at the end.",
        "",
        "| measurement | median | samples |",
        "|---|---|---|",
        f"| compute (inputs given; target ≤ {TARGET_S:.0f} s: {verdict}) | "
        f"{result['compute_median_s']:.3f} s | "
        + ", ".join(f"{value:.3f}" for value in result["compute_s"])
        + " |",
        f"| compute, CPU time of this process (one thread; {cpu_verdict}) | "
        f"{result['compute_cpu_median_s']:.3f} s | "
        + ", ".join(f"{value:.3f}" for value in result["compute_cpu_s"])
        + " |",
    ]
    if "store" in result:
        lines += [
            f"| store: read the sweep | {result['store_read_median_s']:.3f} s | "
            + ", ".join(f"{value:.3f}" for value in result["store"]["read_s"])
            + " |",
            f"| store: read, compute, write | {result['store_total_median_s']:.3f} s | "
            + ", ".join(f"{value:.3f}" for value in result["store"]["total_s"])
            + " |",
        ]
    lines += [
        "| `import sklearn.ensemble` (fresh process, once) | "
        f"{result['import_sklearn_s']:.2f} s | |",
        "",
        "| param | permutation importance | 95% CI | forest | spearman / eta | log |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["ranking"]:
        low, high = row["ci"]
        correlation = row["spearman"] if row["eta"] is None else row["eta"]
        lines.append(
            f"| {row['param']} | {row['permutation_importance']:.4f} | "
            f"[{low:.4f}, {high:.4f}] | {row['rf_importance']:.4f} | "
            f"{'eta ' if row['eta'] is not None else ''}{correlation:.3f} | "
            f"{'yes' if row['log_scale'] else ''} |"
        )
    if "calibration" in result:
        lines += [
            "",
            "| runs per sweep | sweeps | ranking lr > batch size, optimizer > unused | "
            "unused's 95% interval includes 0 |",
            "|---|---|---|---|",
        ]
        for runs, row in result["calibration"].items():
            lines.append(
                f"| {runs} | {row['sweeps']} | {row['ranking_right']} | {row['unused_ci_has_0']} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
