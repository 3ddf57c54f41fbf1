"""What a report shows, gathered from the store's views through :mod:`..queries`.

The report reads what ``runs``, ``leaderboard`` and the dashboards read, so a number in the
HTML file is the number ``runstream leaderboard`` prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import queries
from ..cli.tabulate import differing, headline_metrics, param_matrix
from ..errors import QueryError

MAX_CURVE_CHARTS = 4


@dataclass(frozen=True)
class Selection:
    """Which runs a report covers: a project, tag or group, and/or runs named one by one."""

    project: str | None = None
    tag: str | None = None
    group: str | None = None
    runs: tuple[str, ...] = ()
    metric: str | None = None
    limit: int = 50

    def describe(self) -> str:
        parts = [
            f"{label} {value}"
            for label, value in (
                ("project", self.project),
                ("tag", self.tag),
                ("group", self.group),
            )
            if value
        ]
        if self.runs:
            parts.append(f"{len(self.runs)} named runs")
        return ", ".join(parts) or "all runs"


@dataclass(frozen=True)
class Run:
    run_id: str
    name: str
    project: str
    status: str
    tags: tuple[str, ...]
    group: str
    start_time: dt.datetime | None
    duration_s: float | None


@dataclass(frozen=True)
class Ranked:
    """One leaderboard row: the run, its best and final value of the report's metric."""

    run_id: str
    best: float
    step_of_best: int | None
    last: float | None
    last_step: int | None


@dataclass(frozen=True)
class Point:
    step: float
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Importance:
    param: str
    score: float
    pearson: float | None
    runs_used: int


@dataclass
class ReportData:
    selection: Selection
    metric: str
    lower_is_better: bool
    runs: list[Run]
    leaderboard: list[Ranked]
    curves: dict[str, dict[str, list[Point]]]
    """metric → run_id → points, in the order the charts are drawn."""
    importance_method: str
    importance: list[Importance]
    differing_params: dict[str, dict[str, str]]
    """param → run_id → value, for the params whose value is not the same in every run."""
    numeric_params: dict[str, dict[str, float]]
    """param → run_id → number, for the differing params that are numbers."""
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def run(self, run_id: str) -> Run:
        return next(run for run in self.runs if run.run_id == run_id)


def gather(client: Any, selection: Selection) -> ReportData:
    """Every section's data for the selected runs; raises QueryError when none match."""
    run_ids = tuple(queries.resolve_run(client, ref)["run_id"] for ref in selection.runs)
    where = queries.RunFilter(
        selection.project,
        selection.tag,
        limit=selection.limit,
        group=selection.group,
        run_ids=run_ids,
    )
    runs = [_run(row) for row in queries.list_runs(client, where)]
    if not runs:
        raise QueryError(f"no runs match ({selection.describe()})")
    ids = [run.run_id for run in runs]
    metrics = queries.final_metrics(client, ids)
    names = sorted({row["metric"] for row in metrics})
    metric = selection.metric or (headline_metrics(names, limit=1) or [""])[0]
    if not metric:
        raise QueryError("the selected runs logged no metrics")
    if metric not in names:
        raise QueryError(f"no selected run logged {metric!r}; they logged: {', '.join(names)}")
    ranked = queries.leaderboard(
        client, metric, queries.RunFilter(limit=len(ids), run_ids=tuple(ids))
    )
    order = {row["run_id"]: rank for rank, row in enumerate(ranked)}
    runs.sort(key=lambda run: order.get(run.run_id, len(order)))  # colors follow the ranks
    charted = _charted(metric, names)
    curves: dict[str, dict[str, list[Point]]] = {name: {} for name in charted}
    for row in queries.curves(client, ids, charted):
        curves[row["metric"]].setdefault(row["run_id"], []).append(
            Point(row["step"], row["value"], row["low"], row["high"])
        )
    method, scored = queries.param_importance(
        client,
        ids,
        metric,
        selection.project,
        selection.group,
        selection.tag,
        stored=not selection.runs,  # runs named one by one: over exactly those
    )
    matrix = param_matrix(queries.params(client, ids))
    varying = {key: matrix[key] for key in differing(matrix, ids)} if len(ids) > 1 else {}
    return ReportData(
        selection=selection,
        metric=metric,
        lower_is_better=bool(ranked[0]["lower_is_better"]) if ranked else False,
        runs=runs,
        leaderboard=[
            Ranked(r["run_id"], r["best_value"], r["step_of_best"], r["last_value"], r["last_step"])
            for r in ranked
        ],
        curves=curves,
        importance_method=method,
        importance=[
            Importance(r["param"], float(r["score"]), r["pearson"], int(r["runs_used"]))
            for r in scored
            if r["score"] is not None
        ],
        differing_params=varying,
        numeric_params=_numeric(varying),
    )


def _run(row: queries.Row) -> Run:
    return Run(
        run_id=row["run_id"],
        name=row["name"],
        project=row["project"],
        status=row["status"],
        tags=tuple(row["tags"]),
        group=row["run_group"],
        start_time=row["start_time"],
        duration_s=row["duration_s"],
    )


def _charted(metric: str, names: Sequence[str]) -> list[str]:
    """The report's metric, the same key in the other splits, then the headline metrics."""
    key = metric.partition(".")[2] or metric
    same_key = [name for name in names if name == key or name.endswith("." + key)]
    rest = [name for name in headline_metrics(names, limit=len(names)) if name not in same_key]
    ordered = [metric, *(name for name in same_key if name != metric), *rest]
    return ordered[:MAX_CURVE_CHARTS]


def _numeric(varying: dict[str, dict[str, str]]) -> dict[str, dict[str, float]]:
    """The params every value of which reads as a finite number."""
    numeric: dict[str, dict[str, float]] = {}
    for key, values in varying.items():
        try:
            numbers = {run_id: float(value) for run_id, value in values.items()}
        except ValueError:
            continue
        if all(abs(number) != float("inf") and number == number for number in numbers.values()):
            numeric[key] = numbers
    return numeric
