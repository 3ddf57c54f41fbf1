-- The query layer the dashboards, the CLI and ad hoc SQL share: one definition of a run's
-- row, of its best value, of a curve at any length, so the three never disagree.
--
--   run_params     one row per run and param, value as text and, for numbers, as Float64
--   run_metrics    final and best value per run and metric; best follows lower_is_better
--   metric_buckets a metric's points in buckets of 16 and 1024 steps (min, max, sum, count):
--                  what lets a 10M-step curve draw as fast as a 1k-step one
--   metric_curve   every curve in at most ~1000 points: raw when short, else buckets from
--                  the finest level that is coarse enough; min/max kept, so spikes show
--   run_throughput steps per second per run over time (from the bucket times)
--   run_system     system stats per run, host and key: mean, max and last
--   pipeline_rate  per minute: events taken in and their delivery lag (p50, p99, max)
--   dead_letter_counts per minute and reason

-- A metric is lower-is-better when its key names a loss or an error; one rule, here.
CREATE OR REPLACE VIEW runstream.run_metrics AS
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
    if(max(latest.max_value) IS NULL, NULL, argMaxIfMerge(step_of_max)) AS step_of_max,
    if(min(latest.min_value) IS NULL, NULL, argMinIfMerge(step_of_min)) AS step_of_min,
    max(nonfinite_seen) = 1 AS has_nonfinite,
    match(key, '(?i)(loss|err|error|mse|mae|rmse|perplexity|ppl|wer|cer|latency)') AS lower_is_better,
    if(lower_is_better, min_value, max_value) AS best_value,
    if(lower_is_better, step_of_min, step_of_max) AS step_of_best
FROM runstream.metric_latest AS latest
GROUP BY project, run_id, key, split;

-- Params the SDK records about itself (runstream.*: redaction counts) are not the user's.
CREATE OR REPLACE VIEW runstream.run_params AS
SELECT
    project,
    run_id,
    key,
    value_type,
    if(value_type = 'text', NULL, value_number) AS value_number,
    value_text AS value
FROM runstream.params
WHERE NOT startsWith(key, 'runstream.')
LIMIT 1 BY project, run_id, key;

-- Buckets are filled once per inserted block: the sink's insert deduplication tokens keep a
-- retried block from firing the view again, so sum and count stay exact under replays.
CREATE TABLE IF NOT EXISTS runstream.metric_buckets
(
    project LowCardinality(String),
    run_id String,
    key LowCardinality(String),
    split LowCardinality(String),
    width UInt32,
    bucket Int64,
    first_step SimpleAggregateFunction(min, Int64),
    last_step SimpleAggregateFunction(max, Int64),
    first_time SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_time SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    value_min SimpleAggregateFunction(min, Nullable(Float64)),
    value_max SimpleAggregateFunction(max, Nullable(Float64)),
    value_sum SimpleAggregateFunction(sum, Float64),
    finite_points SimpleAggregateFunction(sum, UInt64),
    points SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (project, run_id, key, split, width, bucket);

CREATE MATERIALIZED VIEW IF NOT EXISTS runstream.metric_buckets_mv TO runstream.metric_buckets AS
SELECT
    project,
    run_id,
    key,
    split,
    width,
    intDiv(step, width) AS bucket,
    min(step) AS first_step,
    max(step) AS last_step,
    min(time) AS first_time,
    max(time) AS last_time,
    minIfOrNull(value, isFinite(value)) AS value_min,
    maxIfOrNull(value, isFinite(value)) AS value_max,
    sumIf(value, isFinite(value)) AS value_sum,
    toUInt64(countIf(isFinite(value))) AS finite_points,
    toUInt64(count()) AS points
FROM runstream.metrics
ARRAY JOIN [toUInt32(16), toUInt32(1024)] AS width
GROUP BY project, run_id, key, split, width, bucket;

INSERT INTO runstream.metric_buckets
SELECT
    project, run_id, key, split, width, intDiv(step, width) AS bucket,
    min(step), max(step), min(time), max(time),
    minIfOrNull(value, isFinite(value)), maxIfOrNull(value, isFinite(value)),
    sumIf(value, isFinite(value)), toUInt64(countIf(isFinite(value))), toUInt64(count())
FROM runstream.metrics
ARRAY JOIN [toUInt32(16), toUInt32(1024)] AS width
GROUP BY project, run_id, key, split, width, bucket;

-- Each curve's bucket width is the smallest that draws it in at most 1000 points, a multiple
-- of the stored level it is read from: raw points below 16 steps a bucket, the 1024-step
-- level once that level alone gives 500 points or more (curves of 512k steps and longer:
-- ~1000 rows to read instead of ~60k), else the 16-step level. step is the bucket's first step, time its
-- first point's time; value is the mean of its finite points, value_min/max their range.
-- Filter on project, run_id, key and split (they reach the tables' primary keys); the IN
-- lists keep a branch that has no curve of its level from reading anything.
CREATE OR REPLACE VIEW runstream.metric_curve AS
WITH
    spans AS (
        SELECT project, run_id, key, split, max(last_step) AS span_last
        FROM runstream.metric_latest
        GROUP BY project, run_id, key, split
    ),
    sized AS (
        SELECT
            project, run_id, key, split,
            toUInt64(greatest(1, intDiv(greatest(span_last, 0), 1000) + 1)) AS needed,
            multiIf(needed < 16, 1, span_last < 1024 * 500, 16, 1024) AS level,
            toUInt64(intDiv(needed + level - 1, level) * level) AS width
        FROM spans
    )
SELECT
    project, run_id, key, split,
    if(split = '', key, concat(split, '.', key)) AS metric,
    width,
    min(first_step) AS step,
    min(first_time) AS time,
    if(sum(finite_points) = 0, nan, sum(value_sum) / sum(finite_points)) AS value,
    min(value_min) AS value_min,
    max(value_max) AS value_max,
    sum(points) AS points
FROM
(
    SELECT
        m.project AS project, m.run_id AS run_id, m.key AS key, m.split AS split,
        z.width AS width, intDiv(m.step, z.width) AS slot,
        m.step AS first_step, m.time AS first_time,
        if(isFinite(m.value), m.value, NULL) AS value_min,
        if(isFinite(m.value), m.value, NULL) AS value_max,
        if(isFinite(m.value), m.value, 0) AS value_sum,
        toUInt64(isFinite(m.value)) AS finite_points,
        toUInt64(1) AS points
    FROM runstream.metrics AS m
    INNER JOIN sized AS z
        ON z.project = m.project AND z.run_id = m.run_id AND z.key = m.key AND z.split = m.split
    WHERE z.level = 1
        AND (m.project, m.run_id, m.key, m.split)
            IN (SELECT project, run_id, key, split FROM sized WHERE level = 1)
    UNION ALL
    SELECT
        b.project, b.run_id, b.key, b.split, z.width, intDiv(b.bucket * b.width, z.width),
        b.first_step, b.first_time, b.value_min, b.value_max, b.value_sum, b.finite_points,
        b.points
    FROM runstream.metric_buckets AS b
    INNER JOIN sized AS z
        ON z.project = b.project AND z.run_id = b.run_id AND z.key = b.key AND z.split = b.split
    WHERE z.level > 1 AND b.width = z.level
        AND (b.project, b.run_id, b.key, b.split)
            IN (SELECT project, run_id, key, split FROM sized WHERE level > 1)
)
GROUP BY project, run_id, key, split, width, slot;

CREATE OR REPLACE VIEW runstream.run_throughput AS
SELECT
    project,
    run_id,
    toStartOfMinute(first_time) AS time,
    (max(last_step) - min(first_step))
        / greatest(dateDiff('microsecond', min(first_time), max(last_time)) / 1e6, 0.001)
        AS steps_per_s
FROM runstream.metric_buckets
WHERE width = 16
GROUP BY project, run_id, time;

CREATE OR REPLACE VIEW runstream.run_system AS
SELECT
    project,
    run_id,
    hostname,
    key,
    avg(value) AS mean,
    max(value) AS max,
    argMax(value, time) AS last,
    min(time) AS first_time,
    max(time) AS last_time,
    count() AS samples
FROM runstream.system
GROUP BY project, run_id, hostname, key;

CREATE OR REPLACE VIEW runstream.pipeline_rate AS
SELECT
    toStartOfMinute(ingested_at) AS time,
    count() AS events,
    quantile(0.5)(dateDiff('millisecond', produced_at, ingested_at) / 1000.0) AS lag_p50_s,
    quantile(0.99)(dateDiff('millisecond', produced_at, ingested_at) / 1000.0) AS lag_p99_s,
    max(dateDiff('millisecond', produced_at, ingested_at) / 1000.0) AS lag_max_s
FROM runstream.events_seen
GROUP BY time;

CREATE OR REPLACE VIEW runstream.dead_letter_counts AS
SELECT toStartOfMinute(received_at) AS time, source, reason, count() AS letters
FROM runstream.dead_letters
GROUP BY time, source, reason
