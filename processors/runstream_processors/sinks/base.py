"""The sink interface: write a batch of valid events, keep invalid ones as dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from runstream.wire import events_pb2 as pb


@dataclass(frozen=True)
class DeadLetter:
    """An event that cannot be stored, and why; the original bytes are kept."""

    reason: str
    detail: str
    payload: bytes
    source: str
    event_id: str = ""
    project: str = ""
    run_id: str = ""


@dataclass(frozen=True)
class WriteResult:
    written: int
    """Events newly stored."""
    duplicates: int
    """Events skipped because they were stored before (a replay)."""
    dead_letters: list[DeadLetter]
    """Events refused by the sink itself (e.g. their run is unknown)."""


class Sink(Protocol):
    def write(self, events: Sequence[tuple[pb.Envelope, bytes]], source: str) -> WriteResult:
        """Durably store ``events`` (envelope, original bytes) or raise; replays are no-ops."""
        ...

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...
