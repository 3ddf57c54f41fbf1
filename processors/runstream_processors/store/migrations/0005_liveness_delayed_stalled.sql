-- Liveness that tells a dead process from a slow pipeline, and a hung main loop from a
-- live one.
--
-- liveness gains the newest log() time and the log() call count per run: heartbeats
-- carry both, metric batches their newest row time (max of each: replays change nothing).
--
-- A run's status in runs, first rule that holds:
--   finished, failed, killed: its RunFinished says so.
--   crashed: its newest event is older than its timeout (3 heartbeat intervals plus a
--     second) while the pipeline delivers: some run's event (any run) is newer than that
--     timeout, or a consumer reported that it took in everything there was (its mark in
--     pipeline_progress) after the run became overdue. The process stopped, not the pipeline.
--   delayed: its newest event is older than its timeout, and so is every run's: nothing
--     reaches the store, so nobody can tell yet, and it is never called crashed.
--   stalled: heartbeats are fresh but no log() for longer than
--     max(30 heartbeat intervals, 10 times its mean interval between log() calls), counted
--     from its newest log() (or its start when it has none): 5 minutes at the default 10 s
--     heartbeat. The mean interval is (newest log() - start) / log() calls.
--   running: otherwise.
-- stalled_for_s is the seconds since the newest log() (or start) of a stalled run, else 0.

-- When a consumer last found nothing more to take in (the embedded spool ingest marks it
-- each time it drains the spool): proof that the pipeline delivers even when no run sends.
CREATE TABLE IF NOT EXISTS runstream.pipeline_progress
(
    source LowCardinality(String),
    caught_up_at SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY source;

ALTER TABLE runstream.liveness
    ADD COLUMN IF NOT EXISTS last_log SimpleAggregateFunction(max, DateTime64(6, 'UTC'));

ALTER TABLE runstream.liveness
    ADD COLUMN IF NOT EXISTS log_calls SimpleAggregateFunction(max, UInt64);

CREATE OR REPLACE VIEW runstream.runs AS
WITH
    finished AS (
        SELECT project, run_id, argMax(status, end_time) AS final_status, max(end_time) AS finished_at
        FROM runstream.runs_finished GROUP BY project, run_id
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
