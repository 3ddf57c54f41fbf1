#!/usr/bin/env python3
"""One training process for the pipeline benchmark: logs metric points as fast as asked.

Every call logs ``--keys`` points. ``--rate`` (points/s) paces the loop, 0 runs it flat
out. ``--probe-interval`` adds a ``probe`` point (split ``probe``) whose value is the wall
clock at ``log()``: the benchmark's reader measures how long until it is queryable. Prints
one JSON line: points, seconds logging, seconds in ``finish()`` (until Kafka acknowledged
everything) and anything the run reports as not recorded.
"""

from __future__ import annotations

import argparse
import json
import time

import runstream


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="load")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.0, help="points/s; 0: flat out")
    parser.add_argument("--probe-interval", type=float, default=0.0)
    args = parser.parse_args()

    run = runstream.init(
        project="bench", name=args.name, capture_env=False, capture_code=False, system_interval=None
    )
    names = [f"metric_{key}" for key in range(args.keys)]
    calls = args.points // args.keys
    began = time.monotonic()
    next_probe, probes = began, 0
    for step in range(calls):
        run.log({name: step * 0.001 + index for index, name in enumerate(names)}, step=step)
        if step % 100 == 0:
            now = time.monotonic()
            if args.probe_interval and now >= next_probe:
                run.log({"probe": time.time()}, step=probes, split="probe")
                probes += 1
                next_probe = now + args.probe_interval
            if args.rate:
                ahead = (step + 1) * args.keys / args.rate - (now - began)
                if ahead > 0:
                    time.sleep(ahead)
    logged = time.monotonic()
    report = run.finish(timeout=600)
    done = time.monotonic()
    print(
        json.dumps(
            {
                "points": calls * args.keys,
                "probes": probes,
                "log_s": logged - began,
                "finish_s": done - logged,
                "not_recorded": report.not_recorded,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
