-- Raw tables, one per kind of event. Every row carries the event_id it came from:
-- the sink skips events already in events_seen, insert deduplication tokens make a
-- retried batch a no-op, and ReplacingMergeTree on (..., event_id, idx) is the last
-- safety net, so a replayed batch never changes a query result.

CREATE TABLE IF NOT EXISTS runstream.events_seen
(
    event_id String,
    project LowCardinality(String),
    run_id String,
    kind LowCardinality(String),
    seq UInt64,
    produced_at DateTime64(6, 'UTC'),
    ingested_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.runs_started
(
    project LowCardinality(String),
    run_id String,
    name String,
    tags Array(LowCardinality(String)),
    start_time DateTime64(6, 'UTC'),
    user LowCardinality(String),
    hostname LowCardinality(String),
    git_commit String,
    git_branch String,
    git_remote String,
    git_dirty Bool,
    git_diff_sha256 String,
    command Array(String),
    working_dir String,
    seed Nullable(Int64),
    heartbeat_interval_ms UInt32,
    notes String,
    sdk_version LowCardinality(String),
    python_version LowCardinality(String),
    python_executable String,
    os LowCardinality(String),
    cpu_model LowCardinality(String),
    cpu_count UInt32,
    memory_total_bytes UInt64,
    gpu_count UInt32,
    gpu_names Array(LowCardinality(String)),
    gpu_driver_version LowCardinality(String),
    cuda_version LowCardinality(String),
    environment_variables Map(String, String),
    determinism Map(String, String),
    event_id String
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.params
(
    project LowCardinality(String),
    run_id String,
    key LowCardinality(String),
    value_type Enum8('number' = 1, 'integer' = 2, 'bool' = 3, 'text' = 4),
    value_number Nullable(Float64),
    value_text String,
    event_id String
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, key, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.packages
(
    project LowCardinality(String),
    run_id String,
    name LowCardinality(String),
    version String,
    event_id String
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, name, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.metrics
(
    project LowCardinality(String),
    run_id String,
    key LowCardinality(String),
    split LowCardinality(String),
    step Int64,
    value Float64,
    time DateTime64(6, 'UTC'),
    event_id String CODEC(ZSTD(1)),
    idx UInt32
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, key, split, step, event_id, idx)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.system
(
    project LowCardinality(String),
    run_id String,
    hostname LowCardinality(String),
    key LowCardinality(String),
    time DateTime64(6, 'UTC'),
    value Float64,
    event_id String CODEC(ZSTD(1)),
    idx UInt32
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, key, time, event_id, idx)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.samples
(
    project LowCardinality(String),
    run_id String,
    split LowCardinality(String),
    step Int64,
    sample_id String,
    input String,
    prediction String,
    label Nullable(String),
    correct Nullable(Bool),
    time DateTime64(6, 'UTC'),
    event_id String,
    idx UInt32
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, split, step, event_id, idx)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.artifacts
(
    project LowCardinality(String),
    run_id String,
    name String,
    kind LowCardinality(String),
    sha256 String,
    size_bytes UInt64,
    uri String,
    source_path String,
    metadata Map(String, String),
    time DateTime64(6, 'UTC'),
    event_id String
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, name, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.datasets
(
    project LowCardinality(String),
    run_id String,
    name String,
    version String,
    file_count UInt64,
    total_bytes UInt64,
    files Nested(path String, size_bytes UInt64, sha256 String),
    time DateTime64(6, 'UTC'),
    event_id String
)
ENGINE = ReplacingMergeTree
ORDER BY (project, name, version, run_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.summaries
(
    project LowCardinality(String),
    run_id String,
    key LowCardinality(String),
    value_type Enum8('number' = 1, 'integer' = 2, 'bool' = 3, 'text' = 4),
    value_number Nullable(Float64),
    value_text String,
    time DateTime64(6, 'UTC'),
    event_id String
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, key, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.runs_finished
(
    project LowCardinality(String),
    run_id String,
    status LowCardinality(String),
    end_time DateTime64(6, 'UTC'),
    not_recorded Map(String, UInt64),
    nonfinite_values UInt64,
    event_id String
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Liveness: the newest event time seen per run; max() makes replays harmless.
CREATE TABLE IF NOT EXISTS runstream.liveness
(
    project LowCardinality(String),
    run_id String,
    last_seen SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    heartbeat_interval_ms SimpleAggregateFunction(max, UInt32)
)
ENGINE = AggregatingMergeTree
ORDER BY (project, run_id);

CREATE TABLE IF NOT EXISTS runstream.dead_letters
(
    received_at DateTime64(6, 'UTC') DEFAULT now64(6),
    source LowCardinality(String),
    reason LowCardinality(String),
    detail String,
    event_id String,
    project String,
    run_id String,
    payload String CODEC(ZSTD(3))
)
ENGINE = MergeTree
ORDER BY (received_at, reason)
SETTINGS non_replicated_deduplication_window = 10000;
