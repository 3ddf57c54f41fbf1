"""Validate what ``log`` receives without slowing the common case down.

The hot path (``float``/``int`` values under keys seen before) does two type
checks per value; everything else takes :func:`coerce_metric`, which converts
numpy scalars and 0-d tensors or says exactly what is wrong.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping

from .errors import InvalidInputError, InvalidKeyError, InvalidValueError
from .limits import key_problem

MIN_STEP, MAX_STEP = -(2**63), 2**63 - 2
_MAX_FLOAT = 1.7976931348623157e308


def checked_step(step: object) -> int:
    """``step`` as an int64 (numpy integers welcome), or InvalidInputError saying why not."""
    try:
        value = operator.index(step)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidInputError(
            f"step must be an integer, got {type(step).__name__} {step!r}"
        ) from None
    if not MIN_STEP <= value <= MAX_STEP:
        raise InvalidInputError(f"step {value} is outside the 64-bit integer range")
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
            raise InvalidValueError(
                f"metric {key!r}: a {digits}-digit integer is too large for a float64"
            )
        return float(value)
    item = getattr(value, "item", None)  # numpy scalars, 0-d numpy arrays and torch tensors
    if callable(item) and getattr(value, "ndim", 0) == 0 and getattr(value, "size", 1) in (1, None):
        scalar = item()
        if isinstance(scalar, int | float) and not isinstance(scalar, complex):
            return coerce_metric(key, scalar)
    shape = getattr(value, "shape", None)
    detail = f" with shape {tuple(shape)}" if shape is not None else ""
    raise InvalidValueError(
        f"metric {key!r}: expected a number, got {type(value).__name__}{detail} ({value!r:.60})"
    )


def split_metrics(
    metrics: Mapping[str, object], known_keys: set[str]
) -> tuple[dict[str, float], list[str]]:
    """The recordable part of ``metrics`` and a problem description per rejected key."""
    clean: dict[str, float] = {}
    problems: list[str] = []
    for key, value in metrics.items():
        if key not in known_keys:
            problem = key_problem(key)
            if problem:
                problems.append(f"metric key {key!r}: {problem}")
                continue
            known_keys.add(key)
        try:
            clean[key] = coerce_metric(key, value)
        except InvalidValueError as exc:
            problems.append(str(exc))
    return clean, problems


def raise_problems(problems: list[str]) -> None:
    """One error that lists every problem of a call (key errors first)."""
    if not problems:
        return
    message = problems[0] if len(problems) == 1 else "; ".join(problems)
    if any(problem.startswith("metric key") for problem in problems):
        raise InvalidKeyError(message)
    raise InvalidValueError(message)
