-- Alerts: what went wrong (or ended) in a run, found in the stream by the ingest core
-- (alerts/), the same in embedded and Kafka mode.
--
-- alert_id is derived from (project, run_id, rule, metric, first step or time), so a
-- replayed batch or a re-detection after a restart writes the same id again: the
-- ReplacingMergeTree folds it, and run_alerts shows each id once (its first detection).
CREATE TABLE IF NOT EXISTS runstream.alerts
(
    alert_id String,
    project LowCardinality(String),
    run_id String,
    rule LowCardinality(String),
    severity LowCardinality(String),
    metric String,
    step Int64,
    value Float64,
    message String,
    detected_at DateTime64(6, 'UTC') DEFAULT now64(6),
    source LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, alert_id);

-- Each alert once, first detection kept.
CREATE VIEW IF NOT EXISTS runstream.run_alerts AS
SELECT alert_id, project, run_id, rule, severity, metric, step, value, message, detected_at, source
FROM runstream.alerts
ORDER BY detected_at
LIMIT 1 BY project, run_id, alert_id;

-- What the metric rules remember of a series between batches and processes: its newest
-- step (points at or before it were seen: a replay is skipped), its first value and
-- running minimum, the divergence streak, and which rules already fired.
CREATE TABLE IF NOT EXISTS runstream.alert_state
(
    project LowCardinality(String),
    run_id String,
    key String,
    split LowCardinality(String),
    last_step Int64,
    points UInt64,
    first_value Float64,
    running_min Float64,
    previous Float64,
    streak UInt32,
    streak_step Int64,
    fired Array(LowCardinality(String)),
    updated_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(last_step)
ORDER BY (project, run_id, key, split);
