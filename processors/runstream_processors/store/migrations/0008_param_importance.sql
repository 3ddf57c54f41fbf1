-- Parameter importance (analysis/importance.py): for a project's runs, optionally those of
-- one group or tag ('' = all), which params drive a metric's final or best value. Every
-- computation writes all its rows with one computed_at: the newest wins per key, and
-- param_importance_latest shows only the newest computation's params (a param dropped
-- from a sweep leaves it).
CREATE TABLE IF NOT EXISTS runstream.param_importance
(
    project LowCardinality(String),
    run_group String,
    tag String,
    metric String,
    which LowCardinality(String),
    goal LowCardinality(String),
    param String,
    kind LowCardinality(String),
    pearson Nullable(Float64),
    spearman Nullable(Float64),
    eta Nullable(Float64),
    rf_importance Nullable(Float64),
    permutation_importance Nullable(Float64),
    ci_low Nullable(Float64),
    ci_high Nullable(Float64),
    log_scale Bool,
    runs_used UInt32,
    runs_total UInt32,
    computed_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (project, run_group, tag, metric, which, param);

CREATE VIEW IF NOT EXISTS runstream.param_importance_latest AS
SELECT *
FROM runstream.param_importance FINAL
WHERE (project, run_group, tag, metric, which, computed_at) IN (
    SELECT project, run_group, tag, metric, which, max(computed_at)
    FROM runstream.param_importance
    GROUP BY project, run_group, tag, metric, which
);
