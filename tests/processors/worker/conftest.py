"""Fixtures for the Kafka worker tests: private topics, a store server, the pipeline's processes."""

from support.pipeline_fixtures import kafka_topics, pipeline

__all__ = ["kafka_topics", "pipeline"]
