"""``log()`` at training-loop volume: every one of a million points reaches the spool.

No timing is asserted here (speed is measured in benchmarks/); this checks that the
fast path loses, reorders or alters nothing when the recorder works in big batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import runstream
from runstream.limits import MAX_POINTS_PER_BATCH
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb

CALLS = 100_000
KEYS = [f"metric_{k}" for k in range(10)]


def test_a_million_points_from_100k_calls_all_reach_the_spool(
    start_run: Callable[..., runstream.Run],
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    metric_columns: Callable[[pb.MetricBatch], Any],
    runstream_dir: Settings,
) -> None:
    run = start_run()
    log = run.log
    for step in range(CALLS):
        # value = step + k / 10: every point is distinct and checkable
        log({key: step + k / 10 for k, key in enumerate(KEYS)}, step=step, split="train")
    report = run.finish()

    assert report.points == CALLS * len(KEYS)
    assert report.complete, report.not_recorded

    batches = [e.metrics for e in read_envelopes(runstream_dir) if e.HasField("metrics")]
    assert {batch.split for batch in batches} == {"train"}
    columns = [metric_columns(batch) for batch in batches]
    assert all(len(c.values) <= MAX_POINTS_PER_BATCH for c in columns)
    steps = np.concatenate([c.steps for c in columns])
    values = np.concatenate([c.values for c in columns])
    key_numbers = np.concatenate(
        [np.asarray([KEYS.index(key) for key in c.keys])[c.key_index] for c in columns]
    )
    assert len(values) == CALLS * len(KEYS)
    np.testing.assert_array_equal(values, steps + key_numbers / 10)
    # each (step, key) exactly once
    assert len(np.unique(steps * len(KEYS) + key_numbers)) == CALLS * len(KEYS)
    assert steps.min() == 0 and steps.max() == CALLS - 1
