-- Finished runs in the order they finished, for the retention janitor.
CREATE INDEX runs_finished ON runs (finished_at, id) WHERE finished_at IS NOT NULL;
-- A job's runs in one state, newest first ("failed runs of nightly-train").
CREATE INDEX runs_job_state ON runs (job, state, id);
