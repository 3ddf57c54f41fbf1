"""A run's life through the real spool: started first, finished last, one active run at a time."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import runstream
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb

StartRun = Callable[..., runstream.Run]
ReadEnvelopes = Callable[[Settings], list[pb.Envelope]]
PayloadKinds = Callable[[list[pb.Envelope]], list[str]]


def test_envelopes_are_stamped_and_ordered(
    start_run: StartRun,
    read_envelopes: ReadEnvelopes,
    payload_kinds: PayloadKinds,
    runstream_dir: Settings,
) -> None:
    run = start_run(name="ordered", tags=["a", "b"], notes="n")
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.summary["best"] = 0.5
    run.finish()

    envelopes = read_envelopes(runstream_dir)
    kinds = payload_kinds(envelopes)
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("run_started") == kinds.count("run_finished") == 1
    assert [e.seq for e in envelopes] == list(range(1, len(envelopes) + 1))
    assert {(e.project, e.run_id, e.sdk_version) for e in envelopes} == {
        ("tests", run.id, runstream.__version__)
    }
    event_ids = [e.event_id for e in envelopes]
    assert len(set(event_ids)) == len(event_ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in [run.id, *event_ids])
    assert all(e.time_unix_nano > 0 for e in envelopes)

    started = envelopes[0].run_started
    assert (started.name, list(started.tags), started.notes) == ("ordered", ["a", "b"], "n")
    assert started.command[0] == sys.executable
    assert started.working_dir == os.getcwd()
    assert envelopes[-1].run_finished.status == pb.RUN_STATUS_FINISHED


def test_the_finish_report_matches_the_spool(
    start_run: StartRun,
    read_envelopes: ReadEnvelopes,
    metric_points: Callable[[list[pb.Envelope]], list[tuple[str, int, float, str]]],
    runstream_dir: Settings,
) -> None:
    run = start_run()
    for step in range(10):
        run.log({"a": 1.0, "b": 2.0, "c": 3}, step=step)
    report = run.finish()
    envelopes = read_envelopes(runstream_dir)
    assert (report.points, report.events) == (30, len(envelopes))
    assert len(metric_points(envelopes)) == 30
    assert report.complete and report.not_recorded == {}
    assert report.status == "finished" and report.run_id == run.id
    assert report.duration_s >= 0


@pytest.mark.parametrize(
    ("raised", "status", "wire_status"),
    [
        (None, "finished", pb.RUN_STATUS_FINISHED),
        (ZeroDivisionError, "failed", pb.RUN_STATUS_FAILED),
        (KeyboardInterrupt, "killed", pb.RUN_STATUS_KILLED),
    ],
)
def test_the_context_manager_records_how_the_block_ended(
    start_run: StartRun,
    read_envelopes: ReadEnvelopes,
    runstream_dir: Settings,
    raised: type[BaseException] | None,
    status: str,
    wire_status: int,
) -> None:
    runs: list[runstream.Run] = []
    expectation = pytest.raises(raised) if raised else contextlib.nullcontext()
    with expectation, start_run() as run:  # the exception is never swallowed
        runs.append(run)
        run.log({"loss": 1.0})
        if raised is not None:
            raise raised()

    assert runs[0].report is not None and runs[0].report.status == status
    assert read_envelopes(runstream_dir)[-1].run_finished.status == wire_status
    assert runstream.active_run() is None


def test_finish_is_idempotent(
    start_run: StartRun,
    read_envelopes: ReadEnvelopes,
    payload_kinds: PayloadKinds,
    runstream_dir: Settings,
) -> None:
    run = start_run()
    run.log({"loss": 1.0})
    first = run.finish()
    assert run.finish() is first
    assert run.finish("failed") is first, "a second finish must not change the recorded status"
    assert payload_kinds(read_envelopes(runstream_dir)).count("run_finished") == 1


def test_finish_from_two_threads_at_once_records_one_end(
    start_run: StartRun,
    read_envelopes: ReadEnvelopes,
    payload_kinds: PayloadKinds,
    runstream_dir: Settings,
) -> None:
    run = start_run()
    run.log({"loss": 1.0})
    barrier = threading.Barrier(2)
    reports: list[runstream.RunReport] = []

    def finish() -> None:
        barrier.wait()
        reports.append(run.finish())

    threads = [threading.Thread(target=finish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(reports) == 2 and reports[0] is reports[1]
    assert payload_kinds(read_envelopes(runstream_dir)).count("run_finished") == 1


def test_an_unknown_status_is_rejected_and_the_run_stays_usable(start_run: StartRun) -> None:
    run = start_run()
    with pytest.raises(runstream.InvalidInputError, match="status must be one of"):
        run.finish("crashed")  # type: ignore[arg-type]
    assert runstream.active_run() is run
    run.log({"loss": 1.0})
    assert run.finish().status == "finished"


def test_nothing_can_be_logged_after_finish(start_run: StartRun, tmp_path: Path) -> None:
    run = start_run()
    run.finish()
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"weights")
    with pytest.raises(runstream.RunStateError, match="finished"):
        run.log({"loss": 1.0})
    with pytest.raises(runstream.RunStateError):
        run.log_samples(["x"], ["y"])
    with pytest.raises(runstream.RunStateError):
        run.log_artifact(artifact)
    with pytest.raises(runstream.RunStateError):
        run.summary["accuracy"] = 0.9
    with pytest.raises(runstream.RunStateError, match="no active run"):
        runstream.log({"loss": 1.0})


def test_a_second_init_while_one_is_active_is_refused(
    start_run: StartRun,
    read_envelopes: ReadEnvelopes,
    payload_kinds: PayloadKinds,
    runstream_dir: Settings,
) -> None:
    first = start_run(name="first")
    with pytest.raises(runstream.RunStateError, match=r"'first'.*still active"):
        start_run(name="second")
    assert runstream.active_run() is first
    first.log({"loss": 1.0})  # the first run is unharmed
    first.finish()
    envelopes = read_envelopes(runstream_dir)
    assert payload_kinds(envelopes).count("run_started") == 1
    assert {e.run_id for e in envelopes} == {first.id}

    second = start_run(name="second")  # after finish, a new run may start
    assert runstream.active_run() is second
    second.finish()


def test_module_level_calls_without_a_run_raise() -> None:
    assert runstream.active_run() is None
    with pytest.raises(runstream.RunStateError, match=r"runstream\.init"):
        runstream.log({"loss": 1.0})
    with pytest.raises(runstream.RunStateError):
        runstream.log_samples(["x"], ["y"])
    with pytest.raises(runstream.RunStateError):
        runstream.log_artifact("model.pt")
    with pytest.raises(runstream.RunStateError):
        runstream.finish()


def test_module_level_calls_go_to_the_active_run(
    start_run: StartRun,
    read_envelopes: ReadEnvelopes,
    metric_points: Callable[[list[pb.Envelope]], list[tuple[str, int, float, str]]],
    runstream_dir: Settings,
) -> None:
    run = start_run()
    assert runstream.active_run() is run
    runstream.log({"loss": 0.5}, step=3, split="train")
    runstream.log_samples(["in"], ["out"], ["out"], step=3)
    report = runstream.finish()
    assert report.run_id == run.id
    assert runstream.active_run() is None
    envelopes = read_envelopes(runstream_dir)
    assert metric_points(envelopes) == [("loss", 3, 0.5, "train")]
    assert [e.samples.samples[0].input for e in envelopes if e.HasField("samples")] == ["in"]


@pytest.mark.parametrize(
    ("ending", "wire_status"),
    [
        ("pass", pb.RUN_STATUS_FINISHED),
        ("raise ValueError('diverged')", pb.RUN_STATUS_FAILED),
        ("raise KeyboardInterrupt", pb.RUN_STATUS_KILLED),
    ],
)
def test_a_run_never_finished_by_the_script_is_finished_at_exit(
    runstream_dir: Settings,
    read_envelopes: ReadEnvelopes,
    tmp_path: Path,
    ending: str,
    wire_status: int,
) -> None:
    script = textwrap.dedent(
        f"""
        import runstream
        run = runstream.init(project="tests", capture_env=False, capture_code=False,
                             system_interval=None)
        run.log({{"loss": 1.0}}, step=0)
        {ending}
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, timeout=60)
    envelopes = read_envelopes(runstream_dir)
    assert envelopes[-1].WhichOneof("payload") == "run_finished"
    assert envelopes[-1].run_finished.status == wire_status
    assert any(e.HasField("metrics") for e in envelopes)


def test_heartbeats_carry_the_time_of_the_last_log_call_and_the_count(
    start_run: StartRun,
    read_envelopes: ReadEnvelopes,
    runstream_dir: Settings,
) -> None:
    run = start_run(heartbeat_interval=0.1)
    time.sleep(0.3)  # heartbeats before any log(): last_log 0
    before = time.time_ns()
    for step in range(3):
        run.log({"loss": 1.0}, step=step)
    after = time.time_ns()
    time.sleep(0.4)
    run.finish()
    beats = [e.heartbeat for e in read_envelopes(runstream_dir) if e.HasField("heartbeat")]
    assert beats[0].last_log_unix_nano == 0 and beats[0].log_calls == 0
    assert before <= beats[-1].last_log_unix_nano <= after
    assert beats[-1].log_calls == 3
