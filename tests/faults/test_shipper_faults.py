"""Team mode under faults: a full disk, a crashing shipper, damage found by `runstream sync`."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from runstream import shipper as shipper_module
from runstream import spool as spool_module
from runstream.envelopes import EnvelopeFactory
from runstream.settings import Settings
from runstream.shipper import DAMAGE_LOG, ShipperOptions, recorded_damage
from runstream.spool import MAGIC, Checkpoint, SpoolReader, SpoolWriter
from runstream.transport.kafka import KafkaSpoolTransport
from runstream.wire import events_pb2 as pb
from runstream_processors.store.connection import get_client
from support.counts import dead_letters
from support.kafka_records import consume

pytestmark = pytest.mark.services

OPTIONS = ShipperOptions(delivery_timeout_s=5.0, connect_timeout_s=5.0)


def heartbeats(factory: EnvelopeFactory, count: int) -> list[pb.Envelope]:
    return [factory.wrap(pb.Heartbeat(interval_ms=1000)) for _ in range(count)]


def wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_full_disk_while_shipping_neither_kills_the_shipper_nor_loses_events(
    team_mode: Settings,
    kafka_bootstrap: str,
    topic: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The checkpoint save fails with ENOSPC while the broker acknowledges: the shipper
    thread goes on (it used to die there), warns twice in all, and saves when space returns."""
    caplog.set_level(logging.WARNING, logger="runstream")
    full = [True]
    saves_failed = [0]
    real_save = Checkpoint.save

    def save(self: Checkpoint) -> None:
        if full[0]:
            saves_failed[0] += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(self)

    monkeypatch.setattr(Checkpoint, "save", save)
    transport = KafkaSpoolTransport(team_mode, OPTIONS)
    factory = EnvelopeFactory("tests", uuid.uuid4().hex)
    published: list[str] = []
    for _ in range(5):
        batch = heartbeats(factory, 40)
        transport.publish(batch)
        published += [envelope.event_id for envelope in batch]
        time.sleep(0.2)
    wait_for(lambda: transport._shipped >= len(published), "the broker to acknowledge")
    wait_for(lambda: saves_failed[0] >= 3, "repeated checkpoint saves")
    assert transport._thread.is_alive(), "the shipper thread survived the full disk"
    full[0] = False
    batch = heartbeats(factory, 40)
    transport.publish(batch)
    published += [envelope.event_id for envelope in batch]
    assert transport.close(timeout=60.0) == {}

    [segment] = SpoolReader(team_mode.spool_dir).segments()
    saved = Checkpoint.load(team_mode.spool_dir, "kafka").offsets
    assert saved == {segment.name: segment.stat().st_size}, "all acknowledged, and saved"
    received = consume(kafka_bootstrap, topic, len(published), timeout=30.0)
    shipped = sorted(pb.Envelope.FromString(r.value).event_id for r in received)
    assert shipped == sorted(published), "each event once"
    messages = [m for r in caplog.records if "shipping checkpoint" in (m := r.getMessage())]
    assert len(messages) == 2 and "works again" in messages[-1], messages


def test_a_shipper_that_fails_is_restarted(
    team_mode: Settings,
    kafka_bootstrap: str,
    topic: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failures = [2]
    real_step = shipper_module.Shipper.step

    def step(self: shipper_module.Shipper) -> bool:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("a bug in the shipper")
        return real_step(self)

    monkeypatch.setattr(shipper_module.Shipper, "step", step)
    transport = KafkaSpoolTransport(team_mode, OPTIONS)
    batch = heartbeats(EnvelopeFactory("tests", uuid.uuid4().hex), 50)
    transport.publish(batch)
    assert transport.close(timeout=60.0) == {}
    assert caplog.text.count("the Kafka shipper failed; restarting it") == 2
    received = consume(kafka_bootstrap, topic, len(batch), timeout=30.0)
    shipped = sorted(pb.Envelope.FromString(r.value).event_id for r in received)
    assert shipped == sorted(envelope.event_id for envelope in batch), "each event once"


def damaged_leftover(settings: Settings) -> list[pb.Envelope]:
    """A dead process's segment with a damaged header and a damaged third record."""
    envelopes = heartbeats(EnvelopeFactory("tests", uuid.uuid4().hex), 10)
    writer = SpoolWriter(settings.spool_dir, fsync=False)
    writer.append([envelope.SerializeToString() for envelope in envelopes])
    writer.close()
    [segment] = SpoolReader(settings.spool_dir).segments()
    data = bytearray(segment.read_bytes())
    data[2] ^= 0xFF
    third = len(MAGIC) + sum(8 + e.ByteSize() for e in envelopes[:2])
    data[third + 8 + 3] ^= 0xFF
    segment.write_bytes(bytes(data))
    return envelopes[:2] + envelopes[3:]


def sync(settings: Settings, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runstream_processors.cli.main", "sync", "--timeout", "60"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sync_reports_damage_and_records_it_as_dead_letters_in_the_store(
    team_mode: Settings,
    kafka_bootstrap: str,
    topic: str,
    tmp_path: Path,
) -> None:
    intact = damaged_leftover(team_mode)
    without_store = sync(team_mode)
    assert without_store.returncode == 1, without_store.stderr
    assert "spool damage: 2 damaged spans" in without_store.stderr
    assert "8 bytes skipped" in without_store.stderr, "the header cost only itself"
    assert "no store configured" in without_store.stderr
    assert len(recorded_damage(team_mode.spool_dir)) == 2, "kept for a sync with a store"
    received = consume(kafka_bootstrap, topic, len(intact), timeout=30.0)
    assert [r.value for r in received] == [e.SerializeToString() for e in intact]

    dsn = f"chdb://{tmp_path / 'store'}"
    with_store = sync(team_mode, RUNSTREAM_CLICKHOUSE_URL=dsn)
    assert with_store.returncode == 0, with_store.stderr
    assert "recorded 2 spool damage dead letters in the store" in with_store.stderr
    assert recorded_damage(team_mode.spool_dir) == []
    assert (team_mode.spool_dir / "checkpoints" / DAMAGE_LOG).read_text() == ""

    again = sync(team_mode, RUNSTREAM_CLICKHOUSE_URL=dsn)
    assert again.returncode == 0 and "spool damage" not in again.stderr, again.stderr
    client = get_client(dsn)
    try:
        rows = client.query(
            "SELECT reason, detail FROM runstream.dead_letters WHERE source = 'spool-kafka' "
            "ORDER BY detail"
        ).result_rows
        letters = dead_letters(client)
    finally:
        client.close()
    assert letters == {"spool_damage": 2}, "recorded once, not once per sync"
    assert [reason for reason, _ in rows] == ["spool_damage", "spool_damage"]
    assert any("damaged segment header" in detail for _, detail in rows)
    assert spool_module.SEGMENT_SUFFIX in rows[0][1]
