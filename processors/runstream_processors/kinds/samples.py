"""``samples``: sample predictions (input, prediction, label) logged at a step."""

from __future__ import annotations

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
        correct=[s.prediction == s.label if s.has_label else None for s in samples],
        time=envelope.time_unix_nano,
    )


KIND = Kind(field="samples", check=check, rows=rows, tables=(SAMPLES,))
