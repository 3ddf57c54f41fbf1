"""Concurrent training processes → Kafka → the worker → the store: exactly every event, once."""

from __future__ import annotations

import pytest
from support.kafka_pipeline import Pipeline, expected_rows, job_report, spool_envelopes

pytestmark = pytest.mark.services

RUNS = 4


def test_concurrent_runs_arrive_exactly_once_in_every_table(pipeline: Pipeline) -> None:
    worker = pipeline.worker()
    jobs = [pipeline.job(run, "--steps", "300", "--keys", "7") for run in range(RUNS)]
    for job in jobs:
        assert job.wait(120) == 0, job.output()
        assert job_report(job)["not_recorded"] == {}

    envelopes = spool_envelopes(pipeline.train_dir / "spool" / "kafka")
    pipeline.wait_for_events(len(envelopes))

    expected = expected_rows(envelopes)
    assert expected["metrics"] == RUNS * 300 * 7
    assert expected["runs_started"] == expected["runs_finished"] == RUNS
    assert pipeline.assert_exactly_once(envelopes) == expected
    assert worker.alive(), worker.output()
    assert worker.stop() == 0, worker.output()


def test_worker_processes_of_one_group_share_the_partitions(pipeline: Pipeline) -> None:
    pair = pipeline.worker("pair", "--concurrency", "2")
    jobs = [pipeline.job(run, "--steps", "400", "--keys", "3") for run in range(3)]
    for job in jobs:
        assert job.wait(120) == 0, job.output()

    envelopes = spool_envelopes(pipeline.train_dir / "spool" / "kafka")
    pipeline.wait_for_events(len(envelopes))
    pipeline.assert_exactly_once(envelopes)
    assert pair.log.read_text().count("[^Worker]: Ready") == 2  # two consumers, one group
    assert pair.stop() == 0, pair.output()
