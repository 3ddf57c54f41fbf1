"""Read a topic back in tests: every record, from the start, all partitions."""

from __future__ import annotations

from typing import Any


def consume(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[Any]:
    """At least ``count`` records of ``topic`` (all partitions, from the start)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout * 1000),
    )
    records = []
    try:
        for record in consumer:
            records.append(record)
            if len(records) >= count:
                break
    finally:
        consumer.close()
    return records
