"""Pipeline health: events/s, delivery lag, dead letters by reason, runs gone silent."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from . import common as c

UID = "runstream-pipeline-health"

RATE = """
SELECT time, events / 60 AS events_per_s
FROM runstream.pipeline_rate
WHERE $__timeFilter(time)
ORDER BY time
"""

LAG = """
SELECT time, lag_p50_s, lag_p99_s, lag_max_s
FROM runstream.pipeline_rate
WHERE $__timeFilter(time)
ORDER BY time
"""

DEAD_OVER_TIME = """
SELECT time, concat(toString(source), ' · ', toString(reason)) AS reason, letters
FROM runstream.dead_letter_counts
WHERE $__timeFilter(time)
ORDER BY time, reason
"""

DEAD_BY_REASON = """
SELECT toString(source) AS source, toString(reason) AS reason, count() AS letters,
    max(received_at) AS last, any(detail) AS example
FROM runstream.dead_letters
WHERE $__timeFilter(received_at)
GROUP BY source, reason
ORDER BY letters DESC, source, reason
LIMIT 200
"""

CAUGHT_UP = """
SELECT toString(source) AS source, max(caught_up_at) AS last_caught_up,
    dateDiff('millisecond', last_caught_up, now64(6)) / 1000.0 AS behind_s
FROM runstream.pipeline_progress
GROUP BY source
ORDER BY source
"""

SILENT = f"""
SELECT r.project AS project, r.name AS name, r.run_id AS run_id, r.status AS status,
    r.last_seen AS last_seen, dateDiff('millisecond', r.last_seen, now64(6)) / 1000.0 AS silent_s
FROM runstream.runs AS r
WHERE r.project IN {c.values("project")}
    AND (r.status IN ('crashed', 'delayed', 'stalled')
         OR (r.status = 'running' AND r.last_seen < now64(6) - toIntervalSecond(60)))
ORDER BY r.last_seen
LIMIT 500
"""


def build() -> db.Dashboard:
    return (
        db.Dashboard("runstream · pipeline health")
        .uid(UID)
        .description(
            "Is the pipeline keeping up: events taken in per second and their delivery lag "
            "(pipeline_rate), how far each source is behind (pipeline_progress), dead letters by "
            "reason, and runs whose heartbeat has not arrived lately."
        )
        .tags(["runstream"])
        .readonly()
        .time("now-6h", "now")
        .refresh("30s")
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
            ]
        )
        .with_panel(c.series_panel(1, "Events per second", RATE, 8, 12, "ops"))
        .with_panel(c.series_panel(2, "Delivery lag", LAG, 8, 12, "s"))
        .with_panel(c.series_panel(3, "Dead letters by reason", DEAD_OVER_TIME, 8, 12))
        .with_panel(c.table_panel(4, "Dead letters · totals", DEAD_BY_REASON, 8, 12))
        .with_panel(c.table_panel(5, "Sources · caught up at", CAUGHT_UP, 6, 8))
        .with_panel(
            c.table_panel(6, "Runs without a recent heartbeat", SILENT, 6, 16).override_by_name(
                "status", c.status_colours()
            )
        )
    )
