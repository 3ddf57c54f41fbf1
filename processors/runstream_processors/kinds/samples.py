"""``samples``: sample predictions (input, prediction, label) logged at a step, and what
makes them evaluable (class names, probabilities or scores, slices, regression numbers)."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

import pyarrow as pa
from runstream.limits import (
    MAX_CLASSES,
    MAX_METADATA_KEYS,
    MAX_SAMPLES_PER_BATCH,
    MAX_SLICE_KEYS,
)
from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError
from ..tables import (
    BOOL,
    FLOAT64,
    INT64,
    STRING,
    STRING_MAP,
    STRINGS,
    TIMESTAMP,
    UINT32,
    Table,
    TableRows,
)
from .base import Kind

FLOATS = pa.list_(pa.float64())

SAMPLES = Table(
    "samples",
    {
        "project": STRING,
        "run_id": STRING,
        "split": STRING,
        "step": INT64,
        "sample_id": STRING,
        "input": STRING,
        "prediction": STRING,
        "label": STRING,
        "correct": BOOL,
        "time": TIMESTAMP,
        "event_id": STRING,
        "idx": UINT32,
        "class_names": STRINGS,
        "task": STRING,
        "probabilities": FLOATS,
        "scores": FLOATS,
        "slices": STRING_MAP,
        "metadata": STRING_MAP,
        "prediction_value": FLOAT64,
        "target": FLOAT64,
    },
)


def same_answer(prediction: str, label: str) -> bool:
    """Whether a prediction matches its label: as numbers when both read as (finite or
    infinite, not NaN) numbers, so ``1.0`` matches ``1`` and ``1e3`` matches ``1000``;
    else as strings. Decimal, not float: long integer labels compare exactly."""
    if prediction == label:
        return True
    as_numbers = _number(prediction), _number(label)
    if as_numbers[0] is not None and as_numbers[1] is not None:
        return as_numbers[0] == as_numbers[1]
    return False


def _number(text: str) -> Decimal | None:
    if not text or len(text) > 100:
        return None
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return None if value.is_nan() else value


def check(envelope: pb.Envelope) -> None:
    batch = envelope.samples
    count = len(batch.samples)
    if count > MAX_SAMPLES_PER_BATCH:
        raise InvalidEventError(
            "oversized", f"{count} samples in one batch, the limit is {MAX_SAMPLES_PER_BATCH}"
        )
    if batch.task not in ("", "classification", "regression"):
        raise InvalidEventError("invalid_value", f"unknown samples task {batch.task!r}")
    if len(batch.class_names) > MAX_CLASSES:
        raise InvalidEventError(
            "oversized", f"{len(batch.class_names)} class names, the limit is {MAX_CLASSES}"
        )
    for sample in batch.samples:
        _check_sample(sample, len(batch.class_names))


def _check_sample(sample: pb.Sample, classes: int) -> None:
    for name in ("probabilities", "scores"):
        values = getattr(sample, name)
        if values and len(values) != classes:
            raise InvalidEventError(
                "invalid_value",
                f"sample {sample.id!r}: {len(values)} {name} for {classes} class names",
            )
        if not all(math.isfinite(value) for value in values):
            raise InvalidEventError("invalid_value", f"sample {sample.id!r}: {name} not finite")
    if len(sample.slices) > MAX_SLICE_KEYS or len(sample.metadata) > MAX_METADATA_KEYS:
        raise InvalidEventError("oversized", f"sample {sample.id!r}: too many slices or metadata")


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    batch = envelope.samples
    samples = list(batch.samples)
    regression = batch.task == "regression"
    out.extend(
        SAMPLES,
        envelope.event_id,
        len(samples),
        project=envelope.project,
        run_id=envelope.run_id,
        split=batch.split,
        step=batch.step,
        sample_id=[s.id for s in samples],
        input=[s.input for s in samples],
        prediction=[s.prediction for s in samples],
        label=[s.label if s.has_label else None for s in samples],
        correct=[
            same_answer(s.prediction, s.label) if s.has_label and not regression else None
            for s in samples
        ],
        time=envelope.time_unix_nano,
        class_names=[list(batch.class_names)] * len(samples),
        task=batch.task,
        probabilities=[list(s.probabilities) for s in samples],
        scores=[list(s.scores) for s in samples],
        slices=[dict(s.slices) for s in samples],
        metadata=[dict(s.metadata) for s in samples],
        prediction_value=[s.prediction_value if regression else None for s in samples],
        target=[s.target if regression and s.has_label else None for s in samples],
    )


KIND = Kind(field="samples", check=check, rows=rows, tables=(SAMPLES,))
