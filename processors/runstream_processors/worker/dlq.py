"""Dead letters to the ``runstream.dlq.v1`` topic: the original bytes, the reason in headers.

The value is the record exactly as consumed, so a fixed processor can replay it; the
headers say why it was refused and where it came from. A record too big to send whole
(its letter, with the headers, would exceed the producer's max request size) keeps its
first bytes only, with ``runstream.truncated=1`` and ``runstream.original_size``: the
source topic/partition/offset headers still find the whole record in the events topic.
The same letters also go to the store's ``runstream.dead_letters`` table, where
dashboards count them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from runstream.backoff import Backoff

from ..errors import Stopping
from .outage import OUTAGE, OutageLog
from .store_writer import Rejected

logger = logging.getLogger("runstream.worker")

_DETAIL_LIMIT = 2000
_RETRY_MAX_S = 30.0
MAX_REQUEST_SIZE = 1024 * 1024
"""The producer's max request size (app.py configures faust's producer with it)."""
_SLACK = 512
"""Bytes kept free below the estimate, for what the estimate might miss."""


def headers(item: Rejected, source_topic: str) -> list[tuple[str, bytes]]:
    letter, record = item.letter, item.record
    return [
        ("runstream.reason", letter.reason.encode()),
        ("runstream.detail", letter.detail[:_DETAIL_LIMIT].encode()),
        ("runstream.event_id", letter.event_id.encode()),
        ("runstream.run_id", letter.run_id.encode()),
        ("runstream.source.topic", source_topic.encode()),
        ("runstream.source.partition", str(record.partition).encode()),
        ("runstream.source.offset", str(record.offset).encode()),
    ]


def fitted(
    item: Rejected, source_topic: str, max_request_size: int = MAX_REQUEST_SIZE
) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The letter's value and headers, the value cut so that the record fits one request."""
    value, found = item.record.value, headers(item, source_topic)
    if value is None or _record_size(item.record.key, value, found) <= max_request_size:
        return value, found
    found += [
        ("runstream.truncated", b"1"),
        ("runstream.original_size", str(len(value)).encode()),
    ]
    overhead = _record_size(item.record.key, b"", found)
    return value[: max(max_request_size - overhead - _SLACK, 0)], found


def _record_size(key: bytes | None, value: bytes, found: list[tuple[str, bytes]]) -> int:
    """An upper bound on the record's size as the producer checks it."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, found)
    return size


class DeadLetterTopic:
    """Sends dead letters through faust's producer and waits until Kafka has them."""

    def __init__(
        self,
        app: Any,
        topic: str,
        source_topic: str,
        stop: threading.Event | None = None,
        max_request_size: int = MAX_REQUEST_SIZE,
        outage: OutageLog | None = None,
    ) -> None:
        self._app = app
        self._outage = outage
        self._max_request_size = max_request_size
        self._topic = topic
        self._source_topic = source_topic
        self._stop = stop

    async def send(self, rejected: Sequence[Rejected]) -> None:
        """Deliver every letter, retrying with backoff until it works or the worker stops.

        A stop request ends the wait at once, raising Stopping (cancellation ends it too):
        the batch is then left unacknowledged and consumed again after a restart.
        """
        backoff = Backoff(self._stop, max_s=_RETRY_MAX_S, stop_error=Stopping)
        for item in rejected:
            limit = self._max_request_size
            value, found = fitted(item, self._source_topic, limit)
            while True:
                try:
                    await self._app.producer.send_and_wait(
                        self._topic, item.record.key, value, None, None, found
                    )
                    backoff.reset()
                    if self._outage is not None:
                        self._outage.recovered()
                    break
                except Exception as exc:  # broker away: the batch waits, unacknowledged
                    if type(exc).__name__ == "MessageSizeTooLargeError" and value and limit > 1:
                        limit //= 2  # the estimate missed something: never retry as it is
                        value, found = fitted(item, self._source_topic, limit)
                        continue
                    logger.warning(
                        "cannot send a dead letter to %s (attempt %d), retrying: %s",
                        self._topic,
                        backoff.attempts + 1,
                        exc,
                        extra=OUTAGE,
                    )
                    await backoff.wait_async(exc)
