"""Parameter importance from the store and back: read a sweep, compute, write the rows.

A sweep is a project's runs (by default only the finished ones), optionally those of one
group (``runs_started.run_group``) or tag. Params come from ``runstream.params`` (the
SDK's own ``runstream.*`` counters left out), metrics from ``runstream.run_metrics``:
``final`` is a run's last value, ``best`` its max or min by the metric's goal. Results go
to ``runstream.param_importance``; dashboards read ``runstream.param_importance_latest``.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import queries
from ..errors import QueryError
from .importance import ImportanceInputs, ImportanceOptions, ParamImportance, Value

WHICH = ("final", "best")
GOALS = ("auto", "max", "min")
_LOWER_IS_BETTER = re.compile(r"(?i)(loss|err|error|mse|mae|rmse|perplexity|ppl|wer|cer|latency)")
INTERNAL_PREFIX = "runstream."
COLUMNS = (
    "project",
    "run_group",
    "tag",
    "metric",
    "which",
    "goal",
    "param",
    "kind",
    "pearson",
    "spearman",
    "eta",
    "rf_importance",
    "permutation_importance",
    "ci_low",
    "ci_high",
    "log_scale",
    "runs_used",
    "runs_total",
    "computed_at",
)


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better (loss, error, perplexity, latency...).

    The one place this rule lives for importance's ``best``.
    """
    return bool(_LOWER_IS_BETTER.search(metric))


@dataclass(frozen=True)
class SweepFilter:
    """Which runs of a project enter the computation ('' = no filter)."""

    project: str
    group: str = ""
    tag: str = ""
    all_statuses: bool = False


@dataclass(frozen=True)
class Sweep:
    """A project's runs with their params and (last, max, min) per metric."""

    where: SweepFilter
    run_ids: list[str]
    params: dict[str, list[Value]]
    metrics: dict[str, dict[str, tuple[float | None, float | None, float | None]]]


def goal_of(metric: str, goal: str = "auto") -> str:
    """``max`` or ``min``: the goal given, or by the metric's name for ``auto``."""
    if goal not in GOALS:
        raise QueryError(f"goal must be one of {', '.join(GOALS)}, not {goal!r}")
    if goal != "auto":
        return goal
    return "min" if lower_is_better(metric) else "max"


def load_sweep(client: Any, where: SweepFilter, metric: str | None = None) -> Sweep:
    """The sweep's runs (oldest first), params and metrics (only ``metric`` when given)."""
    conditions = ["project = {project:String}"]
    parameters: dict[str, Any] = {"project": where.project}
    if not where.all_statuses:
        conditions.append("status = 'finished'")
    if where.tag:
        conditions.append("has(tags, {tag:String})")
        parameters["tag"] = where.tag
    if where.group:
        conditions.append(
            "run_id IN (SELECT run_id FROM runstream.runs_started "
            "WHERE project = {project:String} AND run_group = {group:String})"
        )
        parameters["group"] = where.group
    runs = queries.rows(
        client,
        f"SELECT run_id FROM runstream.runs WHERE {' AND '.join(conditions)} "
        "ORDER BY start_time, run_id",
        parameters,
    )
    run_ids = [row["run_id"] for row in runs]
    ids = {"project": where.project, "ids": run_ids}
    metric_rows = queries.rows(
        client,
        "SELECT run_id, metric, last_value, max_value, min_value FROM runstream.run_metrics "
        "WHERE project = {project:String} AND run_id IN {ids:Array(String)}"
        + (" AND metric = {metric:String}" if metric else ""),
        {**ids, "metric": metric} if metric else ids,
    )
    metrics: dict[str, dict[str, tuple[float | None, float | None, float | None]]] = {}
    for row in metric_rows:
        metrics.setdefault(row["metric"], {})[row["run_id"]] = (
            row["last_value"],
            row["max_value"],
            row["min_value"],
        )
    param_rows = queries.rows(
        client,
        "SELECT run_id, key, toString(value_type) AS type, value_number, value_text "
        "FROM runstream.params WHERE project = {project:String} "
        "AND run_id IN {ids:Array(String)} AND NOT startsWith(key, {internal:String}) "
        "ORDER BY project, run_id, key, event_id LIMIT 1 BY project, run_id, key",
        {**ids, "internal": INTERNAL_PREFIX},
    )
    return Sweep(where, run_ids, _param_columns(run_ids, param_rows), metrics)


def _param_columns(run_ids: Sequence[str], rows: Sequence[queries.Row]) -> dict[str, list[Value]]:
    """One value per run and key: numbers as floats (bools 0/1); a key that is text in any
    run is text (categorical) in every run; None where a run lacks the key."""
    position = {run_id: index for index, run_id in enumerate(run_ids)}
    text_keys = {row["key"] for row in rows if row["type"] == "text"}
    columns: dict[str, list[Value]] = {}
    for row in rows:
        column = columns.setdefault(row["key"], [None] * len(run_ids))
        text = row["key"] in text_keys
        column[position[row["run_id"]]] = row["value_text"] if text else row["value_number"]
    return columns


def inputs_for(
    sweep: Sweep, metric: str, which: str = "final", goal: str = "auto"
) -> ImportanceInputs:
    """The sweep's matrix and ``metric``'s final or best value per run (NaN: not logged)."""
    if which not in WHICH:
        raise QueryError(f"which must be one of {', '.join(WHICH)}, not {which!r}")
    by_run = sweep.metrics.get(metric, {})
    column = 0 if which == "final" else (1 if goal_of(metric, goal) == "max" else 2)
    kept = [index for index, run_id in enumerate(sweep.run_ids) if run_id in by_run]
    values = []
    for index in kept:
        value = by_run[sweep.run_ids[index]][column]
        values.append(float("nan") if value is None else float(value))
    # Runs that never logged the metric (a sweep's own run, an eval job) say nothing about
    # it, and neither do params that only they have.
    params = {
        key: [column_values[index] for index in kept]
        for key, column_values in sweep.params.items()
        if any(column_values[index] is not None for index in kept)
    }
    return ImportanceInputs([sweep.run_ids[index] for index in kept], params, values)


def compute_and_store(
    client: Any,
    sweep: Sweep,
    metric: str,
    which: str = "final",
    goal: str = "auto",
    options: ImportanceOptions | None = None,
) -> list[ParamImportance]:
    """Compute ``metric``'s importance over ``sweep`` and write it; raises QueryError when
    fewer than 3 runs have the metric."""
    results, runs_total = compute(sweep, metric, which, goal, options)
    write_results(client, sweep.where, metric, which, goal, results, runs_total)
    return results


def compute(
    sweep: Sweep,
    metric: str,
    which: str = "final",
    goal: str = "auto",
    options: ImportanceOptions | None = None,
) -> tuple[list[ParamImportance], int]:
    """``metric``'s importance over ``sweep`` and how many runs had the metric."""
    from .importance import compute_importance

    inputs = inputs_for(sweep, metric, which, goal)
    runs_total = sum(value == value for value in inputs.metric)  # not NaN
    return compute_importance(inputs, options), runs_total


def write_results(
    client: Any,
    where: SweepFilter,
    metric: str,
    which: str,
    goal: str,
    results: Sequence[ParamImportance],
    runs_total: int,
    computed_at: datetime.datetime | None = None,
) -> None:
    """Insert one computation's rows, all with the same ``computed_at`` (the newest wins);
    raises QueryError when the store refuses them (a read-only account)."""
    if not results:
        return
    at = computed_at or datetime.datetime.now(datetime.UTC)
    resolved = goal_of(metric, goal) if which == "best" else ""
    rows = [
        [
            where.project,
            where.group,
            where.tag,
            metric,
            which,
            resolved,
            result.param,
            result.kind,
            *(
                _number(value)
                for value in (
                    result.pearson,
                    result.spearman,
                    result.eta,
                    result.rf_importance,
                    result.permutation_importance,
                    result.ci_low,
                    result.ci_high,
                )
            ),
            result.log_scale,
            result.runs_used,
            runs_total,
            at,
        ]
        for result in results
    ]
    try:
        client.insert("runstream.param_importance", rows, column_names=list(COLUMNS))
    except Exception as exc:
        reason = str(exc).split("DB::Exception: ", 1)[-1].split("\n", 1)[0]
        raise QueryError(f"parameter importance not stored: {reason}") from exc


def _number(value: float | None) -> float | None:
    """NULL, not NaN, where a statistic is undefined: dashboards and SQL skip NULLs."""
    return None if value is None or not math.isfinite(value) else value


def projects_with(client: Any, metric: str) -> list[str]:
    """Projects where some run logged ``metric``."""
    found = queries.rows(
        client,
        "SELECT DISTINCT project FROM runstream.run_metrics WHERE metric = {metric:String} "
        "ORDER BY project",
        {"metric": metric},
    )
    return [row["project"] for row in found]


def as_row(result: ParamImportance) -> Mapping[str, Any]:
    """A result as the CLI prints it."""
    return {
        "param": result.param,
        "kind": result.kind,
        "permutation_importance": result.permutation_importance,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "rf_importance": result.rf_importance,
        "pearson": result.pearson,
        "spearman": result.spearman,
        "eta": result.eta,
        "log_scale": result.log_scale,
        "runs_used": result.runs_used,
    }
