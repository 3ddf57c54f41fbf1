"""Where a run's envelopes go: one small interface, one implementation per destination."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Transport
from .memory import MemoryTransport
from .spool import SpoolTransport

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["MemoryTransport", "SpoolTransport", "Transport", "make_transport"]


def make_transport(settings: Settings) -> Transport:
    """The spool, always; in team mode a shipper also forwards it to Kafka (see kafka.py)."""
    if settings.mode == "kafka":
        from .kafka import KafkaSpoolTransport

        return KafkaSpoolTransport(settings)
    return SpoolTransport(settings.spool_dir)
