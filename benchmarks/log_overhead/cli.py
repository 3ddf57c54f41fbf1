"""SDK logging overhead: runstream's ``run.log()`` side by side with its peers, in one run.

For every tracker, in its own fresh subprocess and its own temporary directory:

* timing phase: warm-up, then ``--calls`` calls logging the same-shape 10-key dict
  (``{"metric_0": float, ..., "metric_9": float}``, values varying, ``step=i``), each
  call timed with ``time.perf_counter_ns()``; then the finish/close/flush call, timed
  (the time until what was logged is on disk);
* memory phase (a second fresh subprocess): 10M points (1M calls x 10 keys), peak RSS
  growth of the process and its helper processes over the baseline taken after init,
  and the total wall time. A tracker too slow to log 1M calls in ``--full-memory-threshold``
  seconds logs only as many calls as fit in ``--memory-budget`` seconds: its wall time
  is extrapolated linearly to 10M points, its memory never is.

Run it with the peers venv (see benchmarks/README.md)::

    benchmarks/.venv-peers/bin/python -m benchmarks.log_overhead

Results go to ``benchmarks/results/log_overhead.json`` and ``.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import DEFAULT_OUT, FULL_MEMORY_CALLS, KEYS
from .measure import child_main, run_tracker
from .report import machine_facts, render_markdown
from .trackers import SPECS, SPECS_BY_NAME


def parent_main(args: argparse.Namespace) -> int:
    if args.trackers:
        names = [n.strip() for n in args.trackers.split(",") if n.strip()]
        unknown = [n for n in names if n not in SPECS_BY_NAME]
        if unknown:
            print(f"unknown tracker(s): {', '.join(unknown)}; see --list", file=sys.stderr)
            return 2
    else:
        names = [spec.name for spec in SPECS if spec.default]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "benchmark": "log_overhead",
        "machine": machine_facts(),
        "parameters": {
            "keys_per_call": len(KEYS),
            "calls": args.calls,
            "warmup": args.warmup,
            "timing_budget": args.timing_budget,
            "memory_calls": args.memory_calls,
            "memory_budget": args.memory_budget,
            "full_memory_threshold": args.full_memory_threshold,
            "memory_pause_ms": args.memory_pause_ms,
            "wait_idle": args.wait_idle,
            "idle_cores": args.idle_cores,
            "trackers": names,
        },
        "results": [],
    }
    started = time.perf_counter()
    for name in names:
        doc["results"].append(run_tracker(SPECS_BY_NAME[name], args))
        # Write as we go, so an interrupted run keeps what it measured.
        doc["machine"]["load_avg_at_end"] = os.getloadavg()
        doc["wall_s"] = time.perf_counter() - started
        out.write_text(json.dumps(doc, indent=2) + "\n")
    out.with_suffix(".md").write_text(render_markdown(doc))
    print(f"wrote {out} and {out.with_suffix('.md')} in {doc['wall_s']:.0f} s")
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--trackers",
        help="comma-separated tracker names (default: every default tracker; see --list)",
    )
    parser.add_argument("--list", action="store_true", help="list trackers and exit")
    parser.add_argument("--calls", type=int, default=10_000, help="timed log() calls (N)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed warm-up calls")
    parser.add_argument(
        "--timing-budget",
        type=float,
        default=45.0,
        help="stop the timed loop after this many seconds (slow trackers)",
    )
    parser.add_argument(
        "--memory-calls",
        type=int,
        default=FULL_MEMORY_CALLS,
        help="calls in the memory phase (10 points each)",
    )
    parser.add_argument(
        "--full-memory-threshold",
        type=float,
        default=180.0,
        help="trackers estimated to need longer than this for the memory phase log fewer calls",
    )
    parser.add_argument(
        "--memory-budget",
        type=float,
        default=45.0,
        help="seconds of (log + finish) that a slow tracker's memory phase is sized for",
    )
    parser.add_argument(
        "--memory-pause-ms",
        type=float,
        default=0.0,
        help="memory phase: sleep this long every 1000 calls (a paced loop, not a tight one)",
    )
    parser.add_argument("--skip-memory", action="store_true", help="timing phase only")
    parser.add_argument(
        "--child-timeout",
        type=float,
        default=900.0,
        help="extra seconds a child may take beyond its budget (finish/flush) before it is killed",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        help="before each child, wait up to this many seconds for the machine to go idle",
    )
    parser.add_argument(
        "--idle-cores",
        type=float,
        default=0.3,
        help="'idle' for --wait-idle: at most this many cores busy",
    )
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the .md from the --out JSON and exit"
    )
    parser.add_argument("--keep-dirs", action="store_true", help="keep the temp dirs")
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT), help="JSON output path; the .md goes next to it"
    )
    # Internal: the child side.
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=("timing", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--time-budget", type=float, default=60.0, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    if args.render_only:
        out = Path(args.out)
        out.with_suffix(".md").write_text(render_markdown(json.loads(out.read_text())))
        return 0
    if args.list:
        for spec in SPECS:
            flag = "" if spec.default else "  (not run by default)"
            print(f"{spec.name:22} {spec.mode}{flag}")
        return 0
    return parent_main(args)
