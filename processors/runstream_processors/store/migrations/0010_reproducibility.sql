-- Reproducibility: what a dataset version was used for and where it lay (DatasetVersion
-- 4-6), the repository's top directory (GitInfo.toplevel), and the run a run reproduces
-- (RunStarted.reproduces, set by `runstream reproduce`).
ALTER TABLE runstream.datasets ADD COLUMN IF NOT EXISTS role LowCardinality(String) AFTER version;

ALTER TABLE runstream.datasets ADD COLUMN IF NOT EXISTS root String AFTER role;

ALTER TABLE runstream.datasets ADD COLUMN IF NOT EXISTS stored Bool AFTER root;

ALTER TABLE runstream.runs_started ADD COLUMN IF NOT EXISTS git_toplevel String AFTER git_diff_sha256;

ALTER TABLE runstream.runs_started ADD COLUMN IF NOT EXISTS reproduces String AFTER job_type;
