-- What a submission changed of its revision for one run (the AWS Batch face's
-- containerOverrides, retryStrategy, timeout and jobName), as JSON; NULL for none.
ALTER TABLE runs ADD COLUMN overrides TEXT;
-- The runs a run waits for (dependencies between separate submissions), as a JSON list
-- of first attempts' ids; NULL for none. run_waits holds the same the other way round:
-- who waits for a run, read in the transaction that ends it.
ALTER TABLE runs ADD COLUMN waits_for TEXT;
CREATE TABLE run_waits (
    needed TEXT NOT NULL,
    waiter TEXT NOT NULL,
    PRIMARY KEY (needed, waiter)
);
