"""Fixtures of the fault suite: the SDK's spool readers, team mode on a private topic, and the
whole Kafka pipeline (topics, a store server, workers and training jobs as processes)."""

from support.pipeline_fixtures import kafka_topics, pipeline
from support.spool_fixtures import (
    metric_columns,
    metric_points,
    payload_kinds,
    read_envelopes,
    start_run,
)
from support.transport_fixtures import team_mode, topic

__all__ = [
    "kafka_topics",
    "metric_columns",
    "metric_points",
    "payload_kinds",
    "pipeline",
    "read_envelopes",
    "start_run",
    "team_mode",
    "topic",
]
