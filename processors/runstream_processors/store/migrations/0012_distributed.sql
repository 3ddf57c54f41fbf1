-- Distributed runs: every rank of one job (torch DDP, torchrun, srun) joins one run.
--
-- Envelope.rank says which process sent an event (0 for single-process runs). Rank 0 owns
-- the run's start (runs_started, params), its summary and its final status; every rank
-- sends metrics, system stats, heartbeats and its own RunFinished, each with its rank.
-- runs_started.world_size is the number of ranks (1 for a single process).
ALTER TABLE runstream.metrics ADD COLUMN IF NOT EXISTS rank UInt32 DEFAULT 0;

ALTER TABLE runstream.system ADD COLUMN IF NOT EXISTS rank UInt32 DEFAULT 0;

ALTER TABLE runstream.runs_finished ADD COLUMN IF NOT EXISTS rank UInt32 DEFAULT 0;

ALTER TABLE runstream.runs_started ADD COLUMN IF NOT EXISTS world_size UInt32 DEFAULT 1;

ALTER TABLE runstream.runs_started ADD COLUMN IF NOT EXISTS distributed_job String DEFAULT '';

-- liveness merges rows per run, so its rank is only the highest one seen; rank_liveness
-- keeps the newest event and heartbeat interval of each rank.
ALTER TABLE runstream.liveness
    ADD COLUMN IF NOT EXISTS rank SimpleAggregateFunction(max, UInt32) DEFAULT 0;

CREATE TABLE IF NOT EXISTS runstream.rank_liveness
(
    project LowCardinality(String),
    run_id String,
    rank UInt32,
    last_seen SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    heartbeat_interval_ms SimpleAggregateFunction(max, UInt32)
)
ENGINE = AggregatingMergeTree
ORDER BY (project, run_id, rank);

CREATE MATERIALIZED VIEW IF NOT EXISTS runstream.rank_liveness_mv TO runstream.rank_liveness AS
SELECT
    project,
    run_id,
    rank,
    max(last_seen) AS last_seen,
    max(heartbeat_interval_ms) AS heartbeat_interval_ms
FROM runstream.liveness
GROUP BY project, run_id, rank;

-- One row per distributed run (world_size > 1): how its ranks stand, and its status by
-- the rule, first that holds:
--   crashed: a rank without RunFinished whose newest event is older than its timeout (3
--     heartbeat intervals plus a second) while the pipeline delivers (as in runs);
--   failed / killed: a rank finished so;
--   rank 0's status (finished, pruned): every rank of world_size finished;
--   running: otherwise (some ranks still going, or not seen yet).
CREATE VIEW IF NOT EXISTS runstream.run_ranks AS
WITH
    (SELECT max(last_seen) FROM runstream.liveness) AS pipeline_fresh_at,
    (SELECT max(caught_up_at) FROM runstream.pipeline_progress) AS caught_up_at
SELECT
    r.project AS project,
    r.run_id AS run_id,
    any(s.world_size) AS world_size,
    count() AS ranks_seen,
    countIf(r.final_status != '') AS ranks_finished,
    countIf(r.final_status = 'failed') AS ranks_failed,
    countIf(r.final_status = 'killed') AS ranks_killed,
    countIf(r.crashed) AS ranks_crashed,
    arraySort(groupArrayIf(r.rank, r.crashed)) AS crashed_ranks,
    multiIf(
        ranks_crashed > 0, 'crashed',
        ranks_failed > 0, 'failed',
        ranks_killed > 0, 'killed',
        ranks_finished >= world_size, anyIf(r.final_status, r.rank = 0),
        'running'
    ) AS status
FROM
(
    SELECT
        l.project AS project,
        l.run_id AS run_id,
        l.rank AS rank,
        f.final_status AS final_status,
        toInt64(3 * if(l.interval_ms = 0, 10000, l.interval_ms) + 1000) AS timeout_ms,
        f.final_status = ''
            AND l.seen_at < now64(6) - toIntervalMillisecond(timeout_ms)
            AND (pipeline_fresh_at >= now64(6) - toIntervalMillisecond(timeout_ms)
                 OR caught_up_at > l.seen_at + toIntervalMillisecond(timeout_ms)) AS crashed
    FROM
    (
        SELECT project, run_id, rank, max(last_seen) AS seen_at,
               max(heartbeat_interval_ms) AS interval_ms
        FROM runstream.rank_liveness GROUP BY project, run_id, rank
    ) AS l
    LEFT JOIN
    (
        SELECT project, run_id, rank, argMax(status, end_time) AS final_status
        FROM runstream.runs_finished GROUP BY project, run_id, rank
    ) AS f ON f.project = l.project AND f.run_id = l.run_id AND f.rank = l.rank
) AS r
INNER JOIN
(
    SELECT project, run_id, max(world_size) AS world_size
    FROM runstream.runs_started GROUP BY project, run_id
) AS s ON s.project = r.project AND s.run_id = r.run_id
WHERE s.world_size > 1
GROUP BY r.project, r.run_id;
