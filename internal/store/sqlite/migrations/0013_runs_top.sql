-- A job's runs that are no group's child, newest first: the points of the job's charts,
-- read without walking the children of its workflows and arrays.
CREATE INDEX runs_job_top ON runs (job, id) WHERE parent_id IS NULL;
