"""The worker's retry waits: :class:`runstream.backoff.Backoff`, raising :class:`Stopping`.

Kept as a module so that worker code keeps importing ``Backoff`` and ``Stopping`` from
here; the helper itself (exponential, capped, jittered, honouring ``retry_after``, ended at
once by the stop event) lives in the SDK::

    backoff = Backoff(stop)          # first_s=0.25, max_s=30.0
    backoff.wait(exc)                # raises Stopping as soon as ``stop`` is set
    backoff.reset()                  # after a success
"""

from __future__ import annotations

from typing import ClassVar

from runstream import backoff

from ..errors import Stopping

__all__ = ["Backoff", "Stopping"]


class Backoff(backoff.Backoff):
    """The SDK's helper with the worker's stop error: ``wait`` raises :class:`Stopping`."""

    stop_error: ClassVar[type[BaseException]] = Stopping
