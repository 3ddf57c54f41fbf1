"""The report as one HTML file: the template filled with the data and its charts."""

from __future__ import annotations

from typing import Any

from .charts import bar_chart, color, fmt, line_chart, parallel_coordinates
from .data import ReportData

MAX_PARALLEL_PARAMS = 8
MAX_IMPORTANCE_BARS = 15


def render(report: ReportData) -> str:
    """The report's HTML; every string from the store is escaped by the template engine."""
    import jinja2  # the report's own dependency: not imported by the rest of the CLI

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("runstream_processors.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = fmt
    return environment.get_template("report.html.j2").render(**context(report))


def context(report: ReportData) -> dict[str, Any]:
    """What the template draws: runs with their colors, and every chart's geometry."""
    colors = {run.run_id: color(index) for index, run in enumerate(report.runs)}
    ranked = {row.run_id: row for row in report.leaderboard}
    best = {run_id: row.best for run_id, row in ranked.items()}
    axes: dict[str, dict[str, str | float]] = {
        key: dict(report.numeric_params.get(key) or report.differing_params[key])
        for key in list(report.differing_params)[:MAX_PARALLEL_PARAMS]
    }
    parallel = (
        parallel_coordinates({**axes, report.metric: dict(best)}, colors) if axes and best else None
    )
    return {
        "report": report,
        "colors": colors,
        "names": {run.run_id: run.name for run in report.runs},
        "curves": [line_chart(metric, curves, colors) for metric, curves in report.curves.items()],
        "parallel": parallel,
        "importance": bar_chart(
            [(row.param, row.score) for row in report.importance[:MAX_IMPORTANCE_BARS]]
        )
        if report.importance
        else None,
        "unranked": [run for run in report.runs if run.run_id not in ranked],
    }
