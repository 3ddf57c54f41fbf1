"""Create runstream's Kafka topics; faust consumes its source topic but never creates it.

Idempotent: topics that exist are left as they are. An existing events topic with
fewer partitions than asked is *not* grown, because adding partitions moves keys
(run ids) to other partitions and would break the per-run order of runs in flight;
it is logged instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runstream.errors import MissingExtraError

from .errors import ProcessorError

logger = logging.getLogger("runstream.topics")

EVENTS_TOPIC = "runstream.events.v1"
DLQ_TOPIC = "runstream.dlq.v1"
DEFAULT_PARTITIONS = 6
DLQ_PARTITIONS = 1
_DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000


class TopicsError(ProcessorError):
    """The topics could not be created or inspected (broker unreachable, not allowed, ...)."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: Mapping[str, str]


def runstream_topics(
    events_topic: str = EVENTS_TOPIC,
    partitions: int = DEFAULT_PARTITIONS,
    dlq_topic: str = DLQ_TOPIC,
) -> list[TopicSpec]:
    """The events topic (keyed by run id) and the dead-letter topic (kept 30 days)."""
    return [
        TopicSpec(events_topic, partitions, {}),
        TopicSpec(dlq_topic, DLQ_PARTITIONS, {"retention.ms": str(_DLQ_RETENTION_MS)}),
    ]


def ensure_topics(bootstrap: str, specs: list[TopicSpec], timeout_s: float = 30.0) -> list[str]:
    """Create the topics of ``specs`` that do not exist yet; returns the names created."""
    admin = _admin(bootstrap, timeout_s)
    try:
        existing = _partition_counts(admin, [spec.name for spec in specs])
        missing = [spec for spec in specs if spec.name not in existing]
        for spec in specs:
            have = existing.get(spec.name)
            if have is not None and have < spec.partitions:
                logger.warning(
                    "topic %s has %d partitions, not %d; left as is (growing it would "
                    "move runs between partitions)",
                    spec.name,
                    have,
                    spec.partitions,
                )
        if missing:
            _create(admin, missing, timeout_s)
        return [spec.name for spec in missing]
    finally:
        admin.close()


def _admin(bootstrap: str, timeout_s: float) -> Any:
    try:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError
    except ImportError as exc:
        raise MissingExtraError("kafka-python", "kafka") from exc

    try:
        return KafkaAdminClient(
            bootstrap_servers=bootstrap.split(","),
            client_id="runstream-topics",
            bootstrap_timeout_ms=int(timeout_s * 1000),
            request_timeout_ms=int(timeout_s * 1000),
        )
    except KafkaError as exc:
        raise TopicsError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc


def _partition_counts(admin: Any, names: list[str]) -> dict[str, int]:
    from kafka.errors import KafkaError

    try:
        present = set(admin.list_topics()) & set(names)
        described = admin.describe_topics(sorted(present)) if present else []
    except KafkaError as exc:
        raise TopicsError(f"cannot list Kafka topics: {exc}") from exc
    return {topic["name"]: len(topic["partitions"]) for topic in described}


def _create(admin: Any, specs: list[TopicSpec], timeout_s: float) -> None:
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    for spec in specs:
        request = {
            spec.name: {
                "num_partitions": spec.partitions,
                "replication_factor": -1,
                "configs": dict(spec.configs),
            }
        }
        try:
            admin.create_topics(request, timeout_ms=int(timeout_s * 1000))
            logger.info("created Kafka topic %s (%d partitions)", spec.name, spec.partitions)
        except TopicAlreadyExistsError:  # another worker won the race: fine
            pass
        except KafkaError as exc:
            raise TopicsError(f"cannot create Kafka topic {spec.name}: {exc}") from exc
    try:
        admin.wait_for_topics([spec.name for spec in specs], timeout_ms=int(timeout_s * 1000))
    except KafkaError as exc:
        raise TopicsError(f"Kafka topics were created but have no leader yet: {exc}") from exc
