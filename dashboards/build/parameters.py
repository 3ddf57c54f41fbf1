"""Parameters: importance and correlation with a metric, parallel coordinates, scatter.

Parallel coordinates are drawn with core panels: a trend panel whose x is the axis (one per
numeric param, the metric last), y the value scaled to [0, 1] on its axis, one line per run,
joined into one frame like the comparison's curves; the table beside it names each axis and
its range. No maintained Grafana 12 panel plugin draws them without custom JavaScript.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, table, trend, xychart
from grafana_foundation_sdk.builders import dashboard as db

from . import common as c

UID = "runstream-parameters"
AXES = 8
RUNS = 200

WITH = f"""
    {c.values("project")} AS f_project,
    {c.text("metric")} AS f_metric,
    {c.text("which")} AS f_which,
    {c.values("group")} AS f_group"""

# one row per run: the metric's final or best value, runs of the chosen groups only
METRIC = f"""
        SELECT project, run_id, if(f_which = 'best', best_value, last_value) AS y,
            lower_is_better AS lower
        FROM runstream.run_metrics
        WHERE project IN f_project AND metric = f_metric AND isFinite(y)
            AND (project, run_id) IN (
                SELECT project, run_id FROM runstream.runs_started
                WHERE project IN f_project
                    AND if(run_group = '', '{c.NONE}', run_group) IN f_group)"""

IMPORTANCE = f"""
WITH {WITH}
SELECT i.param AS param, i.pearson AS pearson, i.spearman AS spearman,
    i.rf_importance AS rf_importance, i.permutation_importance AS permutation_importance,
    i.ci_low AS ci_low, i.ci_high AS ci_high, i.runs_used AS runs_used,
    i.run_group AS run_group, i.tag AS tag, i.computed_at AS computed_at
FROM runstream.param_importance_latest AS i
WHERE i.project IN f_project AND i.metric = f_metric AND i.which = f_which
ORDER BY i.permutation_importance DESC, i.param
LIMIT 200
"""

CORRELATION = f"""
WITH {WITH}
SELECT toString(p.key) AS param,
    corr(assumeNotNull(p.value_number), m.y) AS pearson,
    rankCorr(assumeNotNull(p.value_number), m.y) AS spearman,
    count() AS runs
FROM runstream.run_params AS p
INNER JOIN ({METRIC}
) AS m ON m.project = p.project AND m.run_id = p.run_id
WHERE p.project IN f_project AND p.value_number IS NOT NULL
    AND isFinite(assumeNotNull(p.value_number))
GROUP BY param
HAVING runs >= 3
ORDER BY abs(spearman) DESC, param
LIMIT 50
"""

_AXES = f"""
    axes AS (
        SELECT key, toUInt32(row_number() OVER (ORDER BY key) - 1) AS axis FROM (
            SELECT p.key AS key FROM runstream.run_params AS p
            INNER JOIN ({METRIC}
            ) AS m ON m.project = p.project AND m.run_id = p.run_id
            WHERE p.project IN f_project AND p.value_number IS NOT NULL
            GROUP BY key ORDER BY count() DESC, key LIMIT {AXES})
    ),
    best AS (
        SELECT project, run_id, y FROM ({METRIC}
        ) ORDER BY if(lower, y, -y), run_id LIMIT {RUNS}
    ),
    points AS (
        SELECT project, run_id, axis, v,
            min(v) OVER (PARTITION BY axis) AS lo, max(v) OVER (PARTITION BY axis) AS hi
        FROM (
            SELECT p.project AS project, p.run_id AS run_id, a.axis AS axis,
                assumeNotNull(p.value_number) AS v
            FROM runstream.run_params AS p INNER JOIN axes AS a ON a.key = p.key
            WHERE p.project IN f_project
                AND (p.project, p.run_id) IN (SELECT project, run_id FROM best)
                AND isFinite(assumeNotNull(p.value_number))
            UNION ALL
            SELECT project, run_id, (SELECT toUInt32(count()) FROM axes), y FROM best
        )
    )"""

PARALLEL = f"""
WITH {WITH},
{_AXES}
SELECT concat(n.name, ' · ', substring(pt.run_id, 1, 8)) AS series, toFloat64(pt.axis) AS x,
    if(pt.hi > pt.lo, (pt.v - pt.lo) / (pt.hi - pt.lo), 0.5) AS value
FROM points AS pt
INNER JOIN (SELECT run_id, any(name) AS name FROM runstream.runs_started WHERE project IN f_project
            GROUP BY run_id) AS n ON n.run_id = pt.run_id
ORDER BY series, x
"""

AXIS_TABLE = f"""
WITH {WITH},
{_AXES}
SELECT pt.axis AS axis, if(pt.axis < (SELECT count() FROM axes), any(a.key), f_metric) AS name,
    min(pt.v) AS min, max(pt.v) AS max, count() AS runs
FROM points AS pt LEFT JOIN axes AS a ON a.axis = pt.axis
GROUP BY pt.axis
ORDER BY axis
"""

SCATTER = f"""
WITH {WITH}, {c.text("param")} AS f_param
SELECT assumeNotNull(p.value_number) AS param_value, m.y AS metric_value
FROM runstream.run_params AS p
INNER JOIN ({METRIC}
) AS m ON m.project = p.project AND m.run_id = p.run_id
WHERE p.project IN f_project AND p.key = f_param AND p.value_number IS NOT NULL
ORDER BY param_value
LIMIT 5000
"""


def build() -> db.Dashboard:
    in_projects = f"project IN {c.values('project')}"
    return (
        db.Dashboard("runstream · parameters")
        .uid(UID)
        .description(
            "How each param goes with a metric: stored importance (permutation, random forest, "
            "with confidence intervals), live Pearson and Spearman correlation, parallel "
            "coordinates of the best runs, and one param against the metric."
        )
        .tags(["runstream"])
        .readonly()
        .time("now-30d", "now")
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
                    f"SELECT metric FROM runstream.run_metrics WHERE {in_projects} "
                    f"GROUP BY metric ORDER BY count() DESC, metric",
                ),
                c.custom_variable("which", "Value", ["final", "best"]),
                c.query_variable(
                    "group",
                    "Group",
                    f"SELECT DISTINCT if(run_group = '', '{c.NONE}', run_group) AS g "
                    f"FROM runstream.runs_started WHERE {in_projects} ORDER BY g",
                    multi=True,
                    include_all=True,
                ),
                c.query_variable(
                    "param",
                    "Param (scatter)",
                    f"SELECT DISTINCT toString(key) AS k FROM runstream.run_params "
                    f"WHERE {in_projects} AND value_number IS NOT NULL ORDER BY k",
                ),
            ]
        )
        .with_panel(
            table.Panel()
            .id(1)
            .title("Importance for ${which} ${metric}")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(IMPORTANCE))
            .height(9)
            .span(12)
        )
        .with_panel(
            barchart.Panel()
            .id(2)
            .title("Correlation with ${which} ${metric}")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(CORRELATION))
            .x_field("param")
            .height(9)
            .span(12)
        )
        .with_panel(
            trend.Panel()
            .legend(c.legend())
            .tooltip(c.tooltip())
            .id(3)
            .title("Parallel coordinates · best runs by ${which} ${metric}")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(PARALLEL))
            .transformations(c.ONE_FRAME_BY_X)
            .x_field("x")
            .min(0)
            .max(1)
            .height(11)
            .span(18)
        )
        .with_panel(
            table.Panel()
            .id(4)
            .title("Axes")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(AXIS_TABLE))
            .height(11)
            .span(6)
        )
        .with_panel(
            xychart.Panel()
            .id(5)
            .title("${param} against ${which} ${metric}")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(SCATTER))
            .height(10)
            .span(24)
        )
    )
