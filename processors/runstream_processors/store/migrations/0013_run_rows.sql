-- The run rows the dashboards, the CLI and SQL read, over every table that tells about a run:
--
--   runs        every run and its status (rules in 0005), its group, job type and world
--               size; a distributed run (world_size > 1) is finished only when every rank
--               finished, and crashed (failed, killed) as soon as any rank did (run_ranks,
--               0012); single-process runs keep the rules of 0005
--   run_table   a run's row with its params and metrics as maps usable in WHERE/ORDER BY
--               (params_number['lr'] > 0.01, metrics_best['eval.accuracy'] DESC), its
--               steps per second and its warning and critical alerts (run_alerts, 0011)
--   leaderboard run_metrics beside each run's name, status, group and tags

CREATE OR REPLACE VIEW runstream.runs AS
WITH
    finished AS (
        SELECT project, run_id, argMax(status, end_time) AS final_status, max(end_time) AS finished_at
        FROM runstream.runs_finished WHERE rank = 0 GROUP BY project, run_id
    ),
    alive AS (
        SELECT project, run_id, max(last_seen) AS seen_at,
               max(heartbeat_interval_ms) AS interval_ms,
               max(last_log) AS log_at,
               max(log_calls) AS calls
        FROM runstream.liveness GROUP BY project, run_id
    ),
    (SELECT max(last_seen) FROM runstream.liveness) AS pipeline_fresh_at,
    (SELECT max(caught_up_at) FROM runstream.pipeline_progress) AS caught_up_at,
    toInt64(if(a.interval_ms = 0, 10000, a.interval_ms)) AS heartbeat_ms,
    toInt64(3 * heartbeat_ms + 1000) AS timeout_ms,
    greatest(a.log_at, s.start_time) AS log_or_start,
    toInt64(greatest(
        30 * heartbeat_ms,
        if(a.calls = 0, 0, intDiv(10 * dateDiff('millisecond', s.start_time, a.log_at), a.calls))
    )) AS stall_ms
SELECT
    s.project AS project,
    s.run_id AS run_id,
    s.name AS name,
    multiIf(
        rr.run_id != '' AND rr.status != 'running', rr.status,
        rr.run_id != '' AND f.run_id != '', 'running',
        f.run_id != '', f.final_status,
        a.seen_at < now64(6) - toIntervalMillisecond(timeout_ms)
            AND (pipeline_fresh_at >= now64(6) - toIntervalMillisecond(timeout_ms)
                 OR caught_up_at > a.seen_at + toIntervalMillisecond(timeout_ms)),
        'crashed',
        a.seen_at < now64(6) - toIntervalMillisecond(timeout_ms),
        'delayed',
        log_or_start < now64(6) - toIntervalMillisecond(stall_ms),
        'stalled',
        'running'
    ) AS status,
    s.start_time AS start_time,
    if(f.run_id != '', f.finished_at, a.seen_at) AS end_time,
    dateDiff('millisecond', s.start_time, if(f.run_id != '', f.finished_at, a.seen_at)) / 1000.0
        AS duration_s,
    a.seen_at AS last_seen,
    s.tags AS tags,
    s.run_group AS run_group,
    s.job_type AS job_type,
    s.world_size AS world_size,
    s.user AS user,
    s.hostname AS hostname,
    s.git_commit AS git_commit,
    s.git_branch AS git_branch,
    s.git_dirty AS git_dirty,
    s.seed AS seed,
    s.notes AS notes,
    a.log_at AS last_log,
    if(status = 'stalled', dateDiff('millisecond', log_or_start, now64(6)) / 1000.0, 0.0)
        AS stalled_for_s
FROM (SELECT * FROM runstream.runs_started ORDER BY start_time LIMIT 1 BY project, run_id) AS s
LEFT JOIN finished AS f ON f.project = s.project AND f.run_id = s.run_id
LEFT JOIN alive AS a ON a.project = s.project AND a.run_id = s.run_id
LEFT JOIN runstream.run_ranks AS rr ON rr.project = s.project AND rr.run_id = s.run_id;

CREATE OR REPLACE VIEW runstream.run_table AS
WITH
    p AS (
        SELECT
            project,
            run_id,
            CAST(mapFromArrays(
                groupArrayIf(key, value_number IS NOT NULL),
                groupArrayIf(assumeNotNull(value_number), value_number IS NOT NULL)
            ), 'Map(String, Float64)') AS params_number,
            CAST(mapFromArrays(groupArray(key), groupArray(value)), 'Map(String, String)')
                AS params_text
        FROM runstream.run_params
        GROUP BY project, run_id
    ),
    m AS (
        SELECT
            project,
            run_id,
            CAST(mapFromArrays(groupArray(metric), groupArray(last_value)), 'Map(String, Float64)')
                AS metrics_last,
            CAST(mapFromArrays(
                groupArrayIf(metric, best_value IS NOT NULL),
                groupArrayIf(assumeNotNull(best_value), best_value IS NOT NULL)
            ), 'Map(String, Float64)') AS metrics_best
        FROM runstream.run_metrics
        GROUP BY project, run_id
    ),
    al AS (
        SELECT project, run_id, toUInt64(countIf(severity IN ('warning', 'critical'))) AS alerts
        FROM runstream.run_alerts
        GROUP BY project, run_id
    ),
    t AS (
        SELECT
            project,
            run_id,
            if(max(last_time) > min(first_time),
               (max(last_step) - min(first_step))
                   / (dateDiff('microsecond', min(first_time), max(last_time)) / 1e6),
               NULL) AS steps_per_s
        FROM runstream.metric_buckets
        WHERE width = 1024
        GROUP BY project, run_id
    )
SELECT
    r.project AS project,
    r.run_id AS run_id,
    r.* EXCEPT (project, run_id),
    p.params_number AS params_number,
    p.params_text AS params_text,
    m.metrics_last AS metrics_last,
    m.metrics_best AS metrics_best,
    t.steps_per_s AS steps_per_s,
    al.alerts AS alerts
FROM runstream.runs AS r
LEFT JOIN p ON p.project = r.project AND p.run_id = r.run_id
LEFT JOIN m ON m.project = r.project AND m.run_id = r.run_id
LEFT JOIN t ON t.project = r.project AND t.run_id = r.run_id
LEFT JOIN al ON al.project = r.project AND al.run_id = r.run_id;

CREATE OR REPLACE VIEW runstream.leaderboard AS
SELECT
    m.project AS project,
    m.metric AS metric,
    m.run_id AS run_id,
    r.name AS name,
    r.status AS status,
    r.run_group AS run_group,
    r.tags AS tags,
    r.user AS user,
    r.start_time AS start_time,
    m.best_value AS best_value,
    m.step_of_best AS step_of_best,
    m.last_value AS last_value,
    m.last_step AS last_step,
    m.lower_is_better AS lower_is_better
FROM runstream.run_metrics AS m
INNER JOIN runstream.runs AS r ON r.project = m.project AND r.run_id = m.run_id
WHERE m.best_value IS NOT NULL;
