"""``samples``: sample predictions (input, prediction, label) logged at a step."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from runstream.limits import MAX_SAMPLES_PER_BATCH
from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError
from ..tables import BOOL, INT64, STRING, TIMESTAMP, UINT32, Table, TableRows
from .base import Kind

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
    count = len(envelope.samples.samples)
    if count > MAX_SAMPLES_PER_BATCH:
        raise InvalidEventError(
            "oversized", f"{count} samples in one batch, the limit is {MAX_SAMPLES_PER_BATCH}"
        )


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    batch = envelope.samples
    samples = list(batch.samples)
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
        correct=[same_answer(s.prediction, s.label) if s.has_label else None for s in samples],
        time=envelope.time_unix_nano,
    )


KIND = Kind(field="samples", check=check, rows=rows, tables=(SAMPLES,))
