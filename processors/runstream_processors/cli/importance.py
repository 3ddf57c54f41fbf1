"""``runstream importance METRIC``: which params drive a metric across a project's runs.

Computed fresh from the store (see ``analysis/importance.py`` for the statistics) and
stored in ``runstream.param_importance``, so the dashboards show what was printed.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import click
from rich.markup import escape
from runstream.errors import MissingExtraError

from ..analysis.importance_store import (
    GOALS,
    WHICH,
    SweepFilter,
    as_row,
    compute,
    goal_of,
    load_sweep,
    projects_with,
    write_results,
)
from ..errors import QueryError
from .context import settings_from
from .output import emit_rows, errors, format_option
from .session import store_for_query


@click.command("importance")
@click.argument("metric")
@click.option("--project", "-p", help="only this project [default: every project with METRIC]")
@click.option("--tag", "-t", default="", help="only runs with this tag")
@click.option("--group", "-g", default="", help="only runs of this group (init(group=...))")
@click.option(
    "--which",
    type=click.Choice(WHICH),
    default="final",
    show_default=True,
    help="each run's final (last) or best value of METRIC",
)
@click.option(
    "--goal",
    type=click.Choice(GOALS),
    default="auto",
    show_default=True,
    help="what best means; auto: min for loss/error-like names, else max",
)
@click.option("--all-statuses", is_flag=True, help="include runs that did not finish")
@format_option
@click.pass_context
def importance_command(
    ctx: click.Context,
    metric: str,
    project: str | None,
    tag: str,
    group: str,
    which: str,
    goal: str,
    all_statuses: bool,
    output_format: str,
) -> None:
    """Params ranked by how much METRIC (eval.accuracy, loss, ...) depends on them.

    Pearson and Spearman correlation (eta for text params), random-forest importance and
    permutation importance with a 95% bootstrap interval (an interval around 0: no
    evidence the param matters). Only finished runs unless --all-statuses.
    """
    if importlib.util.find_spec("sklearn") is None:
        raise MissingExtraError("scikit-learn", "analysis")
    rows: list[dict[str, Any]] = []
    with store_for_query(settings_from(ctx), "runstream importance") as client:
        projects = [project] if project else projects_with(client, metric)
        if not projects:
            raise QueryError(f"no run logged a metric named {metric!r}")
        problems = []
        for name in projects:
            sweep = load_sweep(client, SweepFilter(name, group, tag, all_statuses), metric)
            try:
                results, runs_total = compute(sweep, metric, which, goal)
            except QueryError as exc:
                problems.append(f"{name}: {exc}")
                continue
            rows.extend({"project": name, **as_row(result)} for result in results)
            try:
                write_results(client, sweep.where, metric, which, goal, results, runs_total)
            except QueryError as exc:  # e.g. a read-only account: the answer still counts
                errors.print(f"[yellow]runstream: {escape(str(exc))}[/]")
        if not rows:
            raise QueryError("; ".join(problems))
    best = f"best ({goal_of(metric, goal)})" if which == "best" else "final"
    if output_format != "table":
        extra = {"metric": metric, "which": which, "goal": goal_of(metric, goal)}
        emit_rows([{**row, **extra} for row in rows], output_format)
        return
    emit_rows(
        [_table_row(row, len(projects) > 1) for row in rows],
        output_format,
        title=f"importance for {best} {metric}",
    )


def _table_row(row: dict[str, Any], with_project: bool) -> dict[str, Any]:
    """Compact columns for people: the interval in one cell, eta where pearson is empty."""
    interval = (
        f"[{_short(row['ci_low'])}, {_short(row['ci_high'])}]" if row["ci_low"] is not None else ""
    )
    table = {"project": row["project"]} if with_project else {}
    param = f"{row['param']} (log)" if row["log_scale"] else row["param"]
    return {
        **table,
        "param": param,
        "kind": row["kind"],
        "permutation": _short(row["permutation_importance"]),
        "95% CI": interval,
        "forest": _short(row["rf_importance"]),
        "pearson": _short(row["pearson"]) if row["eta"] is None else f"eta {_short(row['eta'])}",
        "spearman": _short(row["spearman"]),
        "runs": row["runs_used"],
    }


def _short(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"
