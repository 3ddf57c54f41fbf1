"""``runstream report``: one HTML file about a set of runs, to open anywhere, offline.

For a team or a laptop without Grafana: the leaderboard, the curves overlaid, which params
matter, parallel coordinates and the params that differ, from the same views as the CLI.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from .context import settings_from
from .output import errors
from .session import store_for_query


@click.command("report")
@click.argument("runs", nargs=-1)
@click.option("--project", "-p", help="only this project")
@click.option("--tag", "-t", help="only runs with this tag")
@click.option("--group", "-g", help="only runs of this group")
@click.option("--metric", "-m", help="rank and chart by this metric [default: an eval metric]")
@click.option("--limit", "-n", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--out",
    "-o",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.pass_context
def report_command(
    ctx: click.Context,
    runs: tuple[str, ...],
    project: str | None,
    tag: str | None,
    group: str | None,
    metric: str | None,
    limit: int,
    out: Path,
) -> None:
    """Write a self-contained HTML report of RUNS (ids, prefixes or names) or of a
    project, tag or group: the newest --limit runs that match."""
    from ..report.data import Selection, gather
    from ..report.render import render

    selection = Selection(project, tag, group, runs, metric, limit)
    with store_for_query(settings_from(ctx), "runstream report") as client:
        report = gather(client, selection)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report), encoding="utf-8")
    errors.print(
        escape(f"wrote {out} ({len(report.runs)} runs, ranked by {report.metric})"),
        highlight=False,
    )
