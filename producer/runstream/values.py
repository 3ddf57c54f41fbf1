"""Validate what ``log`` receives without slowing the common case down.

The hot path (``float``/``int`` values under keys seen before) does two type
checks per value; everything else takes :func:`coerce_metric`, which converts
numpy scalars, one-element arrays and tensors or says exactly what is wrong.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping

from .errors import InvalidInputError, InvalidKeyError, InvalidValueError
from .limits import key_problem

MIN_STEP, MAX_STEP = 0, 2**63 - 2
_MAX_FLOAT = 1.7976931348623157e308


def checked_step(step: object) -> int:
    """``step`` as a non-negative int64 (numpy integers welcome), or InvalidInputError."""
    if isinstance(step, bool):
        raise InvalidInputError.of("step", "must be a non-negative integer, got bool", f" {step}")
    try:
        value = operator.index(step)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidInputError.of(
            "step",
            f"must be a non-negative integer, got {type(step).__name__}",
            f" {step!r:.60}",
        ) from None
    if value < 0:
        raise InvalidInputError.of("step", "must be a non-negative integer", f", got {value}")
    if value > MAX_STEP:
        raise InvalidInputError.of("step", "is outside the 64-bit integer range", f": {value}")
    return value


def split_problem(split: object) -> InvalidInputError | None:
    """Why ``split`` cannot name a split (``"train"``, ``"eval"``; ``""`` is the default)."""
    if split == "" and type(split) is str:
        return None
    if not isinstance(split, str):
        return InvalidInputError.of(
            "split",
            f"must be a string like 'train' or 'eval', got {type(split).__name__}",
            f" {split!r:.60}",
        )
    problem = key_problem(split)
    if problem:
        return InvalidInputError.of(f"split {split!r:.80}", problem)
    return None


def _as_number(value: object) -> object:
    """The Python scalar inside a numpy scalar, a one-element array or tensor; else ``value``.

    Duck-typed (``item()`` and ``numel()`` or ``size``) so that neither numpy nor torch is
    imported; only reached after the float fast path failed.
    """
    item = getattr(value, "item", None)
    if not callable(item):
        return value
    numel = getattr(value, "numel", None)  # torch: size is a method, numel() the count
    try:
        count = numel() if callable(numel) else getattr(value, "size", 1)
        if count != 1:
            return value
        return item()
    except Exception:  # a foreign object's item() may raise anything: then it is no number
        return value


def coerce_metric(key: str, value: object) -> float:
    """A float for ``value``, or InvalidValueError naming the key and the type."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_FLOAT:
            digits = len(str(abs(value)))
            raise InvalidValueError.of(
                f"metric {key!r}", f"a {digits}-digit integer is too large for a float64"
            )
        return float(value)
    scalar = _as_number(value)
    if scalar is not value and isinstance(scalar, int | float):
        return coerce_metric(key, scalar)
    shape = getattr(value, "shape", None)
    try:
        detail = f" with shape {tuple(shape)}" if shape is not None else ""
    except TypeError:
        detail = ""
    raise InvalidValueError.of(
        f"metric {key!r}",
        f"expected a number, got {type(value).__name__}{detail}",
        f" ({value!r:.60})",
    )


def split_metrics(
    metrics: Mapping[str, object], known_keys: set[str]
) -> tuple[dict[str, float], list[InvalidInputError]]:
    """The recordable part of ``metrics`` and an error per rejected key."""
    clean: dict[str, float] = {}
    problems: list[InvalidInputError] = []
    for key, value in metrics.items():
        if key not in known_keys:
            problem = key_problem(key)
            if problem:
                problems.append(InvalidKeyError.of(f"metric key {key!r:.80}", problem))
                continue
            known_keys.add(key)
        try:
            clean[key] = coerce_metric(key, value)
        except InvalidValueError as exc:
            problems.append(exc)
    return clean, problems


def raise_problems(problems: list[InvalidInputError]) -> None:
    """One error that lists every problem of a call (key errors first)."""
    if not problems:
        return
    if len(problems) == 1:
        raise problems[0]
    message = "; ".join(map(str, problems))
    if any(isinstance(problem, InvalidKeyError) for problem in problems):
        raise InvalidKeyError(message)
    raise InvalidValueError(message)
