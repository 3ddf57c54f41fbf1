"""The transport interface the background recorder publishes to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..wire import events_pb2 as pb


class Transport(Protocol):
    """Takes serialized-ready envelopes from the recorder thread.

    ``publish`` is called from one thread only and must make the envelopes
    durable (or raise); ``close`` flushes and releases resources and returns a
    map of anything it could not deliver, for the run's final report.
    """

    def publish(self, envelopes: Sequence[pb.Envelope]) -> None: ...

    def close(self, timeout: float) -> dict[str, int]: ...
