"""Pivot params and metrics of several runs into side-by-side rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

Row = dict[str, Any]


def param_matrix(params: Sequence[Row]) -> dict[str, dict[str, str]]:
    """``{key: {run_id: value}}``."""
    matrix: dict[str, dict[str, str]] = defaultdict(dict)
    for param in params:
        matrix[param["key"]][param["run_id"]] = param["value"]
    return dict(matrix)


def differing(matrix: dict[str, dict[str, str]], run_ids: Sequence[str]) -> list[str]:
    """Keys whose value is not the same in every run (missing counts as different)."""
    return [
        key for key, values in matrix.items() if len({values.get(run_id) for run_id in run_ids}) > 1
    ]


def metric_matrix(metrics: Sequence[Row]) -> dict[str, dict[str, Row]]:
    """``{metric: {run_id: row}}``."""
    matrix: dict[str, dict[str, Row]] = defaultdict(dict)
    for metric in metrics:
        matrix[metric["metric"]][metric["run_id"]] = metric
    return dict(matrix)


def evaluation_matrix(numbers: Sequence[Row]) -> dict[str, dict[str, Row]]:
    """``{evaluation.SPLIT.METRIC: {run_id: {"last_value": value}}}`` of the runs' newest
    evaluations (their own numbers, not their baselines'), shaped like metric_matrix."""
    matrix: dict[str, dict[str, Row]] = defaultdict(dict)
    for row in numbers:
        if not row["baseline"]:
            name = f"evaluation.{row['split']}.{row['metric']}"
            matrix[name][row["run_id"]] = {"last_value": row["value"]}
    return dict(matrix)


def headline_metrics(names: Sequence[str], limit: int = 4) -> list[str]:
    """The metrics worth a column: eval/validation first, then the rest, learning rates last."""

    def rank(name: str) -> tuple[int, str]:
        lowered = name.lower()
        if lowered.startswith(("eval", "val", "test")):
            return 0, name
        if "lr" in lowered.split(".") or "learning_rate" in lowered:
            return 2, name
        return 1, name

    return sorted(names, key=rank)[:limit]
