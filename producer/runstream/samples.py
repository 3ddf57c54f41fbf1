"""Turn per-sample inputs, predictions and labels into SampleBatch payloads."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import InvalidInputError, InvalidValueError
from .limits import (
    MAX_CLASS_NAME_BYTES,
    MAX_CLASSES,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_SAMPLE_FIELD_BYTES,
    MAX_SAMPLES_PER_BATCH,
    MAX_SLICE_KEYS,
    MAX_SLICE_VALUE_BYTES,
    PROBABILITY_SUM_TOLERANCE,
    key_problem,
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


TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Evaluable:
    """What makes logged samples evaluable (``runstream eval``), as given to ``log_samples``."""

    probabilities: Iterable[object] | None = None
    scores: Iterable[object] | None = None
    slices: Mapping[str, Iterable[object]] | None = None
    metadata: Mapping[str, Iterable[object]] | None = None
    class_names: Iterable[object] | None = None
    task: str | None = None


@dataclass
class _Columns:
    """The call's columns, materialized and checked for equal lengths."""

    plain: dict[str, Sequence[object]]
    vectors: dict[str, Sequence[object]] = field(default_factory=dict)
    slices: dict[str, Sequence[object]] = field(default_factory=dict)
    metadata: dict[str, Sequence[object]] = field(default_factory=dict)


def sample_batches(
    inputs: Iterable[object],
    predictions: Iterable[object],
    labels: Iterable[object] | None,
    ids: Iterable[object] | None,
    step: int,
    split: str,
    evaluable: Evaluable | None = None,
) -> tuple[list[pb.SampleBatch], list[InvalidInputError]]:
    """Validated batches of at most MAX_SAMPLES_PER_BATCH samples, and the samples left out.

    A call whose fields differ in length, or whose class names, task, slice or metadata
    names cannot be stored, raises InvalidValueError; a sample with a field that cannot
    be stored is left out, its error returned (the first one per field).
    """
    extra = evaluable or Evaluable()
    task = _task(extra.task)
    columns = _columns(inputs, predictions, labels, ids, extra)
    class_names = _class_names(extra.class_names)
    if task == "regression" and (class_names or columns.vectors):
        raise InvalidValueError.of(
            "samples task", "regression samples have no class_names, probabilities or scores"
        )
    count = len(columns.plain["inputs"])
    width = len(class_names) or _first_width(columns.vectors)
    if width and not class_names:
        class_names = [str(i) for i in range(width)]
    has_label = labels is not None
    samples: list[pb.Sample] = []
    problems: list[InvalidInputError] = []
    for i in range(count):
        try:
            samples.append(_sample(columns, i, has_label, task, class_names))
        except InvalidInputError as exc:
            problems.append(exc)
    return _batched(samples, step, split, class_names, task), problems


def _task(task: object) -> str:
    if task is None:
        return ""
    if task not in TASKS:
        raise InvalidValueError.of("samples task", f"expected one of {TASKS}, got {task!r}")
    return str(task)


def _columns(
    inputs: Iterable[object],
    predictions: Iterable[object],
    labels: Iterable[object] | None,
    ids: Iterable[object] | None,
    extra: Evaluable,
) -> _Columns:
    columns = _Columns({"inputs": materialized("inputs", inputs)})
    columns.plain["predictions"] = materialized("predictions", predictions)
    if labels is not None:
        columns.plain["labels"] = materialized("labels", labels)
    if ids is not None:
        columns.plain["ids"] = materialized("ids", ids)
    for name, vectors in (("probabilities", extra.probabilities), ("scores", extra.scores)):
        if vectors is not None:
            columns.vectors[name] = materialized(name, vectors)
    columns.slices = _named_columns("slices", extra.slices, MAX_SLICE_KEYS)
    columns.metadata = _named_columns("metadata", extra.metadata, MAX_METADATA_KEYS)
    count = len(columns.plain["inputs"])
    every = {
        **columns.plain,
        **columns.vectors,
        **{f"slices[{k!r}]": v for k, v in columns.slices.items()},
        **{f"metadata[{k!r}]": v for k, v in columns.metadata.items()},
    }
    for name, column in every.items():
        if len(column) != count:
            raise InvalidValueError.of(
                "samples", "fields differ in length", f": {count} inputs but {len(column)} {name}"
            )
    return columns


def _named_columns(
    what: str, given: Mapping[str, Iterable[object]] | None, limit: int
) -> dict[str, Sequence[object]]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise InvalidValueError.of(
            f"samples {what}",
            f"expected a mapping of name -> one value per sample, got {type(given).__name__}",
        )
    if len(given) > limit:
        raise InvalidValueError.of(f"samples {what}", f"{len(given)} names, the limit is {limit}")
    for key in given:
        problem = key_problem(key)
        if problem:
            raise InvalidValueError.of(f"samples {what}", f"name {key!r}: {problem}")
    return {key: materialized(f"{what}[{key!r}]", values) for key, values in given.items()}


def _class_names(given: Iterable[object] | None) -> list[str]:
    if given is None:
        return []
    names = list(materialized("class_names", given))
    if not names or len(names) > MAX_CLASSES:
        raise InvalidValueError.of(
            "samples class_names", f"{len(names)} names, expected 1 to {MAX_CLASSES}"
        )
    texts: list[str] = []
    for name in names:
        text = _plain(name)
        problem = text_problem(text, what="a class name", max_bytes=MAX_CLASS_NAME_BYTES)
        if problem or not isinstance(text, str):
            raise InvalidValueError.of("samples class_names", f"{name!r}: {problem}")
        texts.append(text)
    if len(set(texts)) != len(texts):
        raise InvalidValueError.of("samples class_names", "names repeat")
    return texts


def _plain(value: object) -> object:
    """Numpy and torch scalars as Python values (``tolist``), other values as they are."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) and not isinstance(value, str | bytes) else value


def _first_width(vectors: Mapping[str, Sequence[object]]) -> int:
    for column in vectors.values():
        if len(column):
            row = _plain(column[0])
            return len(row) if isinstance(row, list) else 2  # one number: binary
    return 0


def _sample(
    columns: _Columns, i: int, has_label: bool, task: str, class_names: list[str]
) -> pb.Sample:
    plain = columns.plain
    fields = {name: render(name, i, column[i]) for name, column in plain.items()}
    sample = pb.Sample(
        id=fields.get("ids", str(i)),
        input=fields["inputs"],
        prediction=fields["predictions"],
        label=fields.get("labels", ""),
        has_label=has_label,
    )
    if task == "regression":
        sample.prediction_value = _number("predictions", i, plain["predictions"][i])
        if has_label:
            sample.target = _number("labels", i, plain["labels"][i])
    elif class_names:
        sample.prediction = _class_of("predictions", i, plain["predictions"][i], class_names)
        if has_label:
            sample.label = _class_of("labels", i, plain["labels"][i], class_names)
    for name, column in columns.vectors.items():
        values = _vector(name, i, column[i], len(class_names), name == "probabilities")
        getattr(sample, name).extend(values)
    for key, column in columns.slices.items():
        sample.slices[key] = _short_text(f"slices[{key!r}]", i, column[i], MAX_SLICE_VALUE_BYTES)
    for key, column in columns.metadata.items():
        sample.metadata[key] = _short_text(
            f"metadata[{key!r}]", i, column[i], MAX_METADATA_VALUE_BYTES
        )
    return sample


def _number(name: str, i: int, value: object) -> float:
    plain = _plain(value)
    if isinstance(plain, bool) or not isinstance(plain, int | float):
        raise _refused(name, i, f"a regression {name[:-1]} must be a number, got {plain!r}")
    if not math.isfinite(plain):
        raise _refused(name, i, f"{plain} is not a finite number")
    return float(plain)


def _class_of(name: str, i: int, value: object, class_names: list[str]) -> str:
    """A class name for a class index or name: type-aware, so 3 and "3" and np.int64(3)
    are the same class, and an index out of range is refused rather than miscounted."""
    plain = _plain(value)
    if isinstance(plain, int) and not isinstance(plain, bool):
        if 0 <= plain < len(class_names):
            return class_names[plain]
        raise _refused(name, i, f"class index {plain} is outside 0..{len(class_names) - 1}")
    text = render(name, i, plain)
    if text not in class_names:
        raise _refused(name, i, f"{text!r} is not one of class_names")
    return text


def _vector(name: str, i: int, value: object, width: int, probabilities: bool) -> list[float]:
    plain = _plain(value)
    if isinstance(plain, int | float) and not isinstance(plain, bool) and width == 2:
        plain = [1.0 - float(plain), float(plain)]  # one number: P(second class)
    if not isinstance(plain, list | tuple):
        raise _refused(name, i, f"expected {width} numbers, got {type(plain).__name__}")
    if len(plain) != width:
        raise _refused(name, i, f"{len(plain)} values, expected one per class ({width})")
    values: list[float] = []
    for value_ in plain:
        if isinstance(value_, bool) or not isinstance(value_, int | float):
            raise _refused(name, i, f"{value_!r} is not a number")
        if not math.isfinite(value_):
            raise _refused(name, i, f"{value_} is not a finite number")
        values.append(float(value_))
    if probabilities:
        if any(v < -PROBABILITY_SUM_TOLERANCE or v > 1 + PROBABILITY_SUM_TOLERANCE for v in values):
            raise _refused(name, i, "a probability outside [0, 1]")
        if abs(sum(values) - 1.0) > PROBABILITY_SUM_TOLERANCE:
            raise _refused(name, i, f"probabilities sum to {sum(values):.6g}, not 1")
    return values


def _short_text(name: str, i: int, value: object, max_bytes: int) -> str:
    text = render(name, i, _plain(value))
    if len(text.encode("utf-8")) > max_bytes:
        raise _refused(name, i, f"{len(text.encode('utf-8'))} bytes, the limit is {max_bytes}")
    return text


def _batched(
    samples: list[pb.Sample], step: int, split: str, class_names: list[str], task: str
) -> list[pb.SampleBatch]:
    batches: list[list[pb.Sample]] = []
    size = sum(len(name) + 4 for name in class_names)
    room = MAX_PAYLOAD_BYTES - size
    size = 0
    for sample in samples:
        cost = sample.ByteSize() + 8
        full = bool(batches) and len(batches[-1]) >= MAX_SAMPLES_PER_BATCH
        if not batches or full or size + cost > room:
            batches.append([])
            size = 0
        batches[-1].append(sample)
        size += cost
    return [
        pb.SampleBatch(step=step, split=split, samples=batch, class_names=class_names, task=task)
        for batch in batches
    ]
