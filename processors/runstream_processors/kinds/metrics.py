"""``metrics``: packed columnar points, validated and stored without a Python object per point.

A batch's columns are little-endian arrays; they go to Arrow through numpy, and the
repeated strings (project, run, event, key, split) as dictionary indices, so a batch of
many envelopes becomes one Arrow table in a few vectorized steps.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError
from ..tables import FLOAT64, INT64, STRING, TIMESTAMP, UINT32, Table, TableRows
from .base import Kind
from .checks import check_keys

METRICS = Table(
    "metrics",
    {
        "project": STRING,
        "run_id": STRING,
        "key": STRING,
        "split": STRING,
        "step": INT64,
        "value": FLOAT64,
        "time": TIMESTAMP,
        "event_id": STRING,
        "idx": UINT32,
        "rank": UINT32,
    },
)
_WIDTHS = {"row_lengths": 4, "steps": 8, "time_unix_nano": 8, "key_index": 4, "values": 8}


def check(envelope: pb.Envelope) -> None:
    batch = envelope.metrics
    check_keys("metric", batch.keys)
    for name, width in _WIDTHS.items():
        if len(getattr(batch, name)) % width:
            raise InvalidEventError(
                "invalid_columns", f"metrics.{name} is not a whole number of items"
            )
    rows = len(batch.row_lengths) // 4
    if len(batch.steps) // 8 != rows or len(batch.time_unix_nano) // 8 != rows:
        raise InvalidEventError(
            "invalid_columns", "metrics steps/time_unix_nano need one item per row"
        )
    points = len(batch.values) // 8
    if len(batch.key_index) // 4 != points:
        raise InvalidEventError("invalid_columns", "metrics key_index needs one item per value")
    if int(np.frombuffer(batch.row_lengths, dtype="<u4").sum(dtype=np.int64)) != points:
        raise InvalidEventError(
            "invalid_columns", "metrics row_lengths do not add up to the values"
        )
    if points and int(np.frombuffer(batch.key_index, dtype="<u4").max()) >= len(batch.keys):
        raise InvalidEventError(
            "invalid_columns", f"metrics key_index points past its {len(batch.keys)} keys"
        )


class _Dictionary:
    """Distinct strings in first-seen order, for dictionary-encoded Arrow columns."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def code(self, value: str) -> int:
        return self.index.setdefault(value, len(self.index))

    def array(self, codes: np.ndarray) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(list(self.index), STRING))


class MetricColumns:
    """Every metric point of one write, kept as numpy columns until :meth:`build`."""

    def __init__(self) -> None:
        self._strings = {name: _Dictionary() for name in ("project", "run_id", "event_id", "split")}
        self._keys = _Dictionary()
        self._parts: list[tuple[np.ndarray, ...]] = []

    def add(self, envelope: pb.Envelope) -> None:
        batch = envelope.metrics
        lengths = np.frombuffer(batch.row_lengths, dtype="<u4")
        values = np.frombuffer(batch.values, dtype="<f8")
        key_codes = np.array([self._keys.code(key) for key in batch.keys], dtype=np.int32)
        count = len(values)
        labels = {
            "project": envelope.project,
            "run_id": envelope.run_id,
            "event_id": envelope.event_id,
            "split": batch.split,
        }
        codes = [np.full(count, self._strings[n].code(v), np.int32) for n, v in labels.items()]
        self._parts.append(
            (
                *codes,
                key_codes[np.frombuffer(batch.key_index, dtype="<u4")],
                np.repeat(np.frombuffer(batch.steps, dtype="<i8"), lengths),
                values,
                np.repeat(np.frombuffer(batch.time_unix_nano, dtype="<i8"), lengths),
                np.arange(count, dtype=np.uint32),
                np.full(count, envelope.rank, np.uint32),
            )
        )

    def build(self) -> pa.Table:
        project, run_id, event_id, split, key, step, value, time, idx, rank = (
            np.concatenate(column) for column in zip(*self._parts, strict=True)
        )
        strings = self._strings
        return pa.table(
            {
                "project": strings["project"].array(project),
                "run_id": strings["run_id"].array(run_id),
                "key": self._keys.array(key),
                "split": strings["split"].array(split),
                "step": pa.array(step),
                "value": pa.array(value),
                "time": pa.array(time).cast(TIMESTAMP),
                "event_id": strings["event_id"].array(event_id),
                "idx": pa.array(idx),
                "rank": pa.array(rank),
            }
        )


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    out.builder(METRICS, envelope.event_id, MetricColumns).add(envelope)


def log_activity(envelope: pb.Envelope) -> tuple[int, int]:
    """The batch's newest row time: a log() call no later than that happened."""
    times = np.frombuffer(envelope.metrics.time_unix_nano, dtype="<i8")
    return (int(times.max()) if len(times) else 0), 0


KIND = Kind(field="metrics", check=check, rows=rows, tables=(METRICS,), log_activity=log_activity)
