"""Run comparison: 1-20 runs (default the top 5 by the chosen metric) overlaid, train and eval.

The curve SQL returns one row per (series, x); partitionByValues and joinByField make that one
frame joined on x, the only shape Grafana's trend panel draws (x = step or seconds since start).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table, trend
from grafana_foundation_sdk.models import dashboard as dm

from . import common as c

UID = "runstream-run-comparison"
TOP = 5

COMMON = f"""
    {c.values("project")} AS f_project,
    {c.text("metric")} AS f_metric,
    {c.values("run")} AS f_runs"""

# The first option stands for the top runs: its value is their ids joined by commas, which
# the panels split like any multi-value selection; Grafana selects the first option by default.
RUN_OPTIONS = f"""
WITH {c.values("project")} AS f_project, {c.text("metric")} AS f_metric
SELECT value, label FROM (
    SELECT arrayStringConcat(groupArray(run_id), ',') AS value,
        concat('top {TOP} by ', f_metric) AS label, 0 AS rank
    FROM (
        SELECT run_id FROM runstream.run_metrics
        WHERE project IN f_project AND metric = f_metric AND best_value IS NOT NULL
        ORDER BY if(lower_is_better, best_value, -best_value), run_id
        LIMIT {TOP}
    )
    UNION ALL
    SELECT m.run_id, concat(n.name, ' · ', substring(m.run_id, 1, 8)),
        row_number() OVER (ORDER BY if(m.lower_is_better, m.best_value, -m.best_value), m.run_id)
    FROM runstream.run_metrics AS m
    INNER JOIN (SELECT run_id, any(name) AS name FROM runstream.runs_started
                WHERE project IN f_project GROUP BY run_id) AS n ON n.run_id = m.run_id
    WHERE m.project IN f_project AND m.metric = f_metric
)
ORDER BY rank
LIMIT 1001
"""

CURVES = f"""
WITH {COMMON},
    {c.text("x")} AS f_x,
    toUInt32OrZero({c.text("smoothing")}) AS f_window,
    (SELECT any(key) FROM runstream.run_metrics
     WHERE project IN f_project AND run_id IN f_runs AND metric = f_metric) AS f_key
SELECT
    series,
    tupleElement(pts[i], 2) AS x,
    arrayAvg(arraySlice(vs, greatest(1, toInt64(i) - f_window),
        least(toInt64(i), f_window + 1))) AS value,
    tupleElement(pts[i], 4) AS min,
    tupleElement(pts[i], 5) AS max
FROM (
    SELECT
        concat(n.name, ' · ', substring(k.run_id, 1, 8),
            if(k.split = '', '', concat(' · ', k.split))) AS series,
        arraySort(groupArray((k.step,
            if(f_x = 'step', toFloat64(k.step),
               dateDiff('millisecond', n.start_time, k.time) / 1000.0),
            k.value, k.value_min, k.value_max))) AS pts,
        arrayMap(p -> tupleElement(p, 3), pts) AS vs
    FROM runstream.metric_curve AS k
    INNER JOIN (SELECT run_id, any(name) AS name, min(start_time) AS start_time
                FROM runstream.runs_started WHERE project IN f_project AND run_id IN f_runs
                GROUP BY run_id) AS n ON n.run_id = k.run_id
    WHERE k.project IN f_project AND k.run_id IN f_runs AND k.key = f_key AND isFinite(k.value)
    GROUP BY series
)
ARRAY JOIN arrayEnumerate(pts) AS i
ORDER BY series, x
"""

PARAMS_DIFFER = f"""
WITH {COMMON}
SELECT p.key AS param, n.name AS run, p.run_id AS run_id, p.value AS value
FROM runstream.run_params AS p
INNER JOIN (SELECT run_id, any(name) AS name FROM runstream.runs_started
            WHERE project IN f_project AND run_id IN f_runs GROUP BY run_id) AS n
    ON n.run_id = p.run_id
WHERE p.project IN f_project AND p.run_id IN f_runs AND p.key IN (
    SELECT key FROM runstream.run_params WHERE project IN f_project AND run_id IN f_runs
    GROUP BY key
    HAVING uniqExact(value) > 1 OR count() < (SELECT uniqExact(run_id) FROM runstream.runs_started
                                              WHERE project IN f_project AND run_id IN f_runs)
)
ORDER BY param, run
"""

FINAL = f"""
WITH {COMMON}
SELECT m.metric AS metric, n.name AS run, m.run_id AS run_id, m.last_step AS last_step,
    m.last_value AS final, m.best_value AS best, m.step_of_best AS best_at,
    m.has_nonfinite AS nan_or_inf
FROM runstream.run_metrics AS m
INNER JOIN (SELECT run_id, any(name) AS name FROM runstream.runs_started
            WHERE project IN f_project AND run_id IN f_runs GROUP BY run_id) AS n
    ON n.run_id = m.run_id
WHERE m.project IN f_project AND m.run_id IN f_runs
ORDER BY metric, run
"""


def build() -> db.Dashboard:
    band = [
        dm.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [4, 4]}),
        dm.DynamicConfigValue(id_val="custom.lineWidth", value=1),
        dm.DynamicConfigValue(
            id_val="custom.hideFrom", value={"legend": True, "tooltip": False, "viz": False}
        ),
    ]
    return (
        db.Dashboard("runstream · run comparison")
        .uid(UID)
        .description(
            "Up to 20 runs overlaid for one metric (every split of its key: train and eval), by "
            "step or seconds since start, smoothed over a window of points, with each bucket's "
            "min and max dashed; params that differ; final and best metrics side by side."
        )
        .tags(["runstream"])
        .readonly()
        .time("now-30d", "now")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .variables(
            [
                c.datasource_variable(),
                c.query_variable(
                    "project",
                    "Project",
                    c.PROJECTS,
                    multi=True,
                    include_all=True,
                ),
                c.query_variable(
                    "metric",
                    "Metric",
                    "SELECT metric FROM runstream.run_metrics "
                    f"WHERE project IN {c.values('project')} "
                    f"GROUP BY metric ORDER BY count() DESC, metric",
                ),
                c.query_variable("run", "Runs", RUN_OPTIONS, multi=True),
                c.custom_variable("x", "x", ["step", "seconds"]),
                c.custom_variable("smoothing", "Smoothing (points)", ["0", "5", "20", "50"]),
            ]
        )
        .with_panel(
            trend.Panel()
            .legend(c.legend())
            .tooltip(c.tooltip())
            .id(1)
            .title("${metric} and its other splits · x = ${x}")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(CURVES))
            .transformations(c.ONE_FRAME_BY_X)
            .x_field("x")
            .span_nulls(True)
            .override_by_regexp("/^(min|max)\\b/", band)
            .height(12)
            .span(24)
        )
        .with_panel(
            table.Panel()
            .id(2)
            .title("Params that differ")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(PARAMS_DIFFER))
            .height(9)
            .span(10)
        )
        .with_panel(
            table.Panel()
            .id(3)
            .title("Final and best metrics")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(FINAL))
            .height(9)
            .span(14)
        )
    )
