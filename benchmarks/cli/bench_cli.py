#!/usr/bin/env python3
"""The CLI's cost: the first call after a long run, warm calls, and ``mlflow runs list``.

One run of this script measures, on this machine:

* ``first_call``: a run of 200,000 steps × 20 metrics (4M points) is logged in embedded
  mode; then ``runstream runs`` takes in its spool and answers. Wall time, peak RSS
  (``VmHWM``) and peak anonymous RSS (``RssAnon``, sampled every 10 ms: the memory the
  process allocates, without the ~270 MB of chdb's shared library pages), from a fresh
  copy of the data each repeat.
* ``ingest``: the same spool taken in in-process (``ingest_spool``): points/s, and how much
  of the time is the engine's inserts (the rest is reading, validating, building Arrow).
* ``warm_embedded``: ``runstream runs`` on that store with nothing new in the spool.
* ``warm_server``: the same through ``runstream store serve`` (``RUNSTREAM_CLICKHOUSE_URL``).
* ``mlflow_runs_list``: ``mlflow runs list`` on a sqlite store with two runs, with the
  peers' venv (``benchmarks/.venv-peers``, see benchmarks/README.md); skipped with a reason
  when that venv is missing.
* ``python_floor``: ``python -c pass`` and ``python -c "import chdb"``, for scale.

    .venv/bin/python benchmarks/cli/bench_cli.py            # ~3 minutes on 2 cores

Results: ``results/cli.json`` and ``results/cli.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PYTHON = sys.executable
RUNSTREAM = str(Path(PYTHON).with_name("runstream"))
PEERS_PYTHON = REPO / "benchmarks" / ".venv-peers" / "bin" / "python"

LOG_RUN = """
import sys, runstream
steps, keys = int(sys.argv[1]), [f"metric_{i:02d}" for i in range(20)]
with runstream.init(project="bench", name=sys.argv[2], config={"lr": float(sys.argv[3])},
                    system_interval=None, capture_code=False) as run:
    for step in range(steps):
        run.log({k: step * 0.001 + i for i, k in enumerate(keys)}, step=step, split="train")
"""

MLFLOW_RUNS = """
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
for name, lr in (("big", 0.1), ("small", 0.01)):
    with mlflow.start_run(run_name=name):
        mlflow.log_params({"lr": lr})
        for step in range(200):
            mlflow.log_metrics({f"metric_{i:02d}": step * 0.001 + i for i in range(20)}, step=step)
"""

INGEST = """
import json, sys, time
from runstream.settings import load_settings
from runstream_processors.sinks import inserts
from runstream_processors.store.connection import open_store
from runstream_processors.ingest.spool import ingest_spool

spent = [0.0]
insert = inserts.EmbeddedInserts.insert
def timed(self, table, data, token):
    began = time.perf_counter()
    insert(self, table, data, token)
    spent[0] += time.perf_counter() - began
inserts.EmbeddedInserts.insert = timed
settings = load_settings(sys.argv[1])
with open_store(settings, "benchmark") as client:
    began = time.perf_counter()
    report = ingest_spool(client, settings.local_spool_dir)
    seconds = time.perf_counter() - began
print(json.dumps({"seconds": seconds, "points": report.points, "insert_seconds": spent[0]}))
"""


def run_measured(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall time, peak RSS and peak anonymous RSS of one command (sampled every 10 ms)."""
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    peak_anon = peak_rss = 0
    while process.poll() is None:
        with contextlib.suppress(OSError, IndexError, ValueError):
            status = Path(f"/proc/{process.pid}/status").read_text()
            peak_anon = max(peak_anon, int(status.split("RssAnon:")[1].split()[0]))
            peak_rss = max(peak_rss, int(status.split("VmHWM:")[1].split()[0]))
        time.sleep(0.01)
    if process.returncode != 0:
        raise RuntimeError(f"{command} exited with {process.returncode}")
    return {
        "seconds": time.perf_counter() - began,
        "peak_rss_mb": peak_rss / 1024,
        "peak_anon_mb": peak_anon / 1024,
    }


def timed(command: list[str], env: dict[str, str], repeats: int) -> dict[str, Any]:
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - began)
    return summary(seconds)


def summary(seconds: list[float]) -> dict[str, Any]:
    ordered = sorted(seconds)
    return {
        "median_s": statistics.median(ordered),
        "p90_s": ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))],
        "min_s": ordered[0],
        "samples": [round(value, 3) for value in seconds],
    }


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    env.update(extra)
    return env


def wait_idle(limit: float) -> None:
    """Wait (at most ``limit`` s) until the 1-minute load average is under one core."""
    deadline = time.monotonic() + limit
    while os.getloadavg()[0] > 1.0 and time.monotonic() < deadline:
        time.sleep(2)


@contextlib.contextmanager
def store_server(root: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        RUNSTREAM,
        "--dir",
        str(root),
        "store",
        "serve",
        "--port",
        str(port),
        "--ingest-interval",
        "0",
        "--log-level",
        "WARNING",
    ]
    server = subprocess.Popen(command, env=clean_env(), stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/ping", timeout=1):
                break
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=200_000, help="steps of the big run")
    parser.add_argument("--repeats", type=int, default=3, help="first-call and ingest repeats")
    parser.add_argument("--warm", type=int, default=10, help="warm calls per mode")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=60.0,
        help="seconds to wait for a quiet machine before each phase",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_at_start": os.getloadavg()[0],
        },
        "steps": args.steps,
        "points": args.steps * 20,
    }
    with tempfile.TemporaryDirectory(prefix="runstream-bench-cli-") as scratch:
        base = Path(scratch) / "logged"
        env = clean_env(RUNSTREAM_DIR=str(base))
        subprocess.run([PYTHON, "-c", LOG_RUN, str(args.steps), "big", "0.1"], env=env, check=True)
        subprocess.run([PYTHON, "-c", LOG_RUN, "200", "small", "0.01"], env=env, check=True)

        first, ingest = [], []
        for repeat in range(args.repeats):
            wait_idle(args.wait_idle)
            copy = Path(scratch) / f"first-{repeat}"
            shutil.copytree(base, copy)
            first.append(run_measured([RUNSTREAM, "--dir", str(copy), "runs"], clean_env()))
            wait_idle(args.wait_idle)
            copy = Path(scratch) / f"ingest-{repeat}"
            shutil.copytree(base, copy)
            out = subprocess.run(
                [PYTHON, "-c", INGEST, str(copy)],
                env=clean_env(),
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            ingest.append(json.loads(out.strip().splitlines()[-1]))
        results["first_call"] = {
            "median_s": statistics.median(item["seconds"] for item in first),
            "peak_rss_mb": max(item["peak_rss_mb"] for item in first),
            "peak_anon_mb": max(item["peak_anon_mb"] for item in first),
            "samples": first,
        }
        rates = [item["points"] / item["seconds"] for item in ingest]
        results["ingest"] = {
            "median_points_per_s": statistics.median(rates),
            "best_points_per_s": max(rates),
            "engine_share": statistics.median(i["insert_seconds"] / i["seconds"] for i in ingest),
            "samples": ingest,
        }

        store = Path(scratch) / "first-0"
        wait_idle(args.wait_idle)
        results["warm_embedded"] = timed(
            [RUNSTREAM, "--dir", str(store), "runs"], clean_env(), args.warm
        )
        with store_server(store) as url:
            wait_idle(args.wait_idle)
            results["warm_server"] = timed(
                [RUNSTREAM, "--dir", str(store), "runs"],
                clean_env(RUNSTREAM_CLICKHOUSE_URL=url),
                args.warm,
            )

        if PEERS_PYTHON.exists():
            uri = f"sqlite:///{scratch}/mlflow.db"
            subprocess.run(
                [str(PEERS_PYTHON), "-c", MLFLOW_RUNS, uri],
                check=True,
                capture_output=True,
                env=clean_env(),
            )
            mlflow = str(PEERS_PYTHON.with_name("mlflow"))
            wait_idle(args.wait_idle)
            results["mlflow_runs_list"] = timed(
                [mlflow, "runs", "list", "--experiment-id", "0"],
                clean_env(MLFLOW_TRACKING_URI=uri),
                max(3, args.warm // 2),
            )
        else:
            results["mlflow_runs_list"] = {"skipped": f"{PEERS_PYTHON} is missing"}
        results["python_floor"] = {
            "pass": timed([PYTHON, "-c", "pass"], clean_env(), 5),
            "import_chdb": timed([PYTHON, "-c", "import chdb"], clean_env(), 5),
        }
    results["machine"]["load_at_end"] = os.getloadavg()[0]
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "cli.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "cli.md").write_text(render(results))
    print(render(results))


def render(results: dict[str, Any]) -> str:
    first, ingest = results["first_call"], results["ingest"]
    mlflow = results["mlflow_runs_list"]
    mlflow_line = (
        f"| `mlflow runs list` (sqlite, 2 runs) | {mlflow['median_s']:.2f} s | "
        f"{mlflow['p90_s']:.2f} s |"
        if "median_s" in mlflow
        else f"| `mlflow runs list` | skipped: {mlflow['skipped']} | |"
    )
    floor = results["python_floor"]
    return "\n".join(
        [
            f"# CLI benchmark ({results['machine']['cpus']} cores, Python "
            f"{results['machine']['python']}; load {results['machine']['load_at_start']:.1f} at "
            f"start, {results['machine']['load_at_end']:.1f} at end)",
            "",
            f"A run of {results['steps']:,} steps × 20 metrics "
            f"({results['points']:,} points), then:",
            "",
            "| what | median | p90 / peak |",
            "|---|---|---|",
            f"| first `runstream runs` (takes in the spool) | {first['median_s']:.2f} s | "
            f"RSS {first['peak_rss_mb']:.0f} MB, anonymous {first['peak_anon_mb']:.0f} MB |",
            f"| spool ingest, in-process | {ingest['median_points_per_s'] / 1e6:.2f} M points/s | "
            f"best {ingest['best_points_per_s'] / 1e6:.2f} M/s; engine inserts "
            f"{ingest['engine_share']:.0%} of the time |",
            f"| warm `runstream runs`, embedded | {results['warm_embedded']['median_s']:.2f} s | "
            f"{results['warm_embedded']['p90_s']:.2f} s |",
            f"| warm `runstream runs`, through `store serve` | "
            f"{results['warm_server']['median_s']:.2f} s | "
            f"{results['warm_server']['p90_s']:.2f} s |",
            mlflow_line,
            f"| `python -c pass` / `python -c 'import chdb'` | "
            f"{floor['pass']['median_s']:.2f} s / {floor['import_chdb']['median_s']:.2f} s | |",
            "",
        ]
    )


if __name__ == "__main__":
    main()
