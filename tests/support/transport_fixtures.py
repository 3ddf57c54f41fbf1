"""Fixtures of the Kafka transport tests: a private topic, and team mode on it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from runstream.settings import Settings, load_settings
from runstream_processors.topics import ensure_topics, runstream_topics


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    name = f"tests.transport.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, runstream_topics(name, 3, f"{name}.dlq"))
    yield name
    from kafka import KafkaAdminClient

    with contextlib.suppress(Exception):
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        admin.delete_topics([name, f"{name}.dlq"])
        admin.close()


@pytest.fixture
def team_mode(
    runstream_dir: Settings, kafka_bootstrap: str, topic: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """RUNSTREAM_DIR private to the test, Kafka configured: ``runstream.init`` ships."""
    monkeypatch.setenv("RUNSTREAM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("RUNSTREAM_KAFKA_TOPIC", topic)
    return load_settings()
