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
