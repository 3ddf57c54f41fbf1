"""Run detail: one run's summary, params, environment, artifacts, samples, system, throughput,
and its newest offline evaluation (``runstream eval``): slices, confusion matrix, calibration."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import trend
from grafana_foundation_sdk.models import dashboard as dm

from . import common as c

UID = "runstream-run-detail"

WITH = f"{c.text('project')} AS f_project, {c.text('run')} AS f_run"


def _q(sql: str) -> str:
    return f"WITH {WITH}\n{sql.strip()}"


SUMMARY = _q("""
SELECT r.name AS name, r.status AS status, r.run_id AS run_id, toString(r.user) AS user,
    toString(r.hostname) AS host, r.start_time AS started, round(r.duration_s) AS duration_s,
    r.last_seen AS last_seen, arrayStringConcat(r.tags, ', ') AS tags, r.run_group AS run_group,
    r.job_type AS job_type, r.git_commit AS commit, r.git_branch AS branch, r.git_dirty AS dirty,
    r.seed AS seed, r.notes AS notes
FROM runstream.runs AS r
WHERE r.project = f_project AND r.run_id = f_run
""")

PARAMS = _q("""
SELECT key AS param, value, toString(value_type) AS type
FROM runstream.run_params
WHERE project = f_project AND run_id = f_run
ORDER BY param
""")

METRICS = _q("""
SELECT metric, last_step, last_value AS final, best_value AS best, step_of_best AS best_at,
    min_value AS min, max_value AS max, has_nonfinite AS nan_or_inf
FROM runstream.run_metrics
WHERE project = f_project AND run_id = f_run
ORDER BY metric
""")

ENVIRONMENT = _q("""
SELECT item, value FROM (
    SELECT [
        ('python', toString(python_version)), ('executable', python_executable),
        ('sdk', toString(sdk_version)), ('os', toString(os)), ('cpu', toString(cpu_model)),
        ('cpu count', toString(cpu_count)), ('memory', formatReadableSize(memory_total_bytes)),
        ('gpus', concat(toString(gpu_count), ' ', arrayStringConcat(gpu_names, ', '))),
        ('gpu driver', toString(gpu_driver_version)), ('cuda', toString(cuda_version)),
        ('git remote', git_remote), ('git branch', git_branch), ('git commit', git_commit),
        ('git dirty', toString(git_dirty)), ('command', arrayStringConcat(command, ' ')),
        ('working dir', working_dir)
    ] AS items
    FROM runstream.runs_started
    WHERE project = f_project AND run_id = f_run
    ORDER BY start_time LIMIT 1
)
ARRAY JOIN tupleElement(items, 1) AS item, tupleElement(items, 2) AS value
""")

PACKAGES = _q("""
SELECT name AS package, any(version) AS version
FROM runstream.packages
WHERE project = f_project AND run_id = f_run
GROUP BY package
ORDER BY package
""")

ARTIFACTS = _q("""
SELECT name, kind, size_bytes, sha256, uri, time
FROM runstream.artifacts
WHERE project = f_project AND run_id = f_run
ORDER BY time DESC
LIMIT 500
""")

SAMPLES = _q("""
SELECT split, step, sample_id, input, prediction, label, correct, time
FROM runstream.samples
WHERE project = f_project AND run_id = f_run
ORDER BY step DESC, sample_id
LIMIT 200
""")

SYSTEM = _q("""
SELECT toStartOfInterval(s.time, INTERVAL 10 second) AS time,
    concat(toString(s.hostname), ' · ', toString(s.key)) AS series,
    avg(s.value) AS mean
FROM runstream.system AS s
WHERE s.project = f_project AND s.run_id = f_run AND isFinite(s.value)
GROUP BY time, series
ORDER BY time, series
""")

THROUGHPUT = _q("""
SELECT time, steps_per_s
FROM runstream.run_throughput
WHERE project = f_project AND run_id = f_run
ORDER BY time
""")

EVAL_SLICES = _q("""
SELECT split, slice_key AS slice, slice_value AS value, metric, value AS score,
    ci_low, ci_high, count
FROM runstream.evaluation_slices
WHERE project = f_project AND run_id = f_run
ORDER BY split, slice, value, metric
""")

CONFUSION = _q("""
SELECT split, label, prediction, count
FROM runstream.evaluation_confusion_cells
WHERE project = f_project AND run_id = f_run
ORDER BY split, label, prediction
""")

# One split's bins (eval when there is one): the reliability diagram, beside the diagonal
# a perfectly calibrated model would follow.
CALIBRATION = _q("""
SELECT confidence, accuracy, confidence AS perfectly_calibrated
FROM runstream.evaluation_calibration_curve
WHERE project = f_project AND run_id = f_run AND count > 0
    AND split IN (
        SELECT split FROM runstream.evaluation_calibration_curve
        WHERE project = f_project AND run_id = f_run
        ORDER BY split = 'eval' DESC, split LIMIT 1
    )
ORDER BY confidence
""")


def build() -> db.Dashboard:
    return (
        db.Dashboard("runstream · run detail")
        .uid(UID)
        .description(
            "Everything recorded about one run: summary, params, final metrics, environment "
            "(hardware, git, command), packages, artifacts, sample predictions, system stats, "
            "throughput and the newest `runstream eval` (slices with intervals, confusion "
            "matrix, reliability diagram). The whole run is shown whatever the time range."
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
                ),
                c.query_variable(
                    "run",
                    "Run",
                    "SELECT run_id, concat(name, ' · ', substring(run_id, 1, 8)) "
                    f"FROM runstream.runs_started WHERE project = {c.text('project')} "
                    "ORDER BY start_time DESC LIMIT 1 BY run_id LIMIT 1000",
                ),
            ]
        )
        .with_panel(
            c.table_panel(1, "Run", SUMMARY, 5, 24).override_by_name("status", c.status_colours())
        )
        .with_panel(c.table_panel(2, "Params", PARAMS, 10, 8))
        .with_panel(c.table_panel(3, "Metrics", METRICS, 10, 16))
        .with_panel(c.table_panel(4, "Environment", ENVIRONMENT, 10, 12))
        .with_panel(c.table_panel(5, "Packages", PACKAGES, 10, 12))
        .with_panel(c.table_panel(6, "Artifacts", ARTIFACTS, 8, 24))
        .with_panel(c.table_panel(7, "Sample predictions", SAMPLES, 10, 24))
        .with_panel(c.series_panel(8, "System", SYSTEM, 9, 12))
        .with_panel(c.series_panel(9, "Throughput", THROUGHPUT, 9, 12, "steps/s"))
        .with_panel(c.table_panel(10, "Evaluation by slice", EVAL_SLICES, 10, 10))
        .with_panel(
            c.table_panel(
                11, "Confusion matrix (cells by count)", CONFUSION, 10, 7
            ).override_by_name(
                "count",
                [
                    dm.DynamicConfigValue(
                        id_val="custom.cellOptions",
                        value={"type": "color-background", "mode": "gradient"},
                    )
                ],
            )
        )
        .with_panel(
            trend.Panel()
            .legend(c.legend())
            .tooltip(c.tooltip())
            .id(12)
            .title("Reliability diagram")
            .datasource(c.DATASOURCE)
            .with_target(c.SQL(CALIBRATION))
            .x_field("confidence")
            .min(0)
            .max(1)
            .height(10)
            .span(7)
        )
    )
