-- What a submission changed of its revision for one run (the AWS Batch face's
-- containerOverrides, retryStrategy, timeout and jobName), as JSON; NULL for none.
ALTER TABLE runs ADD COLUMN overrides TEXT;
