"""A training process killed before its spool reached Kafka: ``runstream sync`` ships the rest."""

from __future__ import annotations

import signal

import pytest
from support.kafka_pipeline import (
    Pipeline,
    expected_rows,
    free_port,
    spool_envelopes,
    stored_rows,
    wait_for_file,
)

pytestmark = pytest.mark.services


def test_sync_ships_what_a_killed_process_left_in_the_spool(pipeline: Pipeline) -> None:
    nowhere = f"127.0.0.1:{free_port()}"  # no broker: everything stays in the spool
    done = pipeline.root / "done"
    job = pipeline.job(
        0, "--steps", "300", "--done-marker", str(done), "--no-finish", bootstrap=nowhere
    )
    wait_for_file(done)
    pipeline.wait_until(lambda: "logged" in job.log.read_text(), "the job to spool everything")
    job.process.send_signal(signal.SIGKILL)
    job.process.wait()

    unreachable = pipeline.sync("--timeout", "3", bootstrap=nowhere)
    assert unreachable.returncode == 1, unreachable.stderr
    assert "still in the spool" in unreachable.stderr

    worker = pipeline.worker()
    shipped = pipeline.sync("--timeout", "120")
    assert shipped.returncode == 0, shipped.stderr
    assert "shipped" in shipped.stderr

    envelopes = spool_envelopes(pipeline.train_dir / "spool" / "kafka")
    assert [e.WhichOneof("payload") for e in envelopes].count("run_finished") == 0
    pipeline.wait_for_events(len(envelopes))
    assert stored_rows(pipeline) == expected_rows(envelopes)
    again = pipeline.sync("--timeout", "10")
    assert again.returncode == 0 and "nothing to sync" in again.stderr
    assert worker.stop() == 0
