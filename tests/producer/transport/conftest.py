"""Fixtures of the Kafka transport tests: a private topic, and team mode on it."""

from support.transport_fixtures import team_mode, topic

__all__ = ["team_mode", "topic"]
