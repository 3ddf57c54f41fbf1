"""``runstream leaderboard METRIC``: runs ranked by a metric, from the ``leaderboard`` view.

Best means lowest for losses and errors and highest otherwise (the view's
``lower_is_better``), so the CLI, the dashboards' leaderboard panel and SQL rank alike.
"""

from __future__ import annotations

import click

from .. import queries
from .context import settings_from
from .output import emit_rows, format_option
from .session import store_for_query


@click.command("leaderboard")
@click.argument("metric")
@click.option("--project", "-p", help="only this project")
@click.option("--tag", "-t", help="only runs with this tag")
@click.option("--group", "-g", help="only runs of this group")
@click.option(
    "--status",
    "-s",
    default="finished",
    show_default=True,
    help="only runs in this state ('' for all)",
)
@click.option("--final", is_flag=True, help="rank by the final value instead of the best")
@click.option(
    "--per",
    type=click.Choice(["group", "tag"]),
    help="the best run of each group (or tag) instead of every run",
)
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(1, 100_000))
@format_option
@click.pass_context
def leaderboard_command(
    ctx: click.Context,
    metric: str,
    project: str | None,
    tag: str | None,
    group: str | None,
    status: str,
    final: bool,
    per: str | None,
    limit: int,
    output_format: str,
) -> None:
    """Runs ranked by METRIC (e.g. eval.accuracy), best first."""
    where = queries.RunFilter(
        project, tag, status or None, limit=limit if per is None else 100_000, group=group
    )
    with store_for_query(settings_from(ctx), "runstream leaderboard") as client:
        ranked = queries.leaderboard(client, metric, where, best=not final)
    if per is not None:
        ranked = _best_per(ranked, per)[:limit]
    rows = [
        {
            "rank": rank,
            "name": run["name"],
            "id": run["run_id"] if output_format != "table" else run["run_id"][:8],
            **({"group": run["run_group"]} if per != "tag" else {"tag": run["tag"]}),
            "status": run["status"],
            "best": run["best_value"],
            "at step": run["step_of_best"],
            "final": run["last_value"],
        }
        for rank, run in enumerate(ranked, start=1)
    ]
    direction = "lowest" if ranked and ranked[0]["lower_is_better"] else "highest"
    which = "final" if final else "best"
    emit_rows(rows, output_format, title=f"{metric}: {which} value, {direction} first")


def _best_per(ranked: list[queries.Row], per: str) -> list[queries.Row]:
    """The first (best) run of each group or tag, in rank order; runs without one skipped."""
    seen: set[str] = set()
    best = []
    for run in ranked:
        for label in [run["run_group"]] if per == "group" else run["tags"]:
            if label and label not in seen:
                seen.add(label)
                best.append({**run, "tag": label})
    return best
