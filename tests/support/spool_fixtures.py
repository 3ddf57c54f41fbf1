"""Fixtures for the SDK's tests: start quiet runs in a private RUNSTREAM_DIR, read the spool back.

Everything goes through the real spool on disk (``runstream_dir`` from ``tests/conftest.py``
points RUNSTREAM_DIR at ``tmp_path``); nothing here replaces the disk or the recorder thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
import runstream
from runstream import _active
from runstream.settings import Settings
from runstream.spool import Checkpoint, SpoolReader
from runstream.wire import events_pb2 as pb


class Point(NamedTuple):
    """One decoded metric point."""

    key: str
    step: int
    value: float
    split: str


def spool_envelopes(where: Settings | Path) -> list[pb.Envelope]:
    """Every Envelope in a spool directory (or a run's spool), in segment order.

    Reads with a throwaway checkpoint in batches until the spool is exhausted, and
    fails the test if the reader reports damage: a healthy run leaves none.
    """
    directory = where.spool_dir if isinstance(where, Settings) else where
    reader = SpoolReader(directory)
    checkpoint = Checkpoint(directory / "checkpoints" / "tests-unsaved.json")
    envelopes: list[pb.Envelope] = []
    while True:
        result = reader.read(checkpoint)
        if result.damage:
            pytest.fail(f"spool {directory} is damaged: {result.damage}")
        if not result.records:
            return envelopes
        envelopes.extend(pb.Envelope.FromString(record.payload) for record in result.records)
        checkpoint.advance(result.records)


class Columns(NamedTuple):
    """One MetricBatch as per-point numpy columns."""

    keys: list[str]
    key_index: np.ndarray  # index into keys, per point
    steps: np.ndarray
    values: np.ndarray
    times: np.ndarray


def metric_batch_columns(batch: pb.MetricBatch) -> Columns:
    """Decode a MetricBatch as events.proto documents it, independently of the SDK's encoder:
    packed little-endian byte columns, one step and time per row (``row_lengths`` points each).
    """
    rows = np.frombuffer(batch.row_lengths, dtype="<u4")
    columns = Columns(
        keys=list(batch.keys),
        key_index=np.frombuffer(batch.key_index, dtype="<u4"),
        steps=np.repeat(np.frombuffer(batch.steps, dtype="<i8"), rows),
        values=np.frombuffer(batch.values, dtype="<f8"),
        times=np.repeat(np.frombuffer(batch.time_unix_nano, dtype="<i8"), rows),
    )
    lengths = {len(columns.key_index), len(columns.steps), len(columns.values), len(columns.times)}
    assert len(lengths) == 1, f"MetricBatch columns differ in length: {lengths}"
    assert columns.key_index.size == 0 or int(columns.key_index.max()) < len(columns.keys)
    return columns


def decode_points(envelopes: list[pb.Envelope]) -> list[Point]:
    """The (key, step, value, split) points of every MetricBatch, in spool order."""
    points: list[Point] = []
    for envelope in envelopes:
        if envelope.WhichOneof("payload") != "metrics":
            continue
        columns = metric_batch_columns(envelope.metrics)
        points.extend(
            Point(columns.keys[index], int(step), float(value), envelope.metrics.split)
            for index, step, value in zip(
                columns.key_index, columns.steps, columns.values, strict=True
            )
        )
    return points


def kinds(envelopes: list[pb.Envelope]) -> list[str]:
    return [envelope.WhichOneof("payload") or "" for envelope in envelopes]


@pytest.fixture
def read_envelopes() -> Callable[[Settings | Path], list[pb.Envelope]]:
    """``read_envelopes(settings_or_spool_dir)``: every Envelope in the spool, checked undamaged."""
    return spool_envelopes


@pytest.fixture
def metric_points() -> Callable[[list[pb.Envelope]], list[Point]]:
    """``metric_points(envelopes)``: the decoded (key, step, value, split) points."""
    return decode_points


@pytest.fixture
def metric_columns() -> Callable[[pb.MetricBatch], Columns]:
    """``metric_columns(batch)``: one MetricBatch as per-point numpy columns."""
    return metric_batch_columns


@pytest.fixture
def payload_kinds() -> Callable[[list[pb.Envelope]], list[str]]:
    """``payload_kinds(envelopes)``: the payload name of each Envelope, e.g. ``"metrics"``."""
    return kinds


QUIET: dict[str, Any] = {"capture_env": False, "capture_code": False, "system_interval": None}
"""init() options that skip the slow captures; tests of the captures turn them back on."""


@pytest.fixture
def start_run(runstream_dir: Settings) -> Iterator[Callable[..., runstream.Run]]:
    """``start_run(**init_kwargs)``: ``runstream.init`` in the test's RUNSTREAM_DIR, quietly.

    Runs a test leaves active (because an assertion failed half-way) are finished
    afterwards so that one failure does not cascade into every later test.
    """
    started: list[runstream.Run] = []

    def start(**kwargs: Any) -> runstream.Run:
        options = {"project": "tests", **QUIET, **kwargs}
        run = runstream.init(**options)
        started.append(run)
        return run

    yield start
    for run in started:
        try:
            run.finish()
        except Exception:
            # A run whose finish() fails stays active and would refuse every later init():
            # fail this test only.
            _active.clear(run)
            raise
