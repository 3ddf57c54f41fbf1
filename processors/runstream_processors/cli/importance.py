"""``runstream importance GROUP``: which params of a sweep (any group) move its objective."""

from __future__ import annotations

from collections import defaultdict

import click

from .. import queries
from ..importance import importances
from .context import settings_from
from .output import emit_rows, format_option
from .session import store_for_query


@click.command("importance")
@click.argument("group")
@click.option(
    "--objective",
    "-o",
    help="metric (split.key, its final value) or summary key [default: the sweep's objective]",
)
@format_option
@click.pass_context
def importance_command(
    ctx: click.Context, group: str, objective: str | None, output_format: str
) -> None:
    """Rank the params of GROUP's runs by how strongly they go with the objective:
    |Spearman rho| for numbers (rho keeps the sign), eta for text and flags."""
    with store_for_query(settings_from(ctx), "runstream importance") as client:
        if objective is None:
            objective = queries.sweep_settings(client, group).get("sweep.objective")
            if not objective:
                raise click.UsageError(
                    f"group {group!r} has no sweep record (runstream.sweep) naming its "
                    "objective: pass --objective"
                )
        trials = queries.group_trials(client, group, objective)
        values = {row["run_id"]: float(row["objective"]) for row in trials}
        found = queries.params(client, list(values)) if values else []
    params: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for row in found:
        params[row["key"]][row["run_id"]] = (row["type"], row["value"])
    rows = [
        {
            "param": item.param,
            "importance": round(item.score, 4),
            "rho": None if item.correlation is None else round(item.correlation, 4),
            "kind": item.kind,
            "runs": item.runs,
        }
        for item in importances(values, params)
    ]
    emit_rows(
        rows,
        output_format,
        title=f"{group}: params by importance for {objective} ({len(values)} runs)",
        columns=["param", "importance", "rho", "kind", "runs"],
    )
