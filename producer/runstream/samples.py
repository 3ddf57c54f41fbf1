"""Turn per-sample inputs, predictions and labels into SampleBatch payloads."""

from __future__ import annotations

import json
from collections.abc import Sequence

from .errors import InvalidValueError
from .limits import MAX_PAYLOAD_BYTES, MAX_SAMPLE_FIELD_BYTES, MAX_SAMPLES_PER_BATCH
from .wire import events_pb2 as pb


def render(field: str, index: int, value: object) -> str:
    """Text for one field of one sample: strings as-is, structures as JSON, tensors as lists."""
    if isinstance(value, bytes):
        raise InvalidValueError(
            f"samples {field}[{index}]: bytes are not text; decode or describe them"
        )
    if isinstance(value, str):
        text = value
    else:
        tolist = getattr(value, "tolist", None)
        plain = tolist() if callable(tolist) else value
        text = plain if isinstance(plain, str) else json.dumps(plain, default=str)
    if len(text.encode()) > MAX_SAMPLE_FIELD_BYTES:
        raise InvalidValueError(
            f"samples {field}[{index}]: {len(text.encode())} bytes, the limit is "
            f"{MAX_SAMPLE_FIELD_BYTES}; log a smaller rendering (e.g. a caption or a path)"
        )
    return text


def sample_batches(
    inputs: Sequence[object],
    predictions: Sequence[object],
    labels: Sequence[object] | None,
    ids: Sequence[object] | None,
    step: int,
    split: str,
) -> list[pb.SampleBatch]:
    """Validated batches of at most MAX_SAMPLES_PER_BATCH samples."""
    count = len(inputs)
    lengths = {"predictions": len(predictions)}
    if labels is not None:
        lengths["labels"] = len(labels)
    if ids is not None:
        lengths["ids"] = len(ids)
    for name, length in lengths.items():
        if length != count:
            raise InvalidValueError(f"samples: {count} inputs but {length} {name}")
    samples = [
        pb.Sample(
            id=render("ids", i, ids[i]) if ids is not None else str(i),
            input=render("inputs", i, inputs[i]),
            prediction=render("predictions", i, predictions[i]),
            label=render("labels", i, labels[i]) if labels is not None else "",
            has_label=labels is not None,
        )
        for i in range(count)
    ]
    batches: list[list[pb.Sample]] = []
    size = 0
    for sample in samples:
        cost = sample.ByteSize() + 8
        full = bool(batches) and len(batches[-1]) >= MAX_SAMPLES_PER_BATCH
        if not batches or full or size + cost > MAX_PAYLOAD_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(sample)
        size += cost
    return [pb.SampleBatch(step=step, split=split, samples=batch) for batch in batches]
