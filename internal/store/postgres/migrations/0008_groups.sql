-- Group runs (workflows, arrays) and their children. A group run runs nothing; its
-- children are ordinary runs with a parent. The group keeps counts of its children that
-- ended for good, moved in the transaction that ends each one.
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN parent_id TEXT;
ALTER TABLE runs ADD COLUMN step TEXT;
ALTER TABLE runs ADD COLUMN task_index INTEGER;
ALTER TABLE runs ADD COLUMN input TEXT;
ALTER TABLE runs ADD COLUMN needs TEXT;
ALTER TABLE runs ADD COLUMN always BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE runs ADD COLUMN resumed_from TEXT;
ALTER TABLE runs ADD COLUMN reused_from TEXT;
ALTER TABLE runs ADD COLUMN group_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN group_ended INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN group_succeeded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN group_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN parallelism INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN max_failed INTEGER;
-- A group's children by state (release, counts, the claim's parallelism).
CREATE INDEX runs_parent ON runs (parent_id, state) WHERE parent_id IS NOT NULL;
-- One first attempt per step and per task of a group, whatever restarts or replicas do.
CREATE UNIQUE INDEX runs_step ON runs (parent_id, step) WHERE parent_id IS NOT NULL AND step IS NOT NULL AND retry_of IS NULL;
CREATE UNIQUE INDEX runs_task ON runs (parent_id, task_index) WHERE parent_id IS NOT NULL AND task_index IS NOT NULL AND retry_of IS NULL;
