"""Bad input reaches the DLQ topic and the dead_letters table, with reasons; the worker goes on."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from runstream.wire import events_pb2 as pb
from support.kafka_pipeline import Pipeline, expected_rows, spool_envelopes

pytestmark = pytest.mark.services


def envelope(**fields: Any) -> pb.Envelope:
    base: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "project": "kafka-tests",
        "run_id": uuid.uuid4().hex,
        "seq": 1,
        "time_unix_nano": time.time_ns(),
        "sdk_version": "tests",
    }
    base.update(fields)
    return pb.Envelope(**base)


def bad_records() -> dict[str, bytes]:
    """One record per kind of bad input, keyed by the reason the worker must give."""
    mismatched = pb.MetricBatch(
        keys=["loss"],
        row_lengths=(1).to_bytes(4, "little"),
        steps=(0).to_bytes(8, "little"),
        time_unix_nano=b"",
        key_index=(0).to_bytes(4, "little"),
        values=b"\0" * 8,
    )
    return {
        "malformed": b"\x00\xff this is not a protobuf \xff",
        "oversized": envelope(
            run_started=pb.RunStarted(name="big", notes="x" * 950_000)
        ).SerializeToString(),
        "invalid_id": envelope(
            event_id="not-an-id", heartbeat=pb.Heartbeat(interval_ms=1000)
        ).SerializeToString(),
        "invalid_columns": envelope(metrics=mismatched).SerializeToString(),
        "empty_payload": envelope().SerializeToString(),
        "unknown_run": envelope(heartbeat=pb.Heartbeat(interval_ms=1000)).SerializeToString(),
    }


def produce(pipeline: Pipeline, records: dict[str, bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=pipeline.bootstrap, max_request_size=2**20)
    try:
        for reason, value in records.items():
            producer.send(pipeline.events_topic, key=reason.encode(), value=value).get(30)
    finally:
        producer.close()


def dlq_messages(pipeline: Pipeline, count: int) -> list[Any]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        pipeline.dlq_topic,
        bootstrap_servers=pipeline.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
        max_partition_fetch_bytes=2**21,
    )
    messages = []
    try:
        for message in consumer:
            messages.append(message)
            if len(messages) >= count:
                break
    finally:
        consumer.close()
    return messages


def test_bad_records_become_dead_letters_and_good_ones_still_arrive(pipeline: Pipeline) -> None:
    worker = pipeline.worker()
    assert pipeline.job(0, "--steps", "50").wait(120) == 0
    records = bad_records()
    produce(pipeline, records)
    assert pipeline.job(1, "--steps", "50").wait(120) == 0

    envelopes = spool_envelopes(pipeline.train_dir / "spool" / "kafka")
    pipeline.wait_for_events(len(envelopes))
    pipeline.wait_until(
        lambda: pipeline.scalar("SELECT count() FROM runstream.dead_letters") >= len(records),
        f"{len(records)} dead letters",
    )

    counts = pipeline.assert_exactly_once(envelopes, dict.fromkeys(records, 1))
    assert (counts["runs_started"], counts["runs_finished"]) == (2, 2)
    stored = pipeline.query(
        "SELECT reason, source, lower(hex(payload)) FROM runstream.dead_letters"
    )
    assert sorted(reason for reason, _, _ in stored) == sorted(records)
    assert {source for _, source, _ in stored} == {"kafka"}
    assert {reason: payload for reason, _, payload in stored} == {
        reason: value.hex() for reason, value in records.items()
    }

    dead = dlq_messages(pipeline, len(records))
    reasons = {
        message.key.decode(): dict(message.headers)["runstream.reason"].decode() for message in dead
    }
    assert reasons == {reason: reason for reason in records}
    for message in dead:
        assert message.value == records[message.key.decode()]
        headers = dict(message.headers)
        assert headers["runstream.source.topic"].decode() == pipeline.events_topic
        assert headers["runstream.detail"]
    assert worker.alive(), worker.output()
    assert worker.stop() == 0


def test_an_event_the_store_refuses_is_a_dead_letter_and_blocks_nothing(
    pipeline: Pipeline,
) -> None:
    with pipeline.client() as client:
        client.command(
            "ALTER TABLE runstream.samples ADD CONSTRAINT no_poison CHECK prediction != 'poison'"
        )
    run_id = uuid.uuid4().hex
    started = envelope(run_id=run_id, run_started=pb.RunStarted(name="poisoned"))
    poisoned = envelope(
        run_id=run_id,
        seq=2,
        samples=pb.SampleBatch(step=0, samples=[pb.Sample(id="0", prediction="poison")]),
    )
    after = envelope(run_id=run_id, seq=3, heartbeat=pb.Heartbeat(interval_ms=1000))
    worker = pipeline.worker()
    # one key, one partition: the refused event sits between two good ones
    produce(pipeline, {"a-start": started.SerializeToString()})
    produce(pipeline, {"a-start": poisoned.SerializeToString()})
    produce(pipeline, {"a-start": after.SerializeToString()})
    assert pipeline.job(0, "--steps", "50").wait(120) == 0

    envelopes = spool_envelopes(pipeline.train_dir / "spool" / "kafka")
    counts = pipeline.assert_exactly_once([*envelopes, started, after], {"store_rejected": 1})
    assert counts["samples"] == expected_rows(envelopes)["samples"], "no poisoned sample"
    letters = pipeline.query("SELECT reason, event_id, project, run_id FROM runstream.dead_letters")
    assert letters == [("store_rejected", poisoned.event_id, "kafka-tests", run_id)]
    dead = dlq_messages(pipeline, 1)
    headers = dict(dead[0].headers)
    assert headers["runstream.reason"] == b"store_rejected"
    assert headers["runstream.event_id"] == poisoned.event_id.encode()
    assert dead[0].value == poisoned.SerializeToString()
    assert worker.alive(), worker.output()
    assert worker.stop() == 0
