"""Dead letters to the ``runstream.dlq.v1`` topic: the original bytes, the reason in headers.

The value is the record exactly as consumed, so a fixed processor can replay it; the
headers say why it was refused and where it came from. The same letters also go to
the store's ``runstream.dead_letters`` table, where dashboards count them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from runstream.backoff import Backoff

from ..errors import Stopping
from .store_writer import Rejected

logger = logging.getLogger("runstream.worker")

_DETAIL_LIMIT = 2000
_RETRY_MAX_S = 30.0


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


class DeadLetterTopic:
    """Sends dead letters through faust's producer and waits until Kafka has them."""

    def __init__(
        self, app: Any, topic: str, source_topic: str, stop: threading.Event | None = None
    ) -> None:
        self._app = app
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
            while True:
                try:
                    await self._app.producer.send_and_wait(
                        self._topic,
                        item.record.key,
                        item.record.value,
                        None,
                        None,
                        headers(item, self._source_topic),
                    )
                    backoff.reset()
                    break
                except Exception as exc:  # broker away: the batch waits, unacknowledged
                    logger.warning(
                        "cannot send a dead letter to %s (attempt %d), retrying: %s",
                        self._topic,
                        backoff.attempts + 1,
                        exc,
                    )
                    await backoff.wait_async(exc)
