"""A training process killed with SIGKILL leaves a spool that says: started, logged, never finished.

(Turning that into status "crashed" after the heartbeat timeout is the processors' job and
is tested there.)
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from runstream.settings import Settings
from runstream.wire import events_pb2 as pb
from support.counts import assert_exactly_once
from support.runs import store

DOOMED = textwrap.dedent(
    """
    import os, signal, time
    import runstream
    from runstream.spool import Checkpoint, SpoolReader
    from runstream.wire import events_pb2 as pb

    run = runstream.init(project="tests", name="doomed", heartbeat_interval=0.5,
                         capture_env=False, capture_code=False, system_interval=None)
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1), "lr": 0.1}, step=step, split="train")

    # Wait until the recorder has spooled the points and a second heartbeat, then die
    # without any chance to clean up.
    directory = run.settings.spool_dir
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        records = SpoolReader(directory).read(Checkpoint(directory / "unsaved.json")).records
        kinds = [pb.Envelope.FromString(r.payload).WhichOneof("payload") for r in records]
        if "metrics" in kinds and kinds.count("heartbeat") >= 2:
            break
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_killed_process_leaves_its_start_and_metrics_but_no_end(
    runstream_dir: Settings,
    tmp_path: Path,
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    metric_points: Callable[[list[pb.Envelope]], list[tuple[str, int, float, str]]],
    payload_kinds: Callable[[list[pb.Envelope]], list[str]],
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DOOMED], cwd=tmp_path, capture_output=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()

    envelopes = read_envelopes(runstream_dir)  # also: no damage, the writer died between writes
    kinds = payload_kinds(envelopes)
    assert kinds[0] == "run_started" and envelopes[0].seq == 1
    assert envelopes[0].run_started.name == "doomed"
    assert envelopes[0].run_started.heartbeat_interval_ms == 500
    assert "run_finished" not in kinds
    assert kinds.count("heartbeat") >= 2
    assert all(e.heartbeat.interval_ms == 500 for e in envelopes if e.HasField("heartbeat"))
    assert [e.seq for e in envelopes] == list(range(1, len(envelopes) + 1))
    assert sorted(metric_points(envelopes)) == sorted(
        [("loss", step, 1.0 / (step + 1), "train") for step in range(5)]
        + [("lr", step, 0.1, "train") for step in range(5)]
    )
    assert len({e.run_id for e in envelopes}) == 1

    with store(runstream_dir) as client:  # what was spooled lands, exactly once
        counts = assert_exactly_once(client, envelopes)
    assert (counts["metrics"], counts["runs_started"], counts["runs_finished"]) == (10, 1, 0)
