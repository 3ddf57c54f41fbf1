"""Fixtures for the Kafka worker tests: private topics, a store server, the pipeline's processes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from runstream_processors.topics import ensure_topics, runstream_topics

from .kafka_pipeline import Pipeline, start_store_server


@pytest.fixture
def kafka_topics(kafka_bootstrap: str) -> Iterator[tuple[str, str]]:
    """A fresh events topic (3 partitions) and DLQ topic, deleted afterwards."""
    suffix = uuid.uuid4().hex[:8]
    events, dlq = f"tests.events.{suffix}", f"tests.dlq.{suffix}"
    ensure_topics(kafka_bootstrap, runstream_topics(events, 3, dlq))
    yield events, dlq
    from kafka import KafkaAdminClient

    with contextlib.suppress(Exception):
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.delete_topics([events, dlq])
        finally:
            admin.close()


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, kafka_topics: tuple[str, str], tmp_path: Path
) -> Iterator[Pipeline]:
    """Everything a worker test needs; every process it started is gone afterwards."""
    server, url = start_store_server(tmp_path / "store")
    events, dlq = kafka_topics
    built = Pipeline(tmp_path, kafka_bootstrap, events, dlq, url)
    built.processes.append(server)
    built.stop_merges()
    try:
        yield built
    finally:
        built.stop_all()
