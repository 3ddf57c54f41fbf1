-- What the CLI, dashboards and ad hoc SQL read, so all three agree.

-- Latest and best value per run, key and split. Every aggregate here is
-- idempotent (argMax, max, min), so replayed inserts cannot change it.
CREATE TABLE IF NOT EXISTS runstream.metric_latest
(
    project LowCardinality(String),
    run_id String,
    key LowCardinality(String),
    split LowCardinality(String),
    last_step SimpleAggregateFunction(max, Int64),
    last_value AggregateFunction(argMax, Float64, Tuple(Int64, DateTime64(6, 'UTC'))),
    max_value SimpleAggregateFunction(max, Nullable(Float64)),
    min_value SimpleAggregateFunction(min, Nullable(Float64)),
    step_of_max AggregateFunction(argMax, Int64, Nullable(Float64)),
    step_of_min AggregateFunction(argMin, Int64, Nullable(Float64)),
    nonfinite_seen SimpleAggregateFunction(max, UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY (project, run_id, key, split);

CREATE MATERIALIZED VIEW IF NOT EXISTS runstream.metric_latest_mv TO runstream.metric_latest AS
SELECT
    project,
    run_id,
    key,
    split,
    max(step) AS last_step,
    argMaxState(value, (step, time)) AS last_value,
    max(if(isFinite(value), value, NULL)) AS max_value,
    min(if(isFinite(value), value, NULL)) AS min_value,
    argMaxState(step, if(isFinite(value), value, NULL)) AS step_of_max,
    argMinState(step, if(isFinite(value), value, NULL)) AS step_of_min,
    max(toUInt8(NOT isFinite(value))) AS nonfinite_seen
FROM runstream.metrics
GROUP BY project, run_id, key, split;

-- One row per run and metric: final (last-step) value, best value both ways.
CREATE VIEW IF NOT EXISTS runstream.run_metrics AS
SELECT
    project,
    run_id,
    key,
    split,
    if(split = '', key, concat(split, '.', key)) AS metric,
    max(last_step) AS last_step,
    argMaxMerge(last_value) AS last_value,
    max(max_value) AS max_value,
    min(min_value) AS min_value,
    argMaxMerge(step_of_max) AS step_of_max,
    argMinMerge(step_of_min) AS step_of_min,
    max(nonfinite_seen) = 1 AS has_nonfinite
FROM runstream.metric_latest
GROUP BY project, run_id, key, split;

-- Newest value per run and summary key.
CREATE VIEW IF NOT EXISTS runstream.run_summary AS
SELECT
    project,
    run_id,
    key,
    argMax(value_type, time) AS value_type,
    argMax(value_number, time) AS value_number,
    argMax(value_text, time) AS value_text
FROM runstream.summaries
GROUP BY project, run_id, key;

-- Every run with its status. A run without RunFinished whose last event is older
-- than 3 heartbeat intervals plus a second is crashed, not running.
CREATE VIEW IF NOT EXISTS runstream.runs AS
WITH
    finished AS (
        SELECT project, run_id, argMax(status, end_time) AS final_status, max(end_time) AS finished_at
        FROM runstream.runs_finished GROUP BY project, run_id
    ),
    alive AS (
        SELECT project, run_id, max(last_seen) AS seen_at,
               max(heartbeat_interval_ms) AS interval_ms
        FROM runstream.liveness GROUP BY project, run_id
    )
SELECT
    s.project AS project,
    s.run_id AS run_id,
    s.name AS name,
    multiIf(
        f.run_id != '', f.final_status,
        a.seen_at < now64(6) - toIntervalMillisecond(3 * if(a.interval_ms = 0, 10000, a.interval_ms) + 1000),
        'crashed',
        'running'
    ) AS status,
    s.start_time AS start_time,
    if(f.run_id != '', f.finished_at, a.seen_at) AS end_time,
    dateDiff('millisecond', s.start_time, if(f.run_id != '', f.finished_at, a.seen_at)) / 1000.0
        AS duration_s,
    a.seen_at AS last_seen,
    s.tags AS tags,
    s.user AS user,
    s.hostname AS hostname,
    s.git_commit AS git_commit,
    s.git_branch AS git_branch,
    s.git_dirty AS git_dirty,
    s.seed AS seed,
    s.notes AS notes
FROM (SELECT * FROM runstream.runs_started ORDER BY start_time LIMIT 1 BY project, run_id) AS s
LEFT JOIN finished AS f ON f.project = s.project AND f.run_id = s.run_id
LEFT JOIN alive AS a ON a.project = s.project AND a.run_id = s.run_id;
