"""The ingest core on the embedded path: refused events become dead letters and block nothing."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from typing import Any

import runstream
from runstream.settings import Settings
from runstream.spool import SpoolWriter
from runstream.wire import events_pb2 as pb
from runstream_processors.ingest.spool import ingest_spool
from runstream_processors.store.connection import open_store
from support.runs import scalar

POISON = "poison"


def refuse_poison(client: Any) -> None:
    """Make the real store refuse one kind of row, as a full disk or a bad value would."""
    client.command(
        f"ALTER TABLE runstream.samples ADD CONSTRAINT no_poison CHECK prediction != '{POISON}'"
    )


def poisoned_runs(count: int) -> list[str]:
    """Runs whose middle samples event the store will refuse, with metrics before and after."""
    ids = []
    for index in range(count):
        with runstream.init(project="poison", name=f"r{index}", system_interval=None) as run:
            run.log({"loss": 1.0}, step=0)
            run.log_samples(["x"], [POISON], ["y"], step=0)
            run.log_samples(["x"], ["fine"], ["y"], step=1)
            run.log({"loss": 0.5}, step=1)
            ids.append(run.id)
    return ids


def test_a_refused_event_is_a_dead_letter_with_its_ids_and_the_rest_lands(
    runstream_dir: Settings,
) -> None:
    with open_store(runstream_dir, "tests") as client:
        refuse_poison(client)
    run_ids = poisoned_runs(3)
    with open_store(runstream_dir, "tests") as client:
        report = ingest_spool(client, runstream_dir.local_spool_dir)
        assert report.reasons == {"store_rejected": 3}
        letters = client.query(
            "SELECT reason, event_id, project, run_id, source FROM runstream.dead_letters"
        ).result_rows
        assert sorted(run for _, _, _, run, _ in letters) == sorted(run_ids)
        assert {(reason, project, source) for reason, _, project, _, source in letters} == {
            ("store_rejected", "poison", "spool")
        }
        assert all(len(event_id) == 32 for _, event_id, _, _, _ in letters)
        # everything else landed exactly once: no table written twice while bisecting
        assert scalar(client, "SELECT count() FROM runstream.metrics") == 6
        assert scalar(client, "SELECT count() FROM runstream.samples") == 3
        assert scalar(client, "SELECT count() FROM runstream.runs_finished") == 3
        seen = scalar(client, "SELECT count() FROM runstream.events_seen")
        assert seen == scalar(client, "SELECT uniqExact(event_id) FROM runstream.events_seen")
        # taking the spool in again finds nothing new and does not fail on the poison
        again = ingest_spool(client, runstream_dir.local_spool_dir)
        assert (again.events, again.dead_letters) == (0, 0)


def test_the_cli_keeps_answering_after_a_refused_event(runstream_dir: Settings) -> None:
    with open_store(runstream_dir, "tests") as client:
        refuse_poison(client)
    poisoned_runs(1)
    for _ in range(2):
        shown = subprocess.run(
            [sys.executable, "-m", "runstream_processors.cli.main", "runs", "--format", "csv"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        assert "r0" in shown.stdout and "finished" in shown.stdout


def test_invalid_bytes_keep_the_envelope_ids_in_their_dead_letter(
    runstream_dir: Settings,
) -> None:
    event_id, run_id = uuid.uuid4().hex, uuid.uuid4().hex
    bad_project = pb.Envelope(
        event_id=event_id,
        project="no spaces allowed",
        run_id=run_id,
        seq=1,
        time_unix_nano=time.time_ns(),
        heartbeat=pb.Heartbeat(interval_ms=1000),
    )
    writer = SpoolWriter(runstream_dir.local_spool_dir)
    writer.append([bad_project.SerializeToString(), b"\xff not an envelope"])
    writer.close()
    with open_store(runstream_dir, "tests") as client:
        report = ingest_spool(client, runstream_dir.local_spool_dir)
        assert report.reasons == {"invalid_project": 1, "malformed": 1}
        letters = dict(
            client.query(
                "SELECT reason, (event_id, project, run_id) FROM runstream.dead_letters"
            ).result_rows
        )
    assert letters["invalid_project"] == (event_id, "no spaces allowed", run_id)
    assert letters["malformed"] == ("", "", "")


def _heartbeat_run(run_id: str, event_id: str, interval_ms: int) -> tuple[bytes, bytes]:
    """A run_started and a heartbeat of that run (``event_id``), serialized."""
    common = {"project": "dupes", "run_id": run_id, "time_unix_nano": time.time_ns()}
    started = pb.Envelope(
        event_id=uuid.uuid4().hex, seq=1, run_started=pb.RunStarted(name="d"), **common
    )
    beat = pb.Envelope(
        event_id=event_id, seq=2, heartbeat=pb.Heartbeat(interval_ms=interval_ms), **common
    )
    return started.SerializeToString(), beat.SerializeToString()


def test_tombstones_conflicts_and_replays(runstream_dir: Settings) -> None:
    from runstream_processors.ingest.core import Incoming, IngestCore
    from runstream_processors.sinks.clickhouse import ClickHouseSink

    run_id, event_id = uuid.uuid4().hex, uuid.uuid4().hex
    started, beat = _heartbeat_run(run_id, event_id, 1000)
    _, other = _heartbeat_run(run_id, event_id, 2000)  # same event_id, other bytes
    with open_store(runstream_dir, "tests") as client:
        sink = ClickHouseSink(client)
        try:
            core: IngestCore = IngestCore(sink, "tests")
            first = core.process([Incoming(p, n) for n, p in enumerate([started, beat, None, b""])])
            assert first.written == 2
            assert [(n, letter.reason) for n, letter in first.dead] == [
                (2, "tombstone"),
                (3, "empty_record"),
            ]
            replay = core.process([Incoming(beat, 0), Incoming(other, 1)])
            assert replay.written == 0 and replay.duplicates == 1
            assert [(n, letter.reason) for n, letter in replay.dead] == [
                (1, "conflicting_duplicate")
            ]
            # in one batch too: the first of two contents wins, the second is a letter
            fresh = uuid.uuid4().hex
            _, a = _heartbeat_run(run_id, fresh, 1000)
            _, b = _heartbeat_run(run_id, fresh, 3000)
            both = core.process([Incoming(a, 0), Incoming(b, 1), Incoming(a, 2)])
            assert (both.written, both.duplicates) == (1, 1)
            assert [(n, letter.reason) for n, letter in both.dead] == [(1, "conflicting_duplicate")]
        finally:
            sink.close()
        stored = client.query(
            "SELECT reason, count() FROM runstream.dead_letters GROUP BY reason ORDER BY reason"
        ).result_rows
        assert stored == [("conflicting_duplicate", 2), ("empty_record", 1), ("tombstone", 1)]
        digests = client.query(
            "SELECT payload_sha256 FROM runstream.events_seen WHERE event_id = {id:String}",
            parameters={"id": event_id},
        ).result_rows
        assert [len(d) for (d,) in digests] == [64]


def test_a_huge_dead_letter_is_bounded_in_the_table(runstream_dir: Settings) -> None:
    from runstream_processors.sinks.base import DeadLetter
    from runstream_processors.sinks.clickhouse import DEAD_LETTER_PAYLOAD_LIMIT, ClickHouseSink

    payload = b"\xff" * (DEAD_LETTER_PAYLOAD_LIMIT + 1000)
    with open_store(runstream_dir, "tests") as client:
        sink = ClickHouseSink(client)
        try:
            sink.write_dead_letters([DeadLetter("oversized", "too big", payload, "tests")])
        finally:
            sink.close()
        ((size, detail),) = client.query(
            "SELECT length(payload), detail FROM runstream.dead_letters"
        ).result_rows
    assert size == DEAD_LETTER_PAYLOAD_LIMIT
    assert str(len(payload)) in detail
