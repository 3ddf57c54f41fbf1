"""Team mode's liveness through the real pipeline: the worker's caught-up mark tells a dead
process (crashed) from a broker outage (delayed), for a run that is alone in the store."""

from __future__ import annotations

import time

import pytest
from real_services import LocalKafka
from support.counts import assert_exactly_once, spooled
from support.kafka_pipeline import Pipeline, job_report

pytestmark = pytest.mark.services

HEARTBEAT_S = 2.0
TIMEOUT_S = 3 * HEARTBEAT_S + 1  # overdue after 3 heartbeats and a second


def status(pipeline: Pipeline) -> str:
    rows = pipeline.query("SELECT status FROM runstream.runs WHERE name = 'job-0'")
    return str(rows[0][0]) if rows else "not there yet"


def test_a_lone_killed_run_is_delayed_during_an_outage_and_crashed_once_the_worker_catches_up(
    pipeline: Pipeline, local_kafka: LocalKafka
) -> None:
    pipeline.worker()
    job = pipeline.job(0, "--steps", "20", "--no-finish", "--heartbeat", str(HEARTBEAT_S))
    pipeline.wait_until(lambda: job.log.read_text().startswith("{"), "the job to log")
    pipeline.wait_until(lambda: status(pipeline) == "running", "the run to be running")

    job.kill()  # SIGKILL: no RunFinished, the heartbeats stop
    killed_at = time.monotonic()
    sent = spooled(pipeline.train_dir / "spool" / "kafka")
    pipeline.wait_for_events(len(sent), timeout=60)  # all it sent is in: only the run is gone
    local_kafka.kill()  # ... and now the broker too: the worker cannot know it caught up
    try:
        assert time.monotonic() - killed_at < TIMEOUT_S, "too slow to tell the two apart"
        pipeline.wait_until(lambda: status(pipeline) == "delayed", "delayed", timeout=30)
        held = time.monotonic() + 3 * 2.0  # three of the worker's mark intervals
        while time.monotonic() < held:
            assert status(pipeline) == "delayed", "an outage must never read as crashed"
            time.sleep(0.5)
    finally:
        local_kafka.start()
    pipeline.wait_until(lambda: status(pipeline) == "crashed", "crashed", timeout=90)
    marks = pipeline.query("SELECT source FROM runstream.pipeline_progress GROUP BY source")
    assert marks == [(f"worker:{pipeline.group}",)]

    with pipeline.client() as client:
        counts = assert_exactly_once(client, sent)
    assert (counts["metrics"], counts["runs_started"], counts["runs_finished"]) == (100, 1, 0)
    assert job_report(job) == {"run_id": sent[0].run_id, "logged": True}
