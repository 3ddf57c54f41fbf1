"""What ``run.watch()`` costs the example's training step (examples/train_digits.py).

The example's model, data, Adam optimizer and per-step ``run.log()``, in one run and one
process: blocks of ``--block`` optimizer steps alternate between no watch, ``run.watch(model,
optimizer, every=N)`` (the default interval) and ``every=1`` (the worst case), so the three
share the model, the data and whatever else the machine is doing. Each block's time is the
process's CPU time (``time.process_time``, one torch thread as in the example), so other
processes on a shared machine slow the blocks less than wall time would; the overhead is the
difference of the median block's mean step time. Prints JSON (and writes it to ``--out``).

    .venv/bin/python benchmarks/watch/bench.py --out benchmarks/watch/result.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import runstream
import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import train_digits


def batches(loader: DataLoader[tuple[torch.Tensor, ...]]) -> Iterator[tuple[torch.Tensor, ...]]:
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", type=int, default=200, help="steps per block")
    parser.add_argument("--blocks", type=int, default=20, help="blocks per condition")
    parser.add_argument("--every", type=int, default=100, help="watch interval (the default)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the example
    torch.manual_seed(0)
    train, _, _ = train_digits.load_data(0)
    data = batches(DataLoader(train, batch_size=64, shuffle=True))
    model = train_digits.build_model(128, 0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    conditions: dict[str, int | None] = {"without": None, "default": args.every, "every_step": 1}
    times: dict[str, list[float]] = {label: [] for label in conditions}
    step = 0
    with tempfile.TemporaryDirectory() as tmp:
        run = runstream.init(project="bench", dir=tmp, system_interval=None)

        def block(every: int | None) -> float:
            nonlocal step
            watch = None if every is None else run.watch(model, optimizer, every=every)
            began = time.process_time()
            for _ in range(args.block):
                images, labels = next(data)
                logits = model(images)
                loss = nn.functional.cross_entropy(logits, labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                run.log({"loss": loss.item()}, step=step, split="train")
            elapsed = time.process_time() - began
            if watch is not None:
                watch.remove()
            return elapsed / args.block

        for every in conditions.values():  # warm-up: first hooks, first keys, allocator
            block(every)
        for _ in range(args.blocks):
            for label, every in conditions.items():
                times[label].append(block(every))
        run.finish()
    median = {label: statistics.median(values) for label, values in times.items()}
    result = {
        "what": "examples/train_digits.py step (CNN, batch 64, Adam, run.log per step), CPU",
        "clock": "process CPU time per step, median of blocks",
        "block_steps": args.block,
        "blocks_per_condition": args.blocks,
        "every": args.every,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "step_ms_without_watch": round(median["without"] * 1e3, 4),
        "step_ms_with_watch": round(median["default"] * 1e3, 4),
        "step_ms_with_watch_every_step": round(median["every_step"] * 1e3, 4),
        "overhead_percent": round(100 * (median["default"] / median["without"] - 1), 2),
        "overhead_percent_every_step": round(
            100 * (median["every_step"] / median["without"] - 1), 2
        ),
        "block_ms": {k: [round(v * 1e3, 3) for v in vs] for k, vs in times.items()},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
