-- When each job's next slot is due, so a scheduler pass reads only the jobs that are due.
-- NULL: never (no schedule). A time at or before now: due, or to be computed (a new or
-- changed schedule is stored as due at once, and the scheduler works out when it fires).
ALTER TABLE definitions ADD COLUMN next_due TEXT;
UPDATE definitions SET next_due = '0001-01-01T00:00:00.000000000Z' WHERE deleted_at IS NULL;
CREATE INDEX definitions_due ON definitions (next_due, name) WHERE deleted_at IS NULL AND next_due IS NOT NULL;
