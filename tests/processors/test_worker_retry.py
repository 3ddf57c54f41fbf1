"""The worker waits with the SDK's Backoff, raising the worker's own Stopping."""

from __future__ import annotations

import threading

import pytest
from runstream.backoff import Backoff
from runstream.errors import StopRequested
from runstream_processors.errors import ProcessorError, Stopping, StoreUnavailableError


def test_the_worker_backoff_is_the_sdk_helper_raising_stopping() -> None:
    stop = threading.Event()
    backoff = Backoff(stop, stop_error=Stopping)
    stop.set()
    with pytest.raises(Stopping) as raised:
        backoff.wait(StoreUnavailableError("down", retry_after=1.0))
    assert isinstance(raised.value, ProcessorError) and isinstance(raised.value, StopRequested)


def test_a_store_error_s_retry_after_sets_the_wait() -> None:
    backoff = Backoff(threading.Event(), stop_error=Stopping, first_s=0.001, max_s=0.05, jitter=0.0)
    assert backoff.next_delay(StoreUnavailableError("busy", retry_after=0.04)) == 0.04
    assert backoff.wait(StoreUnavailableError("busy", retry_after=0.002)) == 0.002
    backoff.reset()
    assert backoff.attempts == 0
