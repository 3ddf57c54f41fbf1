"""The background recorder: bounded memory, and whatever it cannot record is counted, never silent.

These tests hold the recorder to its contract rather than to one queueing policy: memory
stays bounded (so a flood of points beyond ``max_pending_points`` with nobody draining
must drop most of them), and every point is either written or counted in the report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import runstream.recorder as recorder_module
from runstream.envelopes import EnvelopeFactory, new_id
from runstream.recorder import Recorder, RecorderOptions
from runstream.transport import MemoryTransport, SpoolTransport
from runstream.wire import events_pb2 as pb

QUEUE_FULL = "metric points dropped: queue full"
Points = Callable[[list[pb.Envelope]], list[tuple[str, int, float, str]]]


def finished() -> pb.RunFinished:
    return pb.RunFinished(status=pb.RUN_STATUS_FINISHED)


def recorder_for(transport: object, **options: object) -> Recorder:
    defaults: dict[str, object] = {"heartbeat_interval": 3600.0, "system_interval": None}
    return Recorder(
        EnvelopeFactory("tests", new_id()),
        transport,  # type: ignore[arg-type]
        RecorderOptions(**{**defaults, **options}),  # type: ignore[arg-type]
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def test_a_flood_with_nobody_draining_is_dropped_and_reported(
    metric_points: Points, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorder thread is never started: nothing drains. The training thread encodes
    the backlog itself up to a bound (lowered here to 1,000 points); past it, memory must
    stay bounded, so most of 200k points cannot be kept; each is published or counted."""
    monkeypatch.setattr(recorder_module, "_MAX_ENCODED_POINTS", 1_000)
    transport = MemoryTransport()
    recorder = recorder_for(transport, max_pending_points=10)
    logged = 0
    for step in range(100_000):
        recorder.add_metrics("train", step, {"a": 1.0, "b": 2.0})
        logged += 2

    final = finished()
    not_recorded = recorder.close(5.0, final)

    written = metric_points(transport.envelopes)
    dropped = not_recorded.get(QUEUE_FULL, 0)
    assert dropped > logged // 2, f"{logged - dropped} points held with max_pending_points=10"
    assert len(written) + dropped == logged, "every point is written or counted"
    assert dict(final.not_recorded) == not_recorded
    assert transport.envelopes[-1].run_finished.not_recorded[QUEUE_FULL] == dropped
    assert recorder.counters.points_published == len(written)
    assert transport.closed
    # what was kept is intact and in order: the earliest steps, both keys each
    steps = [step for key, step, _, _ in written if key == "a"]
    assert steps == sorted(steps) and steps[0] == 0
    assert sorted(key for key, *_ in written) == sorted(["a", "b"] * len(steps))


def test_below_the_limit_nothing_is_dropped(metric_points: Points) -> None:
    transport = MemoryTransport()
    recorder = recorder_for(transport, max_pending_points=100)
    for step in range(50):
        recorder.add_metrics("", step, {"a": float(step), "b": 2.0})
    assert recorder.close(5.0, finished()) == {}
    assert metric_points(transport.envelopes)[:2] == [("a", 0, 0.0, ""), ("b", 0, 2.0, "")]
    assert len(metric_points(transport.envelopes)) == 100


def test_room_frees_up_once_the_queue_is_drained(metric_points: Points) -> None:
    transport = MemoryTransport()
    recorder = recorder_for(transport, max_pending_points=4, flush_interval=0.01)
    recorder.start()
    for step in range(50):
        recorder.add_metrics("", step, {"a": 1.0, "b": 2.0})
        expected = 2 * (step + 1)
        wait_for(lambda n=expected: len(metric_points(transport.envelopes)) >= n, "a drain")
    assert recorder.close(5.0, finished()) == {}
    assert len(metric_points(transport.envelopes)) == 100


def test_a_spool_that_cannot_be_written_is_reported_at_close(tmp_path: Path) -> None:
    """A real failure of the disk path: the spool directory's place is taken by a file."""
    blocked = tmp_path / "spool"
    blocked.write_text("not a directory")
    recorder = recorder_for(SpoolTransport(blocked, fsync=False))
    recorder.add_metrics("", 0, {"loss": 1.0})
    recorder.submit(pb.SummaryUpdate())

    not_recorded = recorder.close(1.0, finished())

    assert not_recorded["events not written to the spool"] == 2  # the metric batch + summary
    assert not_recorded["run finished event not written to the spool"] == 1
    assert recorder.counters.points_published == 0


def test_a_spool_outage_keeps_memory_bounded_and_loses_nothing_silently(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    read_envelopes: Callable[[Path], list[pb.Envelope]],
    metric_points: Points,
) -> None:
    """While the spool cannot be written, the points logged meanwhile must not pile up in
    memory (in a retry list or anywhere else): beyond the recorder's bounded buffers they
    are dropped and counted. After the spool recovers, what was kept is written, and the
    report accounts for every point: written + dropped == logged."""
    caplog.set_level(logging.WARNING, logger="runstream")
    spool = tmp_path / "spool"
    spool.write_text("in the way")  # the outage: a file where the spool directory belongs
    recorder = recorder_for(
        SpoolTransport(spool, fsync=False), max_pending_points=1_000, flush_interval=0.01
    )

    def failed_writes() -> int:
        return recorder.write_failures.failures  # the warnings are rate-limited: count attempts

    recorder.start()
    wait_for(lambda: failed_writes() >= 1, "the recorder to notice the outage")
    logged = 0
    values = {f"k{i}": 1.0 for i in range(10)}
    for step in range(200_000):  # 2M points, 2,000 times max_pending_points
        recorder.add_metrics("", step, values)
        logged += len(values)
    seen = failed_writes()
    wait_for(lambda: failed_writes() >= seen + 2, "more failed write attempts")

    spool.unlink()  # the outage ends
    not_recorded = recorder.close(30.0, finished())

    written = len(metric_points(read_envelopes(spool)))
    dropped = not_recorded.get(QUEUE_FULL, 0)
    assert written + dropped == logged, not_recorded
    # max_pending_points=1,000: holding even a quarter of the flood is not "bounded"
    assert logged - dropped < logged // 4, f"{logged - dropped} points were held in memory"
    assert recorder.counters.points_published == written
    warnings = [m for r in caplog.records if "events to the spool" in (m := r.getMessage())]
    assert len(warnings) == 2 and "works again" in warnings[-1], warnings  # not one per attempt
