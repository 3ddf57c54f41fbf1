"""Team mode's transport: the durable spool first, a background shipper on to Kafka.

``publish`` only appends to this process's spool segment (fsync'd, like embedded
mode), so the training step never waits on the network and an outage of any length
loses nothing. A daemon thread ships the segments this process wrote (see
shipper.py); ``close`` gives it a bounded time to get everything acknowledged and
reports what is left, which stays in the spool for ``runstream sync``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import MissingExtraError
from ..shipper import Shipper, ShipperOptions
from ..spool import SpoolWriter, written_by_this_process
from ..wire import events_pb2 as pb

if TYPE_CHECKING:
    from ..settings import Settings

logger = logging.getLogger("runstream")

PENDING = "events not yet delivered to Kafka (kept in the spool; `runstream sync` ships them)"
TOO_LARGE = "events too large for Kafka (kept in the spool only)"
_IDLE_WAIT_S = 0.1
_ABANDON_JOIN_S = 1.0


class KafkaSpoolTransport:
    """Spool every batch, ship it from a background thread (built on first publish)."""

    def __init__(self, settings: Settings, options: ShipperOptions | None = None) -> None:
        if importlib.util.find_spec("kafka") is None:
            raise MissingExtraError("kafka-python", "kafka")
        assert settings.kafka_bootstrap, "team mode needs RUNSTREAM_KAFKA_BOOTSTRAP"
        self._settings = settings
        self._bootstrap = settings.kafka_bootstrap
        self._options = options or ShipperOptions.from_settings(settings)
        self._writer = SpoolWriter(settings.spool_dir)
        self._selects = written_by_this_process(time.time_ns())
        self._wake = threading.Event()
        self._draining = threading.Event()
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._ship, name="runstream-shipper", daemon=True)
        self._published = 0
        self._shipped = 0
        self._too_large = 0

    def publish(self, envelopes: Sequence[pb.Envelope]) -> None:
        """Durable in the spool on return; shipping happens in the background."""
        self._writer.append([envelope.SerializeToString() for envelope in envelopes])
        self._published += len(envelopes)
        if self._thread.ident is None:  # never raise after the append: the recorder would retry
            self._thread.start()
        self._wake.set()

    def close(self, timeout: float) -> dict[str, int]:
        """Wait up to ``timeout`` s for the broker to acknowledge everything; report the rest."""
        self._writer.close()
        self._draining.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandoned.set()
            self._wake.set()
            self._thread.join(_ABANDON_JOIN_S)
        return self._report()

    def _report(self) -> dict[str, int]:
        report = {}
        pending = self._published - self._shipped - self._too_large
        if pending > 0:
            report[PENDING] = pending
        if self._too_large:
            report[TOO_LARGE] = self._too_large
        return report

    def _ship(self) -> None:
        """The shipping thread: the producer is built here, never in the training thread."""
        shipper = Shipper(
            self._settings.spool_dir,
            self._bootstrap,
            self._settings.kafka_topic,
            self._selects,
            self._options,
            wake=self._wake.set,
        )
        try:
            shipper.discard_shipped(self._settings.spool_retention_s)
            self._loop(shipper)
        except Exception:  # never take the training process down; the spool keeps the data
            logger.exception(
                "runstream: the Kafka shipper stopped; unsent events stay in the "
                "spool (`runstream sync` ships them)"
            )
        finally:
            shipper.close(timeout=0.0 if self._abandoned.is_set() else _ABANDON_JOIN_S)

    def _loop(self, shipper: Shipper) -> None:
        while not self._abandoned.is_set():
            draining = self._draining.is_set()  # read first: everything published is spooled
            moved = shipper.step()
            self._shipped = shipper.counters.shipped
            self._too_large = shipper.counters.too_large
            if draining and shipper.idle:
                return
            if not moved:
                self._wake.wait(_IDLE_WAIT_S)
                self._wake.clear()
