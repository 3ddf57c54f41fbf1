"""A training run whose RUNSTREAM_DIR is on a tiny real file system that fills up mid-run.

Run by ``test_spool_faults.py`` inside ``support.small_disk.run_on_small_disk`` (a tmpfs in
a user namespace): ``python disk_full_job.py DISK OUT``. It logs a step, fills DISK with a
filler file, keeps logging until the spool has reported the full disk, deletes the filler
(room returns), logs the rest and finishes. It prints the finish report as one JSON line
and copies the spool to OUT (the tmpfs is gone once it exits).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import runstream

STEPS = 200


class Said(logging.Handler):
    """What the SDK warned about (the spool's full-disk warnings among it)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    return filler


def wait_for(said: Said, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in message for message in said.messages):
        if time.monotonic() > deadline:
            sys.exit(f"no warning containing {text!r} within {timeout:.0f}s: {said.messages}")
        time.sleep(0.02)


def main() -> None:
    disk, out = Path(sys.argv[1]), Path(sys.argv[2])
    said = Said()
    logging.getLogger("runstream").addHandler(said)
    run = runstream.init(
        project="tests",
        name="full-disk",
        capture_env=False,
        capture_code=False,
        system_interval=None,
        flush_interval=0.02,
    )
    run.log({"loss": 1.0}, step=0)
    deadline = time.monotonic() + 30
    while not list(run.settings.spool_dir.glob("*.seg")) and time.monotonic() < deadline:
        time.sleep(0.02)
    filler = fill(disk)
    for step in range(1, STEPS // 2):
        run.log({"loss": 1.0 / step, "accuracy": step / STEPS}, step=step)
    wait_for(said, "disk is full")
    filler.unlink()  # room returns
    for step in range(STEPS // 2, STEPS):
        run.log({"loss": 1.0 / step, "accuracy": step / STEPS}, step=step)
    report = run.finish(timeout=30)
    shutil.copytree(run.settings.spool_dir, out / "spool")
    spool_warnings = [m for m in said.messages if "to the spool" in m]
    print(json.dumps({"report": dataclasses.asdict(report), "warnings": spool_warnings}))


if __name__ == "__main__":
    main()
