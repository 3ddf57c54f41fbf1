"""How long to wait before retrying: one helper for every retry loop of runstream.

Exponential with a cap and jitter, honouring the ``retry_after`` a
:class:`~runstream.errors.TransientError` carries, and waiting on a
:class:`threading.Event` so that a stop request ends the wait at once::

    backoff = Backoff(stop, first_s=0.25, max_s=30.0)
    while True:
        try:
            result = attempt()
            break
        except TransientError as exc:
            backoff.wait(exc)  # raises StopRequested as soon as ``stop`` is set
    backoff.reset()  # the next failure starts from first_s again

The n-th wait since the last :meth:`~Backoff.reset` is ``first_s * factor**(n-1)``, at
most ``max_s``, less up to ``jitter`` of it at random (so clients that failed together
do not retry together, and a wait is never longer than ``max_s``). An error's
``retry_after`` raises that wait to at least what the raiser asked for, still at most
``max_s``: ``max_s`` is the longest any single wait is.

Loops that must not block (the shipper's step, an asyncio coroutine) use
:meth:`~Backoff.next_delay` to schedule the next attempt or :meth:`~Backoff.wait_async`.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from typing import ClassVar, Protocol

from .errors import StopRequested

__all__ = ["Backoff", "StopEvent", "retry_after_of"]


class StopEvent(Protocol):
    """What a :class:`threading.Event` offers that the helper uses (tests pass a fake)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def retry_after_of(error: BaseException | None) -> float | None:
    """The error's suggested wait in seconds, if it carries a usable one."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


class Backoff:
    """Exponential backoff with cap and jitter; see the module docstring.

    ``stop``: the event that ends a wait at once (``wait`` then raises ``stop_error``);
    without one, ``wait`` sleeps on a private event that is never set.
    ``rng``: returns a float in [0, 1); injected by tests for deterministic jitter.
    Not thread-safe: one retry loop owns one Backoff.
    """

    stop_error: ClassVar[type[BaseException]] = StopRequested
    """Raised by ``wait`` when ``stop`` is set; a subclass (or ``stop_error=``) names its own."""

    def __init__(
        self,
        stop: StopEvent | None = None,
        first_s: float = 0.25,
        max_s: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 0.2,
        stop_error: type[BaseException] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < first_s <= max_s:
            raise ValueError(f"need 0 < first_s <= max_s, got {first_s} and {max_s}")
        if factor < 1 or not 0 <= jitter < 1:
            raise ValueError(f"need factor >= 1 and 0 <= jitter < 1, got {factor} and {jitter}")
        self.first_s = first_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self._stoppable = stop is not None
        self._stop: StopEvent = stop if stop is not None else threading.Event()  # never set
        self._stop_error = stop_error or type(self).stop_error
        self._rng = rng
        self.attempts = 0
        """Failures counted since the last reset (each next_delay/wait counts one)."""

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested (a retry loop checks it before another attempt)."""
        return self._stop.is_set()

    def next_delay(self, error: BaseException | None = None) -> float:
        """Count a failure and return how long to wait before the next attempt."""
        self.attempts += 1
        exponent = min(self.attempts - 1, 1000)  # no float overflow after very long outages
        try:
            delay = min(self.first_s * self.factor**exponent, self.max_s)
        except OverflowError:
            delay = self.max_s
        delay -= delay * self.jitter * self._rng()
        suggested = retry_after_of(error)
        if suggested is not None:
            delay = max(delay, suggested)
        return min(delay, self.max_s)

    def wait(self, error: BaseException | None = None) -> float:
        """Wait the next delay; raises ``stop_error`` at once if a stop is (or gets) requested.

        Returns the seconds waited.
        """
        if self.stopping:
            raise self._stop_error("stopping: not retrying")
        delay = self.next_delay(error)
        if self._stop.wait(delay):
            raise self._stop_error("stopping: not retrying")
        return delay

    async def wait_async(self, error: BaseException | None = None) -> float:
        """:meth:`wait` for a coroutine: the event loop keeps running meanwhile.

        The wait on ``stop`` runs in the default executor, so a stop request still ends it
        at once; cancelling the coroutine ends it too.
        """
        if self.stopping:
            raise self._stop_error("stopping: not retrying")
        delay = self.next_delay(error)
        if not self._stoppable:
            await asyncio.sleep(delay)
            return delay
        if await asyncio.to_thread(self._stop.wait, delay):
            raise self._stop_error("stopping: not retrying")
        return delay

    def reset(self) -> None:
        """An attempt succeeded: the next failure waits ``first_s`` again."""
        self.attempts = 0
