"""System: CPU and GPU utilization, memory, power and temperature per run and host over time."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import dashboard as dm

from . import common as c

UID = "runstream-system"

WITH = f"""
    {c.values("project")} AS f_project,
    {c.values("run")} AS f_runs,
    {c.values("host")} AS f_hosts"""

FAMILIES = [  # title, unit, key pattern (re2, matched against the stored key)
    ("CPU utilization", "percent", r"^(cpu\\.percent|process\\.cpu_percent)$"),
    ("GPU utilization", "percent", r"^gpu\\.[0-9]+\\.utilization_percent$"),
    ("Memory", "bytes", r"(memory|rss).*bytes$"),
    ("Power", "watt", r"power_watts$"),
    ("Temperature", "celsius", r"temperature_c$"),
]


def series(pattern: str) -> str:
    return f"""
WITH {WITH}
SELECT toStartOfMinute(s.time) AS time,
    concat(n.name, ' · ', toString(s.hostname), ' · ', toString(s.key)) AS series,
    avg(s.value) AS value
FROM runstream.system AS s
INNER JOIN (SELECT run_id, any(name) AS name FROM runstream.runs_started
            WHERE project IN f_project AND run_id IN f_runs GROUP BY run_id) AS n
    ON n.run_id = s.run_id
WHERE $__timeFilter(s.time) AND s.project IN f_project AND s.run_id IN f_runs
    AND toString(s.hostname) IN f_hosts AND match(toString(s.key), '{pattern}')
    AND isFinite(s.value)
GROUP BY time, series
ORDER BY time, series
"""


SUMMARY = f"""
WITH {WITH}
SELECT n.name AS run, s.run_id AS run_id, toString(s.hostname) AS host, toString(s.key) AS key,
    s.mean AS mean, s.max AS max, s.last AS last, s.first_time AS first, s.last_time AS last_time,
    s.samples AS samples
FROM runstream.run_system AS s
INNER JOIN (SELECT run_id, any(name) AS name FROM runstream.runs_started
            WHERE project IN f_project AND run_id IN f_runs GROUP BY run_id) AS n
    ON n.run_id = s.run_id
WHERE s.project IN f_project AND s.run_id IN f_runs AND toString(s.hostname) IN f_hosts
ORDER BY run, host, key
LIMIT 2000
"""


def build() -> db.Dashboard:
    in_projects = f"project IN {c.values('project')}"
    dashboard = (
        db.Dashboard("runstream · system")
        .uid(UID)
        .description(
            "What the SDK sampled on each host of each run (psutil, NVML): one line per run, "
            "host and sensor, averaged per minute within the dashboard's time range."
        )
        .tags(["runstream"])
        .readonly()
        .time("now-24h", "now")
        .refresh("30s")
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
                    "run",
                    "Runs",
                    "SELECT run_id, concat(name, ' · ', substring(run_id, 1, 8)) "
                    f"FROM runstream.runs_started WHERE {in_projects} "
                    "ORDER BY start_time DESC LIMIT 1 BY run_id LIMIT 200",
                    multi=True,
                    include_all=True,
                ),
                c.query_variable(
                    "host",
                    "Host",
                    "SELECT DISTINCT toString(hostname) AS h FROM runstream.run_system "
                    f"WHERE {in_projects} ORDER BY h",
                    multi=True,
                    include_all=True,
                ),
            ]
        )
    )
    for index, (title, unit, pattern) in enumerate(FAMILIES):
        dashboard = dashboard.with_panel(
            timeseries.Panel()
            .legend(c.legend())
            .tooltip(c.tooltip())
            .id(index + 1)
            .title(title)
            .unit(unit)
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(series(pattern), c.TIME_SERIES))
            .height(8)
            .span(12)
        )
    return dashboard.with_panel(
        table.Panel()
        .id(len(FAMILIES) + 1)
        .title("Per run, host and sensor")
        .datasource(c.DATASOURCE)
        .with_target(c.SQL(SUMMARY))
        .height(10)
        .span(24)
    )
