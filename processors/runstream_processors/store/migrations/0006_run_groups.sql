-- Runs that belong together: a sweep, the ranks of one distributed job, an ablation
-- (RunStarted.group), and what each run does there (RunStarted.job_type).
ALTER TABLE runstream.runs_started ADD COLUMN IF NOT EXISTS run_group String AFTER tags;

ALTER TABLE runstream.runs_started
    ADD COLUMN IF NOT EXISTS job_type LowCardinality(String) AFTER run_group;
