-- Offline evaluation from logged samples (`runstream eval`).
--
-- samples gain what makes them evaluable: the batch's class names and task, per-class
-- probabilities or raw scores, slice values (what metrics are broken down by), free-form
-- metadata, and for regression the numbers behind prediction and label.
--
-- An EvaluationResult event (Envelope field 23) fills four tables, all keyed by its
-- event_id (one evaluation = one event; its id is derived from what was evaluated and
-- how, so recording it again is a replay):
--   evaluation_runs         one row per evaluation: split, step, task, sample count, options
--   evaluations             one row per number: metric x class x slice x baseline
--                           (baseline '' = the run itself; random, majority, run:<id>),
--                           with its confidence interval and the samples behind it
--   evaluation_calibration  the run's reliability diagram: one row per confidence bin
--   evaluation_confusion    the run's confusion matrix: one row per non-empty cell
-- recorded_at (filled by the store) orders evaluations of the same run and split.
--
-- Views for dashboards and SQL, each over the newest evaluation per (project, run, split):
--   evaluation_latest       project, run_id, split, event_id, step, task, sample_count,
--                           options, evaluated_at (when the newest was recorded)
--   evaluation_metrics      project, run_id, split, step, baseline, slice_key, slice_value,
--                           metric, class_name, value, ci_low, ci_high, count
--   evaluation_lift         project, run_id, split, slice_key, slice_value, metric,
--                           class_name, value, baseline, baseline_value, lift (value - baseline)
--   evaluation_slices       the slice table: project, run_id, split, slice_key, slice_value,
--                           metric, value, ci_low, ci_high, count (the run's own numbers)
--   evaluation_confusion_cells  project, run_id, split, label, prediction, count
--   evaluation_calibration_curve  project, run_id, split, bin, bin_low, bin_high,
--                           confidence, accuracy, count

ALTER TABLE runstream.samples
    ADD COLUMN IF NOT EXISTS class_names Array(String),
    ADD COLUMN IF NOT EXISTS task LowCardinality(String),
    ADD COLUMN IF NOT EXISTS probabilities Array(Float64),
    ADD COLUMN IF NOT EXISTS scores Array(Float64),
    ADD COLUMN IF NOT EXISTS slices Map(String, String),
    ADD COLUMN IF NOT EXISTS metadata Map(String, String),
    ADD COLUMN IF NOT EXISTS prediction_value Nullable(Float64),
    ADD COLUMN IF NOT EXISTS target Nullable(Float64);

CREATE TABLE IF NOT EXISTS runstream.evaluation_runs
(
    project LowCardinality(String),
    run_id String,
    split LowCardinality(String),
    step Int64,
    task LowCardinality(String),
    sample_count UInt64,
    class_names Array(String),
    options Map(String, String),
    time DateTime64(6, 'UTC'),
    event_id String,
    recorded_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, split, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.evaluations
(
    project LowCardinality(String),
    run_id String,
    split LowCardinality(String),
    step Int64,
    baseline LowCardinality(String),
    slice_key String,
    slice_value String,
    metric LowCardinality(String),
    class_name String,
    value Float64,
    ci_low Nullable(Float64),
    ci_high Nullable(Float64),
    count UInt64,
    time DateTime64(6, 'UTC'),
    event_id String,
    idx UInt32
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, split, event_id, idx)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.evaluation_calibration
(
    project LowCardinality(String),
    run_id String,
    split LowCardinality(String),
    bin UInt32,
    bin_low Float64,
    bin_high Float64,
    confidence Float64,
    accuracy Float64,
    count UInt64,
    event_id String,
    idx UInt32
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, split, event_id, idx)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runstream.evaluation_confusion
(
    project LowCardinality(String),
    run_id String,
    split LowCardinality(String),
    label String,
    prediction String,
    count UInt64,
    event_id String,
    idx UInt32
)
ENGINE = ReplacingMergeTree
ORDER BY (project, run_id, split, event_id, idx)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE OR REPLACE VIEW runstream.evaluation_latest AS
SELECT project, run_id, split, event_id, step, task, sample_count, options,
       recorded_at AS evaluated_at
FROM runstream.evaluation_runs
ORDER BY recorded_at DESC, event_id DESC
LIMIT 1 BY project, run_id, split;

CREATE OR REPLACE VIEW runstream.evaluation_metrics AS
SELECT e.project AS project, e.run_id AS run_id, e.split AS split, e.step AS step,
       e.baseline AS baseline, e.slice_key AS slice_key, e.slice_value AS slice_value,
       e.metric AS metric, e.class_name AS class_name, e.value AS value,
       e.ci_low AS ci_low, e.ci_high AS ci_high, e.count AS count
FROM runstream.evaluations AS e
WHERE e.event_id IN (SELECT event_id FROM runstream.evaluation_latest);

CREATE OR REPLACE VIEW runstream.evaluation_lift AS
SELECT r.project AS project, r.run_id AS run_id, r.split AS split,
       r.slice_key AS slice_key, r.slice_value AS slice_value, r.metric AS metric,
       r.class_name AS class_name, r.value AS value, b.baseline AS baseline,
       b.value AS baseline_value, r.value - b.value AS lift
FROM (SELECT * FROM runstream.evaluation_metrics WHERE baseline = '') AS r
INNER JOIN (SELECT * FROM runstream.evaluation_metrics WHERE baseline != '') AS b
    ON r.project = b.project AND r.run_id = b.run_id AND r.split = b.split
   AND r.slice_key = b.slice_key AND r.slice_value = b.slice_value
   AND r.metric = b.metric AND r.class_name = b.class_name;

CREATE OR REPLACE VIEW runstream.evaluation_slices AS
SELECT project, run_id, split, slice_key, slice_value, metric, value, ci_low, ci_high, count
FROM runstream.evaluation_metrics
WHERE baseline = '' AND slice_key != '' AND class_name = '';

CREATE OR REPLACE VIEW runstream.evaluation_confusion_cells AS
SELECT project, run_id, split, label, prediction, count
FROM runstream.evaluation_confusion
WHERE event_id IN (SELECT event_id FROM runstream.evaluation_latest);

CREATE OR REPLACE VIEW runstream.evaluation_calibration_curve AS
SELECT project, run_id, split, bin, bin_low, bin_high, confidence, accuracy, count
FROM runstream.evaluation_calibration
WHERE event_id IN (SELECT event_id FROM runstream.evaluation_latest);
