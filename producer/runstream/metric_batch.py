"""Encode and decode the packed columnar MetricBatch (see proto/runstream/v1/events.proto).

Encoding works on whole columns with ``array`` and ``itertools``, so the recorder
spends a few C-level passes per batch instead of Python bytecode per point; that
is what lets it keep up with ``log()`` in a tight loop.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat

from .wire import events_pb2 as pb

Row = tuple[int, int, Mapping[str, float]]
"""(step, time_unix_nano, values) of one ``log()`` call."""

_LITTLE = sys.byteorder == "little"


def _packed(column: array) -> bytes:  # type: ignore[type-arg]
    if not _LITTLE:
        column = array(column.typecode, column)
        column.byteswap()
    return column.tobytes()


def _unpacked(typecode: str, data: bytes) -> array:  # type: ignore[type-arg]
    column = array(typecode)
    column.frombytes(data)
    if not _LITTLE:
        column.byteswap()
    return column


def encode(split: str, rows: Sequence[Row]) -> tuple[pb.MetricBatch, array]:  # type: ignore[type-arg]
    """One batch holding every row, and its values column (for the caller's NaN check)."""
    steps, times, values = zip(*rows, strict=True) if rows else ((), (), ())
    shapes = list(map(tuple, values))
    key_ids: dict[str, int] = {}
    indexes: dict[tuple[str, ...], list[int]] = {}
    for shape in dict.fromkeys(shapes):
        indexes[shape] = [key_ids.setdefault(key, len(key_ids)) for key in shape]
    if len(indexes) == 1:  # the usual case: every call logged the same keys
        key_index = array("I", next(iter(indexes.values()))) * len(shapes)
    else:
        key_index = array("I", chain.from_iterable(map(indexes.__getitem__, shapes)))
    value_column = array("d", list(chain.from_iterable(map(dict.values, values))))
    batch = pb.MetricBatch(
        split=split,
        keys=list(key_ids),
        row_lengths=_packed(array("I", map(len, shapes))),
        steps=_packed(array("q", steps)),
        time_unix_nano=_packed(array("q", times)),
        key_index=_packed(key_index),
        values=_packed(value_column),
    )
    return batch, value_column


def point_count(batch: pb.MetricBatch) -> int:
    return len(batch.values) // 8


@dataclass(frozen=True)
class Points:
    """A decoded batch, one entry per point."""

    keys: list[str]
    steps: array  # type: ignore[type-arg]
    times: array  # type: ignore[type-arg]
    values: array  # type: ignore[type-arg]

    def __iter__(self) -> Iterator[tuple[str, int, float, int]]:
        """(key, step, value, time_unix_nano) per point."""
        return zip(self.keys, self.steps, self.values, self.times, strict=True)


def decode(batch: pb.MetricBatch) -> Points:
    """Per-point columns (pure Python; processors use numpy for speed)."""
    lengths = _unpacked("I", batch.row_lengths)
    keys = list(batch.keys)
    return Points(
        keys=[keys[index] for index in _unpacked("I", batch.key_index)],
        steps=array("q", chain.from_iterable(map(repeat, _unpacked("q", batch.steps), lengths))),
        times=array(
            "q", chain.from_iterable(map(repeat, _unpacked("q", batch.time_unix_nano), lengths))
        ),
        values=_unpacked("d", batch.values),
    )
