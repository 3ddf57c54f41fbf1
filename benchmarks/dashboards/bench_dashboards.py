"""Time every dashboard panel's query through ``runstream store serve`` (p50/p95 per panel).

    python benchmarks/dashboards/bench_dashboards.py [--runs 1000 --points 100000
        --overlay-runs 20 --overlay-points 1000000 --repeat 20]

Starts a server on a fresh store, fills it (``generate.py``), resolves each dashboard's
variables as a fresh dashboard would (the comparison: the 20 overlay runs chosen), expands
every panel query as Grafana and the plugin do (``tests/support/grafana_queries.py``) and
runs each ``--repeat`` times as the read-only dashboard account over HTTP. Writes
``results.json`` and ``results.md`` beside this script. Targets (issue #13): every panel
p95 <= 300 ms, the 20-run overlay <= 150 ms, the leaderboard <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the expander the proof test uses
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402
from support.grafana_queries import (  # noqa: E402
    Value,
    dashboard_variables,
    default_selection,
    expand,
    panel_queries,
)

WRITER, READER = "bench-writer", "bench-reader"
TARGETS = {"overlay": 150.0, "leaderboard": 50.0, "panel": 300.0}


def start(root: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    env.update(
        RUNSTREAM_DIR=str(root),
        RUNSTREAM_SERVER_PASSWORD=WRITER,
        RUNSTREAM_SERVER_READONLY_PASSWORD=READER,
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runstream_processors.cli.store",
            "serve",
            "--port",
            str(port),
            "--ingest-interval",
            "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start")


def resolve(
    reader: Any, document: dict[str, Any], pinned: dict[str, Value]
) -> tuple[dict[str, Any], dict[str, Value]]:
    variables = dashboard_variables(document)
    by_name = {v.name: v for v in variables}
    selected: dict[str, Value] = {}
    for variable in variables:
        if variable.type == "datasource":
            variable.options = [("runstream-clickhouse", "runstream")]
        elif variable.type == "query":
            rows = reader.query(expand(variable.query, by_name, selected)).result_rows
            variable.options = [(str(r[0]), str(r[-1])) for r in rows]
        selected[variable.name] = pinned.get(variable.name, default_selection(variable))
    return by_name, selected


def main() -> None:
    import clickhouse_connect

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--overlay-runs", type=int, default=20)
    parser.add_argument("--overlay-points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--port", type=int, default=18123)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rs-dash-bench-") as tmp:
        server = start(Path(tmp) / "rs", args.port)
        try:
            writer = clickhouse_connect.get_client(
                host="127.0.0.1",
                port=args.port,
                username="default",
                password=WRITER,
                autogenerate_session_id=False,
            )
            took = generate(writer, args.runs, args.points, args.overlay_runs, args.overlay_points)
            writer.command("OPTIMIZE TABLE runstream.metric_buckets FINAL")
            reader = clickhouse_connect.get_client(
                host="127.0.0.1",
                port=args.port,
                username="readonly",
                password=READER,
                autogenerate_session_id=False,
            )
            overlay = [
                r
                for (r,) in writer.query(
                    "SELECT lower(hex(MD5(concat('run-', toString(number))))) "
                    f"FROM numbers({args.runs}, {args.overlay_runs})"
                ).result_rows
            ]
            panels = measure(reader, overlay, args.repeat)
        finally:
            server.terminate()
            server.wait(60)
    record(args, took, panels)


def measure(reader: Any, overlay: list[str], repeat: int) -> list[dict[str, Any]]:
    out = []
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        document = json.loads(path.read_text())
        pinned: dict[str, Value] = {"metric": "train.loss"}
        if document["uid"] == "runstream-run-comparison":
            pinned["run"] = overlay
        if document["uid"] == "runstream-runs-overview":
            pinned["metric"] = ["train.loss"]
        by_name, selected = resolve(reader, document, pinned)
        for panel, sql in panel_queries(document):
            text = expand(sql, by_name, selected)
            times, rows = [], 0
            for _ in range(repeat):
                began = time.perf_counter()
                rows = len(reader.query(text).result_rows)
                times.append((time.perf_counter() - began) * 1000)
            times.sort()
            kind = (
                "overlay"
                if document["uid"] == "runstream-run-comparison" and panel["id"] == 1
                else "leaderboard"
                if document["uid"] == "runstream-runs-overview" and panel["id"] == 2
                else "panel"
            )
            out.append(
                {
                    "dashboard": path.stem,
                    "panel": panel["title"],
                    "kind": kind,
                    "rows": rows,
                    "p50_ms": round(statistics.median(times), 1),
                    "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
                    "target_ms": TARGETS[kind],
                }
            )
            print(
                f"{path.stem:16} {panel['title'][:50]:50} "
                f"p50 {out[-1]['p50_ms']:8.1f} p95 {out[-1]['p95_ms']:8.1f}",
                flush=True,
            )
    return out


def record(args: argparse.Namespace, took: dict[str, float], panels: list[dict[str, Any]]) -> None:
    result = {
        "sizes": {
            "runs": args.runs,
            "points_per_run": args.points,
            "overlay_runs": args.overlay_runs,
            "overlay_points_per_run": args.overlay_points,
            "repeat": args.repeat,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_1min": os.getloadavg()[0],
        },
        "generate_s": took,
        "panels": panels,
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"Sizes: {args.runs} runs x {args.points} points, {args.overlay_runs} overlay runs x "
        f"{args.overlay_points} points; {args.repeat} repeats; "
        f"load (1 min) {result['machine']['load_1min']:.1f} "
        f"on {os.cpu_count()} CPUs.",
        "",
        "| dashboard | panel | rows | p50 ms | p95 ms | target ms | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in panels:
        lines.append(
            f"| {p['dashboard']} | {p['panel']} | {p['rows']} | {p['p50_ms']} | {p['p95_ms']} | "
            f"{p['target_ms']:.0f} | {'yes' if p['p95_ms'] <= p['target_ms'] else 'no'} |"
        )
    (args.out / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
