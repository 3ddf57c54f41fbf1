"""Turn per-sample inputs, predictions and labels into SampleBatch payloads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from .errors import InvalidInputError, InvalidValueError
from .limits import (
    MAX_PAYLOAD_BYTES,
    MAX_SAMPLE_FIELD_BYTES,
    MAX_SAMPLES_PER_BATCH,
    text_problem,
)
from .wire import events_pb2 as pb

MAX_SAMPLES_PER_CALL = 1_000_000
"""An iterator passed to ``log_samples`` is read up to this many items, once."""


def render(field: str, index: int, value: object) -> str:
    """Text for one field of one sample: strings as-is, structures as JSON, tensors as lists."""
    if isinstance(value, bytes):
        raise _refused(field, index, "bytes are not text; decode or describe them")
    if isinstance(value, str):
        text = value
    else:
        try:
            tolist = getattr(value, "tolist", None)
            plain = tolist() if callable(tolist) else value
            text = plain if isinstance(plain, str) else json.dumps(plain, default=str)
        except (TypeError, ValueError, RecursionError) as exc:  # e.g. a list holding itself
            unrendered = f"cannot render a {type(value).__name__} as text"
            raise _refused(field, index, unrendered) from exc
    problem = text_problem(text, what="the text", max_bytes=MAX_SAMPLE_FIELD_BYTES)
    if problem:
        hint = "; log a smaller rendering (e.g. a caption or a path)" if "limit" in problem else ""
        raise _refused(field, index, problem, hint)
    return text


def _refused(field: str, index: int, problem: str, hint: str = "") -> InvalidValueError:
    return InvalidValueError(
        f"samples {field}[{index}]: {problem}{hint}", subject=f"samples {field}", problem=problem
    )


def materialized(what: str, values: object) -> Sequence[object]:
    """``values`` as a sequence: lists and tuples as they are, any other iterable read once
    (at most MAX_SAMPLES_PER_CALL items); InvalidValueError for what is not iterable."""
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise InvalidValueError.of(
            f"samples {what}",
            f"expected a list (or any iterable) of samples, got {type(values).__name__}",
        )
    if isinstance(values, Sequence) or (
        hasattr(values, "__len__") and hasattr(values, "__getitem__")  # arrays, tensors
    ):
        return values  # type: ignore[return-value]
    items: list[object] = []
    for item in values:
        if len(items) >= MAX_SAMPLES_PER_CALL:
            raise InvalidValueError.of(
                f"samples {what}", f"more than {MAX_SAMPLES_PER_CALL} samples in one call"
            )
        items.append(item)
    return items


def sample_batches(
    inputs: Iterable[object],
    predictions: Iterable[object],
    labels: Iterable[object] | None,
    ids: Iterable[object] | None,
    step: int,
    split: str,
) -> tuple[list[pb.SampleBatch], list[InvalidInputError]]:
    """Validated batches of at most MAX_SAMPLES_PER_BATCH samples, and the samples left out.

    A call whose fields differ in length raises InvalidValueError; a sample with a field
    that cannot be stored is left out, its error returned (the first one per field).
    """
    columns = {"inputs": materialized("inputs", inputs)}
    columns["predictions"] = materialized("predictions", predictions)
    if labels is not None:
        columns["labels"] = materialized("labels", labels)
    if ids is not None:
        columns["ids"] = materialized("ids", ids)
    count = len(columns["inputs"])
    for name, column in columns.items():
        if len(column) != count:
            raise InvalidValueError.of(
                "samples", "fields differ in length", f": {count} inputs but {len(column)} {name}"
            )
    has_label = labels is not None
    samples: list[pb.Sample] = []
    problems: list[InvalidInputError] = []
    for i in range(count):
        try:
            fields = {name: render(name, i, column[i]) for name, column in columns.items()}
        except InvalidInputError as exc:
            problems.append(exc)
            continue
        samples.append(
            pb.Sample(
                id=fields.get("ids", str(i)),
                input=fields["inputs"],
                prediction=fields["predictions"],
                label=fields.get("labels", ""),
                has_label=has_label,
            )
        )
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
    return [pb.SampleBatch(step=step, split=split, samples=batch) for batch in batches], problems
