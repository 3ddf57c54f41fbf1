"""Waiting between retries without ever outliving a stop request."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


class Stopping(Exception):
    """The worker is stopping: give up the current batch (it is not acknowledged)."""


@dataclass
class Backoff:
    """Exponential backoff, capped; ``wait`` returns early, raising Stopping, on stop."""

    stop: threading.Event
    first_s: float = 0.25
    max_s: float = 30.0
    _next: float = field(default=0.0, init=False)

    def wait(self) -> None:
        self._next = min(max(self._next * 2, self.first_s), self.max_s)
        if self.stop.wait(self._next):
            raise Stopping("the worker is stopping")

    def reset(self) -> None:
        self._next = 0.0
