"""``evaluation``: what ``runstream eval`` computed from a run's samples, and its baselines."""

from __future__ import annotations

import math

from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError
from ..tables import (
    FLOAT64,
    INT64,
    STRING,
    STRING_MAP,
    STRINGS,
    TIMESTAMP,
    UINT32,
    UINT64,
    Table,
    TableRows,
)
from .base import Kind

MAX_NUMBERS = 100_000
"""Metric rows, bins and confusion cells of one evaluation: far below the envelope limit."""

EVALUATION_RUNS = Table(
    "evaluation_runs",
    {
        "project": STRING,
        "run_id": STRING,
        "split": STRING,
        "step": INT64,
        "task": STRING,
        "sample_count": UINT64,
        "class_names": STRINGS,
        "options": STRING_MAP,
        "time": TIMESTAMP,
        "event_id": STRING,
    },
)
EVALUATIONS = Table(
    "evaluations",
    {
        "project": STRING,
        "run_id": STRING,
        "split": STRING,
        "step": INT64,
        "baseline": STRING,
        "slice_key": STRING,
        "slice_value": STRING,
        "metric": STRING,
        "class_name": STRING,
        "value": FLOAT64,
        "ci_low": FLOAT64,
        "ci_high": FLOAT64,
        "count": UINT64,
        "time": TIMESTAMP,
        "event_id": STRING,
        "idx": UINT32,
    },
)
CALIBRATION = Table(
    "evaluation_calibration",
    {
        "project": STRING,
        "run_id": STRING,
        "split": STRING,
        "bin": UINT32,
        "bin_low": FLOAT64,
        "bin_high": FLOAT64,
        "confidence": FLOAT64,
        "accuracy": FLOAT64,
        "count": UINT64,
        "event_id": STRING,
        "idx": UINT32,
    },
)
CONFUSION = Table(
    "evaluation_confusion",
    {
        "project": STRING,
        "run_id": STRING,
        "split": STRING,
        "label": STRING,
        "prediction": STRING,
        "count": UINT64,
        "event_id": STRING,
        "idx": UINT32,
    },
)


def check(envelope: pb.Envelope) -> None:
    result = envelope.evaluation
    if result.task not in ("classification", "regression"):
        raise InvalidEventError("invalid_value", f"unknown evaluation task {result.task!r}")
    numbers = len(result.metrics) + len(result.calibration) + len(result.confusion)
    if numbers > MAX_NUMBERS:
        raise InvalidEventError("oversized", f"{numbers} numbers, the limit is {MAX_NUMBERS}")
    for metric in result.metrics:
        if not metric.metric:
            raise InvalidEventError("missing_field", "an evaluation metric without a name")
    for cell in result.calibration:
        if not (math.isfinite(cell.confidence) and math.isfinite(cell.accuracy)):
            raise InvalidEventError("invalid_value", f"calibration bin {cell.bin} is not finite")


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    result = envelope.evaluation
    ids = {"project": envelope.project, "run_id": envelope.run_id, "split": result.split}
    out.row(
        EVALUATION_RUNS,
        **ids,
        step=result.step,
        task=result.task,
        sample_count=result.sample_count,
        class_names=list(result.class_names),
        options=dict(result.options),
        time=envelope.time_unix_nano,
        event_id=envelope.event_id,
    )
    event = {**ids, "event_id": envelope.event_id}
    # One row each (their `count` column rules out TableRows.extend): at most MAX_NUMBERS.
    for idx, m in enumerate(result.metrics):
        out.row(
            EVALUATIONS,
            **event,
            idx=idx,
            step=result.step,
            baseline=m.baseline,
            slice_key=m.slice_key,
            slice_value=m.slice_value,
            metric=m.metric,
            class_name=m.class_name,
            value=m.value,
            ci_low=m.ci_low if m.has_ci else None,
            ci_high=m.ci_high if m.has_ci else None,
            count=m.count,
            time=envelope.time_unix_nano,
        )
    for idx, b in enumerate(result.calibration):
        out.row(
            CALIBRATION,
            **event,
            idx=idx,
            bin=b.bin,
            bin_low=b.low,
            bin_high=b.high,
            confidence=b.confidence,
            accuracy=b.accuracy,
            count=b.count,
        )
    for idx, c in enumerate(result.confusion):
        out.row(CONFUSION, **event, idx=idx, label=c.label, prediction=c.prediction, count=c.count)


KIND = Kind(
    field="evaluation",
    check=check,
    rows=rows,
    tables=(EVALUATION_RUNS, EVALUATIONS, CALIBRATION, CONFUSION),
)
