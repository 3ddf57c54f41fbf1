"""The worker survives every record: huge ones, tombstones, conflicting duplicates; and it
stops on SIGTERM within 10 s and logs an outage in a few lines, whatever the broker does."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid

import pytest
from real_services import LocalKafka
from runstream.wire import events_pb2 as pb
from support.kafka_pipeline import Pipeline, spool_envelopes

from .test_worker_dead_letters import dlq_messages, envelope

pytestmark = pytest.mark.services

HUGE = 1_048_400
"""A record just under the producer's 1 MiB: its dead letter, with headers, is over it."""


def produce(pipeline: Pipeline, records: list[tuple[bytes, bytes | None]]) -> None:
    """``(key, value)`` in order (one key: one partition, so the order holds)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=pipeline.bootstrap, max_request_size=2**20)
    try:
        for key, value in records:
            producer.send(pipeline.events_topic, key=key, value=value).get(30)
    finally:
        producer.close()


def test_a_huge_record_and_a_tombstone_are_dead_letters_and_the_worker_goes_on(
    pipeline: Pipeline,
) -> None:
    worker = pipeline.worker()
    huge = b"\xff" + os.urandom(HUGE - 1)  # garbage: not an envelope
    produce(pipeline, [(b"huge", huge), (b"tombstone", None), (b"empty", b"")])
    assert pipeline.job(0, "--steps", "50").wait(120) == 0

    envelopes = spool_envelopes(pipeline.train_dir / "spool" / "kafka")
    pipeline.wait_for_events(len(envelopes), timeout=60)
    pipeline.wait_until(
        lambda: pipeline.scalar("SELECT count() FROM runstream.dead_letters") >= 3,
        "3 dead letters",
        timeout=30,
    )
    pipeline.assert_exactly_once(envelopes, {"oversized": 1, "tombstone": 1, "empty_record": 1})
    stored = {
        reason: (size, detail)
        for reason, size, detail in pipeline.query(
            "SELECT reason, length(payload), detail FROM runstream.dead_letters"
        )
    }
    assert set(stored) == {"oversized", "tombstone", "empty_record"}
    assert stored["oversized"][0] <= 2**20
    assert str(HUGE) in stored["oversized"][1]

    dead = {message.key: message for message in dlq_messages(pipeline, 3)}
    assert set(dead) == {b"huge", b"tombstone", b"empty"}
    headers = dict(dead[b"huge"].headers)
    assert headers["runstream.reason"] == b"oversized"
    assert headers["runstream.truncated"] == b"1"
    assert headers["runstream.original_size"] == str(HUGE).encode()
    assert headers["runstream.source.topic"] == pipeline.events_topic.encode()
    assert int(headers["runstream.source.offset"]) >= 0
    assert 0 < len(dead[b"huge"].value) < HUGE
    assert huge.startswith(dead[b"huge"].value)
    assert dict(dead[b"tombstone"].headers)["runstream.reason"] == b"tombstone"
    assert dead[b"tombstone"].value is None
    assert b"runstream.truncated" not in dict(dead[b"tombstone"].headers)
    assert worker.alive(), worker.output()
    assert worker.stop() == 0


def test_a_conflicting_duplicate_is_a_dead_letter_and_a_replay_is_not(
    pipeline: Pipeline,
) -> None:
    run_id, event_id = uuid.uuid4().hex, uuid.uuid4().hex
    started = envelope(run_id=run_id, run_started=pb.RunStarted(name="dupes"))
    beat = envelope(
        run_id=run_id, event_id=event_id, seq=2, heartbeat=pb.Heartbeat(interval_ms=1000)
    )
    other = envelope(
        run_id=run_id, event_id=event_id, seq=2, heartbeat=pb.Heartbeat(interval_ms=2000)
    )
    after = envelope(run_id=run_id, seq=3, heartbeat=pb.Heartbeat(interval_ms=1000))
    worker = pipeline.worker()
    produce(
        pipeline,
        [
            (b"run", started.SerializeToString()),
            (b"run", beat.SerializeToString()),
            (b"run", beat.SerializeToString()),  # a true replay: the same bytes
            (b"run", other.SerializeToString()),  # the same id, other content
            (b"run", after.SerializeToString()),
        ],
    )
    pipeline.wait_for_events(3, timeout=60)
    pipeline.wait_until(
        lambda: pipeline.scalar("SELECT count() FROM runstream.dead_letters") >= 1,
        "a dead letter",
        timeout=30,
    )
    time.sleep(1)  # a second letter (the replay's) would have arrived by now
    letters = pipeline.query(
        "SELECT reason, event_id, lower(hex(payload)) FROM runstream.dead_letters"
    )
    assert letters == [("conflicting_duplicate", event_id, other.SerializeToString().hex())]
    counts = pipeline.assert_exactly_once([started, beat, after], {"conflicting_duplicate": 1})
    assert (counts["events_seen"], counts["runs_started"]) == (3, 1)
    dead = dlq_messages(pipeline, 1)
    assert dict(dead[0].headers)["runstream.reason"] == b"conflicting_duplicate"
    assert dead[0].value == other.SerializeToString()
    assert worker.alive(), worker.output()
    assert worker.stop() == 0


_NOISY = re.compile(r"\[(WARNING|ERROR|CRITICAL)\]")


def test_an_outage_is_a_few_log_lines_and_sigterm_ends_the_worker_within_10_s(
    pipeline: Pipeline, local_kafka: LocalKafka
) -> None:
    worker = pipeline.worker()  # consuming: its fetches fail as soon as the broker is gone
    before = len(worker.log.read_text(errors="replace").splitlines())
    local_kafka.kill()
    try:
        time.sleep(20)
        lines = worker.log.read_text(errors="replace").splitlines()[before:]
        noisy = [line for line in lines if _NOISY.search(line)]
        assert 0 < len(noisy) < 20, "\n".join(noisy[:50])
        assert any("Kafka unreachable since" in line for line in noisy), "\n".join(noisy)
        assert worker.alive(), worker.output()

        began = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        worker.wait(15)
        took = time.monotonic() - began
        assert took < 10, f"the worker took {took:.1f}s to stop:\n{worker.output()}"
    finally:
        local_kafka.start()
