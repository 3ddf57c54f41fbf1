"""``runstream compare RUN RUN...``: what differs between runs and how their metrics ended up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .. import queries
from ..errors import QueryError
from .context import settings_from
from .output import emit_document, errors, format_option
from .plot import Curve, plot_curves
from .session import store_for_query
from .tabulate import differing, metric_matrix, param_matrix


@click.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option("--all-params", is_flag=True, help="show every param, not only those that differ")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="draw the --metric curves of every run (train and eval) into this PNG",
)
@click.option(
    "--metric", help="metric key for --plot, e.g. loss or accuracy (default: first eval metric)"
)
@format_option
@click.pass_context
def compare_command(
    ctx: click.Context,
    runs: tuple[str, ...],
    all_params: bool,
    plot_path: Path | None,
    metric: str | None,
    output_format: str,
) -> None:
    """Params that differ and final/best metrics of RUNS side by side (ids, prefixes or names)."""
    with store_for_query(settings_from(ctx), "runstream compare") as client:
        found = [queries.resolve_run(client, run) for run in runs]
        ids = [run["run_id"] for run in found]
        labels = _labels(found)
        params = param_matrix(queries.params(client, ids))
        metrics = metric_matrix(queries.final_metrics(client, ids))
        evaluated = queries.evaluation_metrics(client, ids)
        curves = (
            _curves(client, found, labels, metric or _default_metric(metrics)) if plot_path else []
        )
    keys = sorted(params) if all_params else differing(params, ids)
    document: dict[str, Any] = {
        "runs": [
            {"label": labels[run["run_id"]], "id": run["run_id"], "project": run["project"]}
            for run in found
        ],
        "params" if all_params else "params that differ": [
            {"param": key, **{labels[i]: params[key].get(i) for i in ids}} for key in keys
        ],
        "metrics": [
            row
            for name in sorted(metrics)
            for row in _metric_rows(name, metrics[name], ids, labels)
        ],
    }
    if evaluated:
        document["evaluation (lift = run - baseline)"] = _evaluation_rows(evaluated, ids, labels)
    emit_document(document, output_format)
    if plot_path:
        plot_curves(plot_path, metric or _default_metric(metrics), curves)
        errors.print(f"wrote {plot_path}")


def _labels(found: list[dict[str, Any]]) -> dict[str, str]:
    """Run names, with an id prefix where two compared runs share a name."""
    names = [run["name"] for run in found]
    return {
        run["run_id"]: run["name"]
        if names.count(run["name"]) == 1
        else f"{run['name']} ({run['run_id'][:6]})"
        for run in found
    }


def _metric_rows(
    name: str, by_run: dict[str, dict[str, Any]], ids: list[str], labels: dict[str, str]
) -> list[dict[str, Any]]:
    lower = any(row["lower_is_better"] for row in by_run.values())  # the view's rule
    final: dict[str, Any] = {"metric": name, "stat": "final"}
    top: dict[str, Any] = {"metric": name, "stat": f"best ({'min' if lower else 'max'})"}
    for run_id in ids:
        row = by_run.get(run_id)
        final[labels[run_id]] = None if row is None else row["last_value"]
        top[labels[run_id]] = (
            None
            if row is None or row["best_value"] is None
            else f"{row['best_value']:.6g} @ {row['step_of_best']}"
        )
    return [final, top]


def _evaluation_rows(
    numbers: list[dict[str, Any]], ids: list[str], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """Per split and metric of the runs' newest evaluations: each run's value and its lift
    over each of its baselines (random, majority, a chosen run)."""
    values: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for row in numbers:
        by_run = values.setdefault((row["split"], row["metric"]), {})
        by_run.setdefault(row["run_id"], {})[row["baseline"]] = row["value"]
    rows = []
    for (split, metric), by_run in sorted(values.items()):
        line: dict[str, Any] = {"split": split, "metric": metric}
        for run_id in ids:
            found = by_run.get(run_id, {})
            line[labels[run_id]] = found.get("")
            for baseline in sorted(b for b in found if b):
                named = baseline if not baseline.startswith("run:") else baseline[:12]
                own = found.get("")
                line[f"{labels[run_id]} Δ {named}"] = None if own is None else own - found[baseline]
        rows.append(line)
    return rows


def _default_metric(metrics: dict[str, Any]) -> str:
    keys = sorted({name.split(".", 1)[1] if "." in name else name for name in metrics})
    evaluated = [
        name.split(".", 1)[1] for name in sorted(metrics) if name.startswith(("eval.", "val"))
    ]
    if not keys:
        raise QueryError("the compared runs logged no metrics")
    return evaluated[0] if evaluated else keys[0]


def _curves(
    client: Any, found: list[dict[str, Any]], labels: dict[str, str], metric: str
) -> list[Curve]:
    splits = queries.rows(
        client,
        "SELECT DISTINCT split FROM runstream.metric_latest WHERE run_id IN {ids:Array(String)} "
        "AND key = {key:String} ORDER BY split DESC",
        {"ids": [run["run_id"] for run in found], "key": metric},
    )
    if not splits:
        raise QueryError(f"no run among those compared logged a metric named {metric!r}")
    return [
        (
            labels[run["run_id"]],
            row["split"],
            queries.curve(client, run["run_id"], metric, row["split"]),
        )
        for run in found
        for row in splits
    ]
