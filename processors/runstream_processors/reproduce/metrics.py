"""How far a reproduction's metrics are from the original's, point by point."""

from __future__ import annotations

import math
import re
import struct
from collections import defaultdict
from typing import Any

Row = dict[str, Any]

MEASURED = re.compile(r"(_per_s|/cuda/[a-z_]+_bytes)$")
"""Metrics that measure the machine, not the training: throughput (``watch/steps_per_s``,
``samples_per_s``, ``tokens_per_s``) and CUDA memory. A faithful rerun differs in them;
they are compared and shown, never counted against the reproduction."""


def is_measured(metric: str) -> bool:
    return bool(MEASURED.search(metric))


def _series(points: list[Row]) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for point in points:
        name = f"{point['split']}.{point['key']}" if point["split"] else point["key"]
        series[name].append((int(point["step"]), float(point["value"])))
    return series


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def compare(original: list[Row], reproduced: list[Row]) -> list[Row]:
    """Per metric: points on each side, the largest absolute difference at a shared step, and
    whether every point is bit-identical (same steps, same float64 bits; NaN equals NaN), and
    whether it is a measurement of the machine (:data:`MEASURED`) rather than of training."""
    a, b = _series(original), _series(reproduced)
    found = []
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name, []), b.get(name, [])
        largest = 0.0
        for (step_a, value_a), (step_b, value_b) in zip(left, right, strict=False):
            if step_a != step_b:
                largest = math.inf
                break
            if math.isfinite(value_a) and math.isfinite(value_b):
                largest = max(largest, abs(value_a - value_b))
            elif _bits(value_a) != _bits(value_b) and not (
                math.isnan(value_a) and math.isnan(value_b)
            ):
                largest = math.inf
        identical = len(left) == len(right) and all(
            step_a == step_b
            and (_bits(value_a) == _bits(value_b) or (math.isnan(value_a) and math.isnan(value_b)))
            for (step_a, value_a), (step_b, value_b) in zip(left, right, strict=True)
        )
        found.append(
            {
                "metric": name,
                "points_original": len(left),
                "points_reproduced": len(right),
                "largest_difference": largest if left and right else None,
                "identical": identical,
                "measured": is_measured(name),
            }
        )
    return found
