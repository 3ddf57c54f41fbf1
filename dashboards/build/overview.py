"""Project overview: runs table, leaderboard, runs over time, status counts, trouble, alerts."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from . import common as c
from . import filters

UID = "runstream-runs-overview"
RUN_DETAIL = (
    "/d/runstream-run-detail/runstream-run-detail"
    "?var-project=${__data.fields.project}&var-run=${__data.fields.run_id}"
)

RUNS = f"""
WITH {filters.WITH},
    {c.decoded_values("metric")} AS f_metric,
    f_metric[1] AS f_first
SELECT
    r.name AS name,
    r.run_id AS run_id,
    r.status AS status,
    r.project AS project,
    toString(r.user) AS user,
    substring(r.git_commit, 1, 10) AS commit,
    round(r.duration_s) AS duration_s,
    arrayStringConcat(r.tags, ', ') AS tags,
    r.run_group AS run_group,
    arrayStringConcat(arraySlice(arrayMap((k, v) -> concat(k, '=', v),
        mapKeys(r.params_text), mapValues(r.params_text)), 1, 8), '  ') AS params,
    if(mapContains(r.metrics_last, f_first), r.metrics_last[f_first], NULL) AS final,
    if(mapContains(r.metrics_best, f_first), r.metrics_best[f_first], NULL) AS best,
    arrayStringConcat(arrayMap(m -> concat(m, ' ', toString(r.metrics_last[m]),
        ' (best ', toString(r.metrics_best[m]), ')'),
        arrayFilter(m -> mapContains(r.metrics_last, m), f_metric)), ' · ') AS chosen_metrics,
    r.steps_per_s AS steps_per_s,
    r.start_time AS started
FROM runstream.run_table AS r
WHERE {filters.where("r")}
ORDER BY r.start_time DESC
LIMIT 500
"""

LEADERBOARD = f"""
WITH {filters.WITH},
    {c.decoded_values("metric")} AS f_metric,
    {c.text("board_by")} AS f_by
SELECT
    l.metric AS metric,
    arrayJoin(if(f_by = 'tag',
        if(empty(l.tags), ['{c.NONE}'], CAST(l.tags, 'Array(String)')),
        [if(l.run_group = '', '{c.NONE}', l.run_group)])) AS bucket,
    any(l.lower_is_better) AS lower,
    if(lower, argMin(l.name, l.best_value), argMax(l.name, l.best_value)) AS best_run,
    if(lower, argMin(l.run_id, l.best_value), argMax(l.run_id, l.best_value)) AS run_id,
    if(lower, min(l.best_value), max(l.best_value)) AS best,
    any(l.project) AS project,
    count() AS runs
FROM runstream.leaderboard AS l
WHERE l.metric IN f_metric AND {filters.where("l")}
GROUP BY metric, bucket
ORDER BY metric, bucket
"""

OVER_TIME = f"""
WITH {filters.WITH}
SELECT toStartOfDay(r.start_time) AS time, r.status AS status, count() AS runs
FROM runstream.runs AS r
WHERE $__timeFilter(r.start_time) AND {filters.where("r")}
GROUP BY time, status
ORDER BY time, status
"""

BY_STATUS = f"""
WITH {filters.WITH}
SELECT r.status AS status, count() AS runs
FROM runstream.runs AS r
WHERE {filters.where("r")}
GROUP BY status
ORDER BY status
"""

TROUBLE = f"""
WITH {filters.WITH}
SELECT r.name AS name, r.run_id AS run_id, r.project AS project, r.status AS status,
    r.last_seen AS last_seen, r.last_log AS last_log, round(r.stalled_for_s) AS stalled_for_s,
    toString(r.hostname) AS host
FROM runstream.runs AS r
WHERE r.status IN ('crashed', 'stalled', 'delayed') AND {filters.where("r")}
ORDER BY r.last_seen DESC
LIMIT 200
"""

ALERTS = f"""
SELECT a.detected_at AS detected_at, a.project AS project, a.run_id AS run_id, a.rule AS rule,
    a.severity AS severity, a.metric AS metric, a.step AS step, a.value AS value,
    a.message AS message
FROM runstream.run_alerts AS a
WHERE a.project IN {c.values("project")}
ORDER BY a.detected_at DESC
LIMIT 200
"""


def _run_link() -> list[dm.DynamicConfigValue]:
    return [
        dm.DynamicConfigValue(id_val="links", value=[{"title": "Run detail", "url": RUN_DETAIL}])
    ]


def build() -> db.Dashboard:
    return (
        db.Dashboard("runstream · project overview")
        .uid(UID)
        .description(
            "Runs of the chosen projects with their status, params and chosen metrics; the best "
            "run per metric and group or tag; runs over time and by status; crashed and stalled "
            "runs; alerts. Reads the query layer's views (run_table, leaderboard, runs), as the "
            "CLI does. Variables reach SQL only percent-encoded inside a literal."
        )
        .tags(["runstream"])
        .readonly()
        .time("now-30d", "now")
        .refresh("30s")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .variables(
            [
                c.datasource_variable(),
                *filters.variables(),
                c.query_variable(
                    "metric",
                    "Metrics",
                    f"SELECT {c.encoded('metric')}, metric FROM runstream.run_metrics "
                    f"WHERE {filters.IN_PROJECTS} GROUP BY metric ORDER BY count() DESC, metric",
                    multi=True,
                ),
                c.custom_variable("board_by", "Leaderboard by", ["group", "tag"]),
            ]
        )
        .with_panel(
            table.Panel()
            .id(1)
            .title("Runs · ${metric}")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(RUNS))
            .height(11)
            .span(24)
            .override_by_name("status", c.status_colours())
            .override_by_name("name", _run_link())
        )
        .with_panel(
            table.Panel()
            .id(2)
            .title("Leaderboard · best run per metric and ${board_by}")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(LEADERBOARD))
            .height(9)
            .span(12)
        )
        .with_panel(
            table.Panel()
            .id(3)
            .title("Crashed, stalled and delayed runs")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(TROUBLE))
            .height(9)
            .span(12)
            .override_by_name("status", c.status_colours())
            .override_by_name("name", _run_link())
        )
        .with_panel(
            timeseries.Panel()
            .legend(c.legend())
            .tooltip(c.tooltip())
            .id(4)
            .title("Runs started per day")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(OVER_TIME, c.TIME_SERIES))
            .draw_style(cm.GraphDrawStyle.BARS)
            .height(8)
            .span(16)
        )
        .with_panel(
            barchart.Panel()
            .id(5)
            .title("Runs by status")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(BY_STATUS))
            .x_field("status")
            .height(8)
            .span(8)
        )
        .with_panel(
            table.Panel()
            .id(6)
            .title("Alerts")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(ALERTS))
            .height(8)
            .span(24)
        )
    )
