"""Kafka mode finds the alerts embedded mode finds: the worker drives the same ingest core."""

from __future__ import annotations

import sys
import textwrap

import pytest
from support.kafka_pipeline import Pipeline, Process

pytestmark = pytest.mark.services

SCRIPT = textwrap.dedent("""
    import math, runstream
    with runstream.init(project="kafka-alerts", name="bad", capture_env=False,
                        capture_code=False, system_interval=None) as run:
        for step in range(40):
            run.log({"loss": 2.0 / (1 + step) if step < 30 else 10.0 ** (6 * (step - 30))},
                    step=step)
        run.log({"acc": math.nan}, step=40)
""")


def test_the_worker_records_divergence_nonfinite_and_finish_alerts_once(
    pipeline: Pipeline,
) -> None:
    worker = pipeline.worker()
    job = Process.start(
        "bad", [sys.executable, "-c", SCRIPT], pipeline.train_env(), pipeline.root / "bad.log"
    )
    pipeline.processes.append(job)
    assert job.wait(120) == 0, job.output()
    pipeline.wait_until(
        lambda: pipeline.scalar("SELECT count() FROM runstream.run_alerts") >= 3,
        "three alerts",
    )
    rows = pipeline.query(
        "SELECT rule, severity, metric, step, source FROM runstream.run_alerts ORDER BY rule"
    )
    assert rows == [
        ("divergence", "critical", "loss", 31, "kafka"),
        ("finished", "info", "", 0, "kafka"),
        ("nonfinite", "critical", "acc", 40, "kafka"),
    ]
    assert worker.stop() == 0, worker.output()
