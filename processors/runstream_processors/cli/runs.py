"""``runstream runs``: every run with status, tags, duration, the params that vary, final metrics.

``--columns`` chooses the columns after name and id: metric names (their last value),
``params.KEY``, and the built-ins of :data:`BUILTIN`. ``--sort`` orders by any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .. import queries
from .context import settings_from
from .output import emit_rows, format_option
from .session import store_for_query
from .tabulate import differing, headline_metrics, metric_matrix, param_matrix

Row = dict[str, Any]

BUILTIN: dict[str, Callable[[Row], object]] = {
    "name": lambda run: run["name"],
    "id": lambda run: run["run_id"],
    "project": lambda run: run["project"],
    "status": lambda run: run["status"],
    "tags": lambda run: run["tags"],
    "start": lambda run: run["start_time"],
    "duration_s": lambda run: round(run["duration_s"] or 0.0, 1),
    "user": lambda run: run["user"],
    "commit": lambda run: run["git_commit"],
}
"""The columns every run has, by the name ``--columns`` and ``--sort`` take."""

PARAM_PREFIX = "params."
_MAX_SORTED = 100_000


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
    "--columns",
    "-c",
    callback=_column_list,
    help="comma list of columns after name and id: metric names (last value), params.KEY, "
    f"or {', '.join(BUILTIN)} [default: project, status, tags, start, duration_s, "
    "up to 4 params that differ, up to 4 metrics]",
)
@click.option(
    "--sort",
    "sort",
    callback=_sort_key,
    metavar="COLUMN[:asc|desc]",
    help="order by a metric, params.KEY or built-in column (desc unless :asc; "
    "runs without a value last) [default: newest first]",
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
    columns: list[str] | None,
    sort: tuple[str, bool] | None,
    limit: int,
    output_format: str,
) -> None:
    """List runs, newest first, with tags, the params that differ between them and final
    metrics; choose columns with --columns and order with --sort."""
    fetch = _MAX_SORTED if sort else limit
    with store_for_query(settings_from(ctx), "runstream runs") as client:
        found = queries.list_runs(
            client, queries.RunFilter(project, tag, status, name, fetch, group=group)
        )
        ids = [run["run_id"] for run in found]
        params = param_matrix(queries.params(client, ids)) if ids else {}
        metrics = metric_matrix(queries.final_metrics(client, ids)) if ids else {}

    def value(run: Row, column: str) -> object:
        if column in BUILTIN:
            return BUILTIN[column](run)
        if column.startswith(PARAM_PREFIX):
            return params.get(column[len(PARAM_PREFIX) :], {}).get(run["run_id"])
        return _last(metrics.get(column, {}).get(run["run_id"]))

    for column in [*(columns or []), *([sort[0]] if sort else [])]:
        if found and not _known(column, params, metrics):
            raise click.BadParameter(
                f"{column!r} is no built-in column, params.KEY or metric of these runs "
                f"(metrics: {', '.join(sorted(metrics)) or 'none'})",
                param_hint="--columns/--sort",
            )
    if sort:
        found = _sorted(found, lambda run: value(run, sort[0]), descending=sort[1])[:limit]

    if columns is None:
        varying = differing(params, ids)[:4] if len(ids) > 1 else []
        shown = headline_metrics(list(metrics))
        chosen = ["project", "status", "tags", "start", "duration_s"]
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


def _known(column: str, params: dict[str, Any], metrics: dict[str, Any]) -> bool:
    if column in BUILTIN or column in metrics:
        return True
    return column.startswith(PARAM_PREFIX) and column[len(PARAM_PREFIX) :] in params


def _sorted(found: list[Row], key: Callable[[Row], object], descending: bool) -> list[Row]:
    """Runs by ``key``: numbers (and numeric text) as numbers, before text; missing last."""

    def rank(run: Row) -> tuple[int, Any]:
        value = key(run)
        if value is None or value == "":
            return (2, 0)
        if isinstance(value, bool):
            return (0, float(value))
        if isinstance(value, int | float):
            return (0, float(value))
        if isinstance(value, str):
            try:
                return (0, float(value))
            except ValueError:
                return (1, value)
        if isinstance(value, list | tuple):
            return (1, ",".join(map(str, value)))
        return (0, value)  # datetimes

    present = [run for run in found if rank(run)[0] != 2]
    missing = [run for run in found if rank(run)[0] == 2]
    numbers = sorted((r for r in present if rank(r)[0] == 0), key=rank, reverse=descending)
    texts = sorted((r for r in present if rank(r)[0] == 1), key=rank, reverse=descending)
    return [*numbers, *texts, *missing]


def _last(row: dict[str, object] | None) -> object:
    return None if row is None else row["last_value"]
