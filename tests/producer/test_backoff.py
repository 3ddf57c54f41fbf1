"""runstream.backoff.Backoff: the one retry wait of the SDK, the worker and the migrate job.

Waits go through an injected event (``FakeStop`` records the timeouts it was asked to
wait and returns at once), and jitter through an injected ``rng``, so nothing here
sleeps for real except the one test that checks a real stop ends a real wait at once.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from runstream.backoff import Backoff, retry_after_of
from runstream.errors import ServiceUnavailableError, StopRequested, TransientError


class FakeStop:
    """A stop event whose ``wait`` returns at once; ``set_after`` waits it turns set."""

    def __init__(self, set_after: int | None = None) -> None:
        self.waits: list[float | None] = []
        self._set = False
        self._set_after = set_after

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if self._set_after is not None and len(self.waits) >= self._set_after:
            self._set = True
        return self._set


def no_jitter() -> float:
    return 0.0


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    stop = FakeStop()
    backoff = Backoff(stop, first_s=0.25, max_s=2.0, rng=no_jitter)
    waited = [backoff.wait() for _ in range(6)]
    assert waited == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert stop.waits == waited
    assert backoff.attempts == 6


def test_reset_starts_again_from_the_first_delay() -> None:
    backoff = Backoff(FakeStop(), first_s=1.0, max_s=10.0, factor=3.0, rng=no_jitter)
    assert [backoff.next_delay() for _ in range(3)] == [1.0, 3.0, 9.0]
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay() == 1.0


def test_jitter_only_shortens_a_delay_and_by_at_most_its_fraction() -> None:
    backoff = Backoff(first_s=1.0, max_s=1.0, jitter=0.2, rng=lambda: 0.999999)
    assert 0.8 <= backoff.next_delay() < 0.81
    backoff = Backoff(first_s=1.0, max_s=1.0, jitter=0.2, rng=lambda: 0.5)
    assert backoff.next_delay() == pytest.approx(0.9)
    spread = {Backoff(first_s=1.0, max_s=1.0).next_delay() for _ in range(50)}
    assert all(0.8 <= delay <= 1.0 for delay in spread) and len(spread) > 1


def test_retry_after_raises_the_delay_but_never_past_the_cap() -> None:
    backoff = Backoff(FakeStop(), first_s=0.25, max_s=30.0, rng=no_jitter)
    assert backoff.wait(ServiceUnavailableError("slow down", retry_after=5.0)) == 5.0
    assert backoff.wait(TransientError("later", retry_after=0.1)) == 0.5  # own delay is longer
    assert backoff.wait(TransientError("later", retry_after=120.0)) == 30.0
    assert backoff.wait(TransientError("no opinion")) == 2.0
    assert backoff.wait(ValueError("not transient, no retry_after")) == 4.0


def test_retry_after_is_read_from_any_error_carrying_a_usable_one() -> None:
    class Custom(Exception):
        retry_after = 3

    assert retry_after_of(Custom()) == 3.0
    assert retry_after_of(None) is None
    assert retry_after_of(TransientError("x", retry_after=None)) is None
    assert retry_after_of(TransientError("x", retry_after=-1.0)) is None
    bad = TransientError("x")
    bad.retry_after = "soon"  # type: ignore[assignment]
    assert retry_after_of(bad) is None


def test_a_stop_ends_the_wait_and_raises() -> None:
    stop = FakeStop(set_after=2)
    backoff = Backoff(stop, first_s=1.0, max_s=8.0, rng=no_jitter)
    assert backoff.wait() == 1.0
    with pytest.raises(StopRequested):
        backoff.wait()
    assert stop.waits == [1.0, 2.0]
    with pytest.raises(StopRequested):  # already stopping: no further wait at all
        backoff.wait()
    assert stop.waits == [1.0, 2.0]
    assert backoff.stopping


def test_the_stop_error_can_be_the_callers_own() -> None:
    class Stopping(StopRequested):
        pass

    class WorkerBackoff(Backoff):
        stop_error = Stopping

    stop = FakeStop()
    stop.set()
    with pytest.raises(Stopping):
        WorkerBackoff(stop).wait()
    with pytest.raises(KeyboardInterrupt):
        Backoff(stop, stop_error=KeyboardInterrupt).wait()


def test_a_real_stop_ends_a_long_real_wait_at_once() -> None:
    stop = threading.Event()
    backoff = Backoff(stop, first_s=60.0, max_s=60.0)
    timer = threading.Timer(0.02, stop.set)
    began = time.monotonic()
    timer.start()
    with pytest.raises(StopRequested):
        backoff.wait()
    assert time.monotonic() - began < 5.0
    timer.join()


def test_without_a_stop_event_wait_just_sleeps() -> None:
    backoff = Backoff(first_s=0.001, max_s=0.001, jitter=0.0)
    assert not backoff.stopping
    assert backoff.wait() == 0.001


def test_wait_async_keeps_the_loop_running_and_honours_the_stop() -> None:
    async def scenario() -> list[str]:
        stop = threading.Event()
        backoff = Backoff(stop, first_s=60.0, max_s=60.0)
        seen: list[str] = []

        waiting = asyncio.ensure_future(backoff.wait_async())
        await asyncio.sleep(0.01)  # the wait has begun; the loop still runs this
        seen.append("loop ran")
        assert not waiting.done()
        stop.set()
        with pytest.raises(StopRequested):
            await asyncio.wait_for(waiting, timeout=5.0)
        with pytest.raises(StopRequested):
            await backoff.wait_async()
        return seen

    assert asyncio.run(scenario()) == ["loop ran"]


def test_wait_async_without_a_stop_event_sleeps() -> None:
    backoff = Backoff(first_s=0.001, max_s=0.001, jitter=0.0)
    assert asyncio.run(backoff.wait_async()) == 0.001


@pytest.mark.parametrize(
    ("first_s", "max_s", "factor", "jitter"),
    [(0.0, 1.0, 2.0, 0.1), (2.0, 1.0, 2.0, 0.1), (1.0, 2.0, 0.5, 0.1), (1.0, 2.0, 2.0, 1.0)],
)
def test_nonsense_settings_are_refused(
    first_s: float, max_s: float, factor: float, jitter: float
) -> None:
    with pytest.raises(ValueError):
        Backoff(first_s=first_s, max_s=max_s, factor=factor, jitter=jitter)


def test_a_very_long_outage_stays_at_the_cap() -> None:
    backoff = Backoff(first_s=1.0, max_s=5.0, factor=10.0, rng=no_jitter)
    for _ in range(2000):
        delay = backoff.next_delay()
    assert delay == 5.0
