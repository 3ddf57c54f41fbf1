"""An in-memory transport so unit tests of the SDK need no disk and no broker."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..wire import events_pb2 as pb


class MemoryTransport:
    """Keeps published envelopes in a list (a copy, round-tripped through bytes)."""

    def __init__(self) -> None:
        self.envelopes: list[pb.Envelope] = []
        self.closed = False
        self._lock = threading.Lock()

    def publish(self, envelopes: Sequence[pb.Envelope]) -> None:
        copies = [pb.Envelope.FromString(envelope.SerializeToString()) for envelope in envelopes]
        with self._lock:
            self.envelopes.extend(copies)

    def close(self, timeout: float) -> dict[str, int]:
        self.closed = True
        return {}
