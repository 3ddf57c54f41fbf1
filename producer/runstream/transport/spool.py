"""Publish to the local spool: embedded mode's destination and team mode's durable outbox."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..spool import SpoolWriter
from ..wire import events_pb2 as pb


class SpoolTransport:
    """Appends each published batch to this process's spool segment and fsyncs it."""

    def __init__(self, directory: Path, fsync: bool = True) -> None:
        self.directory = directory
        self._writer = SpoolWriter(directory, fsync=fsync)

    def publish(self, envelopes: Sequence[pb.Envelope]) -> None:
        self._writer.append([envelope.SerializeToString() for envelope in envelopes])

    def close(self, timeout: float) -> dict[str, int]:
        self._writer.close()
        return {}
