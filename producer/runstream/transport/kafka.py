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

from ..backoff import Backoff
from ..errors import MissingExtraError, StopRequested
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
        """The shipping thread: the producer is built here, never in the training thread.

        It never dies silently: whatever a shipper raises (a bug, a spool it cannot read)
        is logged and a new one is started after a backoff, from the saved checkpoint;
        the spool keeps the data meanwhile. Only ``close`` ends the thread.
        """
        backoff = Backoff(self._abandoned, first_s=0.5, max_s=30.0)
        first = True
        while not self._abandoned.is_set():
            try:
                if self._run_shipper(discard=first):
                    return  # drained: everything published was acknowledged
            except Exception:  # never take the training process down; the spool keeps the data
                logger.exception(
                    "runstream: the Kafka shipper failed; restarting it (unsent events stay "
                    "in the spool meanwhile)"
                )
            first = False
            try:
                backoff.wait()
            except StopRequested:  # close() gave up on the shipper while it waited
                return

    def _run_shipper(self, discard: bool) -> bool:
        """Ship until drained (True) or abandoned (False); raises what the shipper raises."""
        shipper = Shipper(
            self._settings.spool_dir,
            self._bootstrap,
            self._settings.kafka_topic,
            self._selects,
            self._options,
            wake=self._wake.set,
        )
        try:
            if discard:
                shipper.discard_shipped(self._settings.spool_retention_s)
            return self._loop(shipper)
        finally:
            shipper.close(timeout=0.0 if self._abandoned.is_set() else _ABANDON_JOIN_S)

    def _loop(self, shipper: Shipper) -> bool:
        shipped, too_large = self._shipped, self._too_large  # by the shippers before this one
        while not self._abandoned.is_set():
            draining = self._draining.is_set()  # read first: everything published is spooled
            moved = shipper.step()
            self._shipped = shipped + shipper.counters.shipped
            self._too_large = too_large + shipper.counters.too_large
            if draining and shipper.idle:
                return True
            if not moved:
                self._wake.wait(_IDLE_WAIT_S)
                self._wake.clear()
        return False
