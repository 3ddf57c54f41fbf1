"""A training job for the Kafka tests, run as its own process (``python train_job.py ...``).

Everything it logs is a pure function of its arguments, so a test knows what the store
must hold. ``--marker`` is written once half the steps are logged (tests act then);
``--pace`` slows the loop so that an outage can happen in the middle of it. The run's
finish report is printed as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import runstream


def value(run: int, key: int, step: int) -> float:
    return run * 1000.0 + key + step / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between steps")
    parser.add_argument("--marker", type=Path, help="written when half the steps are logged")
    parser.add_argument("--done-marker", type=Path, help="written when all steps are logged")
    parser.add_argument("--finish-timeout", type=float, default=60.0)
    parser.add_argument("--no-finish", action="store_true", help="sleep instead of finishing")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="heartbeat interval (s)")
    args = parser.parse_args()

    run = runstream.init(
        project="kafka-tests",
        name=f"job-{args.run}",
        config={"lr": 0.01 * (args.run + 1), "index": args.run},
        capture_env=False,
        capture_code=False,
        system_interval=None,
        heartbeat_interval=args.heartbeat,
    )
    for step in range(args.steps):
        run.log({f"k{key}": value(args.run, key, step) for key in range(args.keys)}, step=step)
        if args.marker and step == args.steps // 2:
            args.marker.write_text(str(step))
        if args.pace:
            time.sleep(args.pace)
    run.log_samples(
        [f"x{i}" for i in range(3)],
        [str(i) for i in range(3)],
        ["0", "1", "0"],
        step=args.steps,
        split="eval",
    )
    if args.done_marker:
        args.done_marker.write_text(str(time.time()))
    if args.no_finish:
        print(json.dumps({"run_id": run.id, "logged": True}), flush=True)
        time.sleep(3600)
    report = run.finish(timeout=args.finish_timeout)
    print(json.dumps({"run_id": run.id, "not_recorded": report.not_recorded}), flush=True)


if __name__ == "__main__":
    main()
