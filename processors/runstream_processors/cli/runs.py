"""``runstream runs``: every run with status, tags, duration, the params that vary, final metrics.

``--columns`` chooses the columns after name and id: metric names (their last value),
``params.KEY``, and the built-ins of :data:`BUILTIN`. ``--sort`` orders by any of them and
``--where`` filters on them (names as in :mod:`runstream_processors.run_columns`), both in
SQL over ``runstream.run_table``, the view dashboards read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .. import queries, run_columns
from .context import settings_from
from .output import emit_rows, format_option
from .session import store_for_query
from .sql import read_only
from .tabulate import (
    differing,
    evaluation_matrix,
    headline_metrics,
    metric_matrix,
    param_matrix,
)

Row = dict[str, Any]

BUILTIN: dict[str, Callable[[Row], object]] = {
    "name": lambda run: run["name"],
    "id": lambda run: run["run_id"],
    "project": lambda run: run["project"],
    "status": lambda run: run["status"],
    "alerts": lambda run: run["alerts"] or 0,
    "tags": lambda run: run["tags"],
    "start": lambda run: run["start_time"],
    "duration_s": lambda run: round(run["duration_s"] or 0.0, 1),
    "user": lambda run: run["user"],
    "commit": lambda run: run["git_commit"],
    "group": lambda run: run["run_group"],
    "job_type": lambda run: run["job_type"],
    "steps_per_s": lambda run: None if run["steps_per_s"] is None else round(run["steps_per_s"]),
}
"""The columns every run has, by the name ``--columns`` and ``--sort`` take."""

PARAM_PREFIX = "params."


def _column_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("name at least one column")
    return list(dict.fromkeys(names))


def _sort_key(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    column, _, direction = value.rpartition(":") if ":" in value else (value, "", "desc")
    direction = direction.lower()
    if direction not in ("asc", "desc") or not column:
        raise click.BadParameter(f"{value!r}: expected COLUMN, COLUMN:asc or COLUMN:desc")
    return column, direction == "desc"


@click.command("runs")
@click.option("--project", "-p", help="only this project")
@click.option("--tag", "-t", help="only runs with this tag")
@click.option("--group", "-g", help="only runs of this group (a sweep: its trials and itself)")
@click.option(
    "--status",
    "-s",
    type=click.Choice(
        ["running", "finished", "failed", "killed", "pruned", "crashed", "delayed", "stalled"]
    ),
)
@click.option("--name", help="only runs with this name")
@click.option(
    "--where",
    "-w",
    metavar="EXPR",
    help="SQL condition over params.KEY, metrics.METRIC (final), best.METRIC and the run "
    "columns, e.g. \"params.lr > 0.01 AND status = 'finished'\"",
)
@click.option(
    "--columns",
    "-c",
    callback=_column_list,
    help="comma list of columns after name and id: metric names (last value), params.KEY, "
    "evaluation.SPLIT.METRIC (of `runstream eval`), "
    f"or {', '.join(BUILTIN)} [default: project, status, alerts, tags, start, duration_s, "
    "up to 4 params that differ, up to 4 metrics]",
)
@click.option(
    "--sort",
    "sort",
    callback=_sort_key,
    metavar="COLUMN[:asc|desc]",
    help="order by a metric, params.KEY or built-in column (desc unless :asc; "
    "runs without a value last; best.METRIC orders by its best value) [default: newest first]",
)
@click.option("--limit", "-n", default=50, show_default=True, type=click.IntRange(1, 100_000))
@format_option
@click.pass_context
def runs_command(
    ctx: click.Context,
    project: str | None,
    tag: str | None,
    group: str | None,
    status: str | None,
    name: str | None,
    where: str | None,
    columns: list[str] | None,
    sort: tuple[str, bool] | None,
    limit: int,
    output_format: str,
) -> None:
    """List runs, newest first, with tags, the params that differ between them and final
    metrics; choose columns with --columns and order with --sort."""
    with store_for_query(settings_from(ctx), "runstream runs") as client:
        if where:
            read_only(client)  # the condition is the user's SQL: it may read, never write
        metric_names = {row["metric"] for row in queries.rows(client, _METRIC_NAMES)}
        param_keys = {row["key"] for row in queries.rows(client, _PARAM_KEYS)}
        shown_only = [c for c in columns or [] if c.startswith(EVALUATION_PREFIX)]
        for column in [*(columns or []), *([sort[0]] if sort else [])]:
            if column not in shown_only and not _known(column, metric_names, param_keys):
                raise click.BadParameter(
                    f"{column!r} is no built-in column, params.KEY, best.METRIC or metric "
                    f"(metrics: {', '.join(sorted(metric_names)) or 'none'})",
                    param_hint="--columns/--sort",
                )
        found = queries.list_runs(
            client,
            queries.RunFilter(
                project,
                tag,
                status,
                name,
                limit,
                group=group,
                where=where,
                order_by=run_columns.sort_sql(sort[0], metric_names) if sort else (),
                descending=sort[1] if sort else True,
            ),
        )
        ids = [run["run_id"] for run in found]
        params = param_matrix(queries.params(client, ids)) if ids else {}
        metrics = metric_matrix(queries.final_metrics(client, ids)) if ids else {}
        evaluated = evaluation_matrix(queries.evaluation_metrics(client, ids)) if ids else {}

    def value(run: Row, column: str) -> object:
        if column in BUILTIN:
            return BUILTIN[column](run)
        if column.startswith(PARAM_PREFIX):
            return params.get(column[len(PARAM_PREFIX) :], {}).get(run["run_id"])
        if column.startswith(BEST_PREFIX):
            return _best(metrics.get(column[len(BEST_PREFIX) :], {}).get(run["run_id"]))
        return _last((metrics.get(column) or evaluated.get(column, {})).get(run["run_id"]))

    if columns is None:
        varying = differing(params, ids)[:4] if len(ids) > 1 else []
        shown = headline_metrics(list(metrics))
        chosen = ["project", "status", "alerts", "tags", "start", "duration_s"]
        sources = [*chosen, *(PARAM_PREFIX + key for key in varying), *shown]
        names = [*chosen, *varying, *shown]
        if output_format != "table":
            sources += ["user", "commit"]
            names += ["user", "commit"]
    else:
        sources = [column for column in columns if column not in ("name", "id")]
        names = list(sources)
    rows = []
    for run in found:
        row: Row = {"name": run["name"], "id": run["run_id"][:8]}
        row.update(
            {shown_as: value(run, source) for shown_as, source in zip(names, sources, strict=True)}
        )
        if output_format != "table":
            row["id"] = run["run_id"]
        rows.append(row)
    emit_rows(rows, output_format, title=f"{len(rows)} runs", columns=["name", "id", *names])


_METRIC_NAMES = "SELECT DISTINCT metric FROM runstream.run_metrics"
_PARAM_KEYS = "SELECT DISTINCT key FROM runstream.run_params"
BEST_PREFIX = "best."
EVALUATION_PREFIX = "evaluation."
"""Columns of ``runstream eval`` results: shown with --columns, not sortable (not in run_table)."""


def _known(column: str, metrics: set[str], params: set[str]) -> bool:
    if column in BUILTIN or column in metrics:
        return True
    if column.startswith(PARAM_PREFIX):
        return column[len(PARAM_PREFIX) :] in params
    return column.startswith(BEST_PREFIX) and column[len(BEST_PREFIX) :] in metrics


def _last(row: dict[str, object] | None) -> object:
    return None if row is None else row["last_value"]


def _best(row: dict[str, object] | None) -> object:
    return None if row is None else row["best_value"]
