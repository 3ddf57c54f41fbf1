"""``runstream runs``: every run with status, duration, the params that vary, final metrics."""

from __future__ import annotations

import click

from .. import queries
from .context import settings_from
from .output import emit_rows, format_option
from .session import store_for_query
from .tabulate import differing, headline_metrics, metric_matrix, param_matrix


@click.command("runs")
@click.option("--project", "-p", help="only this project")
@click.option("--tag", "-t", help="only runs with this tag")
@click.option(
    "--status",
    "-s",
    type=click.Choice(["running", "finished", "failed", "killed", "crashed", "delayed", "stalled"]),
)
@click.option("--name", help="only runs with this name")
@click.option("--limit", "-n", default=50, show_default=True, type=click.IntRange(1, 100_000))
@format_option
@click.pass_context
def runs_command(
    ctx: click.Context,
    project: str | None,
    tag: str | None,
    status: str | None,
    name: str | None,
    limit: int,
    output_format: str,
) -> None:
    """List runs, newest first, with the params that differ between them and final metrics."""
    with store_for_query(settings_from(ctx), "runstream runs") as client:
        found = queries.list_runs(client, queries.RunFilter(project, tag, status, name, limit))
        ids = [run["run_id"] for run in found]
        params = param_matrix(queries.params(client, ids)) if ids else {}
        metrics = metric_matrix(queries.final_metrics(client, ids)) if ids else {}
    varying = differing(params, ids)[:4] if len(ids) > 1 else []
    shown = headline_metrics(list(metrics))
    rows = []
    for run in found:
        row = {
            "name": run["name"],
            "id": run["run_id"][:8],
            "project": run["project"],
            "status": run["status"],
            "start": run["start_time"],
            "duration_s": round(run["duration_s"] or 0.0, 1),
        }
        row.update({key: params[key].get(run["run_id"]) for key in varying})
        row.update({metric: _last(metrics[metric].get(run["run_id"])) for metric in shown})
        if output_format != "table":
            row.update(
                id=run["run_id"], tags=run["tags"], user=run["user"], commit=run["git_commit"]
            )
        rows.append(row)
    columns = ["name", "id", "project", "status", "start", "duration_s", *varying, *shown]
    if output_format != "table":
        columns += ["tags", "user", "commit"]
    emit_rows(rows, output_format, title=f"{len(rows)} runs", columns=columns)


def _last(row: dict[str, object] | None) -> object:
    return None if row is None else row["last_value"]
