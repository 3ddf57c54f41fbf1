"""One rank of a two-process torch.distributed (gloo) job that tracks itself with runstream.

Usage: python ddp_worker.py RANK WORLD_SIZE STORE_FILE MODE, with RUNSTREAM_DIR set.
MODE ``finish`` ends normally; ``die`` makes rank 1 exit without finishing, as a crash.
"""

from __future__ import annotations

import os
import sys
import time

import runstream
import torch
import torch.distributed as dist


def main() -> None:
    rank, world_size, store_file, mode = (
        int(sys.argv[1]),
        int(sys.argv[2]),
        sys.argv[3],
        sys.argv[4],
    )
    dist.init_process_group(
        "gloo", init_method=f"file://{store_file}", rank=rank, world_size=world_size
    )
    run = runstream.init(
        project="ddp",
        name="ddp-job",
        config={"lr": 0.1, "batch": 4},
        capture_code=False,
        capture_env=False,
        system_interval=0.1,
        heartbeat_interval=0.2,
    )
    weight = torch.ones(3)
    for step in range(5):
        grad = torch.full((3,), float(rank + 1))
        dist.all_reduce(grad)
        weight -= 0.1 * grad
        run.log({"loss": float(weight.sum()) + rank}, step=step, split="train")
    time.sleep(0.3)  # a system sample per rank
    if run.placement.is_main:
        run.summary["final_weight"] = float(weight.sum())
    else:
        run.summary["rank_1_only"] = 1.0  # not recorded: rank 0 owns the summary (warned)
    dist.barrier()
    if mode == "die" and rank == 1:
        time.sleep(0.5)  # its metrics reach the spool, then the process dies
        os._exit(3)
    report = run.finish()
    dist.destroy_process_group()
    print(f"rank {rank} run {run.id} not_recorded={sorted(report.not_recorded)}", file=sys.stderr)
    print(f"rank {rank} run {run.id}")


if __name__ == "__main__":
    main()
