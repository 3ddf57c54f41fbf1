"""Fixtures for the SDK's tests: start quiet runs in a private RUNSTREAM_DIR, read the spool back
(defined in ``support/spool_fixtures.py``, shared with ``tests/faults``)."""

from support.spool_fixtures import (
    metric_columns,
    metric_points,
    payload_kinds,
    read_envelopes,
    start_run,
)

__all__ = ["metric_columns", "metric_points", "payload_kinds", "read_envelopes", "start_run"]
