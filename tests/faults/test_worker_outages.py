"""Outages: the broker killed mid-run, the worker killed mid-write. Nothing lost, nothing twice."""

from __future__ import annotations

import time

import pytest
from real_services import LocalKafka
from support.kafka_pipeline import (
    Pipeline,
    Process,
    expected_fingerprint,
    job_report,
    metric_fingerprint,
    spool_envelopes,
    wait_for_file,
)

pytestmark = pytest.mark.services


def assert_exactly_once(pipeline: Pipeline) -> None:
    """The store answers every query as if each event had been written exactly once."""
    envelopes = spool_envelopes(pipeline.train_dir / "spool" / "kafka")
    pipeline.wait_for_events(len(envelopes), timeout=180)
    pipeline.assert_exactly_once(envelopes)
    assert metric_fingerprint(pipeline) == expected_fingerprint(envelopes)


def test_training_goes_on_while_the_broker_is_down(
    pipeline: Pipeline, local_kafka: LocalKafka
) -> None:
    worker = pipeline.worker()
    half, done = pipeline.root / "half", pipeline.root / "done"
    job = pipeline.job(
        0,
        "--steps",
        "400",
        "--keys",
        "5",
        "--pace",
        "0.01",
        "--marker",
        str(half),
        "--done-marker",
        str(done),
        "--finish-timeout",
        "120",  # the broker's restart, on a loaded machine, can take most of a minute
    )
    wait_for_file(half)
    local_kafka.kill()
    try:
        wait_for_file(done, timeout=30)  # every step logged while the broker is away
        assert job.alive()
        time.sleep(3)  # long enough for the shipper and the worker to notice
    finally:
        local_kafka.start()
    assert job.wait(120) == 0, job.output()
    assert job_report(job)["not_recorded"] == {}
    assert_exactly_once(pipeline)
    assert worker.alive(), worker.output()
    assert worker.stop() == 0


def kill_mid_chunk(pipeline: Pipeline, doomed: Process, timeout: float = 30.0) -> bool:
    """SIGKILL ``doomed`` as soon as a chunk is half written: metric rows stored whose event
    is not in ``events_seen`` yet (the sink writes that table last). False if never seen."""
    sql = (
        "SELECT count() FROM runstream.metrics WHERE event_id NOT IN "
        "(SELECT event_id FROM runstream.events_seen)"
    )
    deadline = time.monotonic() + timeout
    with pipeline.client() as client:
        while time.monotonic() < deadline and doomed.alive():
            if client.query(sql).result_rows[0][0]:
                doomed.kill()
                return True
    doomed.kill()
    return False


def test_a_worker_killed_mid_write_loses_and_duplicates_nothing(pipeline: Pipeline) -> None:
    jobs = [pipeline.job(run, "--steps", "6000", "--keys", "20") for run in range(3)]
    for job in jobs:
        assert job.wait(180) == 0, job.output()
        assert job_report(job)["not_recorded"] == {}, "everything reached Kafka"

    caught = [
        kill_mid_chunk(pipeline, pipeline.worker(f"doomed-{n}", "--batch-size", "4"))
        for n in range(3)
    ]
    assert any(caught), "never saw a half-written chunk to kill the worker in"
    assert pipeline.stored_events() < len(spool_envelopes(pipeline.train_dir / "spool" / "kafka"))

    # Another batch size: records regroup differently, as they would with other timing.
    survivor = pipeline.worker("survivor", "--batch-size", "7")
    assert_exactly_once(pipeline)
    assert "rewriting the journaled chunk" in survivor.output(tail=10_000) + "".join(
        process.output(tail=10_000) for process in pipeline.processes
    )
    assert survivor.stop() == 0, survivor.output()
