"""What a sink returns: how many events it stored, and the ones it refused as dead letters."""

from __future__ import annotations

from dataclasses import dataclass


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
    refused: list[DeadLetter]
    """Events the sink would not store (their run is unknown); not written anywhere yet."""
