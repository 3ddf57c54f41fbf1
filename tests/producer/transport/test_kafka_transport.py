"""Team mode's transport against a real broker: spool first, ship in order, survive outages."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import runstream
from real_services import LocalKafka
from runstream.envelopes import EnvelopeFactory
from runstream.settings import Settings, load_settings
from runstream.shipper import ShipperOptions
from runstream.spool import Checkpoint, SpoolReader
from runstream.transport.kafka import PENDING, KafkaSpoolTransport
from runstream.wire import events_pb2 as pb
from support.kafka_records import consume

pytestmark = pytest.mark.services

QUIET: dict[str, Any] = {"capture_env": False, "capture_code": False, "system_interval": None}


def spooled(spool_dir: Path) -> list[pb.Envelope]:
    reader, checkpoint = SpoolReader(spool_dir), Checkpoint(spool_dir / "unsaved.json")
    envelopes: list[pb.Envelope] = []
    while batch := reader.read(checkpoint).records:
        envelopes.extend(pb.Envelope.FromString(record.payload) for record in batch)
        checkpoint.advance(batch)
    return envelopes


def test_every_event_reaches_the_topic_once_keyed_by_run_in_order(
    team_mode: Settings, kafka_bootstrap: str, topic: str
) -> None:
    runs = []
    for index in range(2):
        with runstream.init(project="tests", name=f"r{index}", **QUIET) as run:
            for step in range(2000):
                run.log({"loss": 1.0 / (step + 1), "acc": step / 2000}, step=step)
            runs.append(run)
    assert all(run.report is not None and run.report.not_recorded == {} for run in runs)

    sent = spooled(team_mode.spool_dir)
    records = consume(kafka_bootstrap, topic, len(sent))
    received = [pb.Envelope.FromString(record.value) for record in records]
    assert sorted(e.event_id for e in received) == sorted(e.event_id for e in sent)
    for record, envelope in zip(records, received, strict=True):
        assert record.key == envelope.run_id.encode()
    for run in runs:  # one partition per run, consumed in order: seq never goes back
        seqs = [e.seq for e in received if e.run_id == run.id]
        assert seqs == sorted(seqs) and seqs[0] == 1
    assert Checkpoint.load(team_mode.spool_dir, "kafka").offsets  # progress is on disk


def test_logging_never_waits_for_an_absent_broker(
    runstream_dir: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("RUNSTREAM_KAFKA_BOOTSTRAP", nowhere)
    began = time.monotonic()
    run = runstream.init(project="tests", name="offline", **QUIET)
    for step in range(5000):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    logging_s = time.monotonic() - began
    report = run.finish(timeout=2.0)
    finish_s = time.monotonic() - began - logging_s

    assert logging_s < 5.0
    assert finish_s < 10.0  # bounded even though nothing could be delivered
    envelopes = spooled(load_settings().spool_dir)
    assert report.not_recorded == {PENDING: len(envelopes)}
    assert sum(len(e.metrics.values) // 8 for e in envelopes) == 5000


def test_an_outage_longer_than_the_delivery_timeout_loses_nothing(
    team_mode: Settings,
    kafka_bootstrap: str,
    topic: str,
    local_kafka: LocalKafka,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """kafka-python's idempotent producer never sends again once batches expired: the
    shipper must notice, rebuild it and resend from what the broker acknowledged."""
    transport = KafkaSpoolTransport(
        team_mode, ShipperOptions(delivery_timeout_s=2.0, connect_timeout_s=2.0)
    )
    factory = EnvelopeFactory("tests", uuid.uuid4().hex)
    published: list[str] = []

    def publish(count: int) -> None:
        batch = [factory.wrap(pb.Heartbeat(interval_ms=1000)) for _ in range(count)]
        transport.publish(batch)
        published.extend(envelope.event_id for envelope in batch)

    publish(100)
    local_kafka.kill()
    try:
        for _ in range(20):  # 6 s of training while the broker is away
            publish(50)
            time.sleep(0.3)
    finally:
        local_kafka.start()
    publish(100)
    assert transport.close(timeout=90.0) == {}
    assert "events are kept in the spool" in caplog.text  # it did notice the outage
    assert "reachable again" in caplog.text

    received = consume(kafka_bootstrap, topic, len(published), timeout=30.0)
    ids = {pb.Envelope.FromString(record.value).event_id for record in received}
    assert ids == set(published)  # replays may repeat some; the store dedupes by event_id
