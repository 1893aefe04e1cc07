-- Queues: named admission rules (how many of their runs are active at once, how fast they
-- start, how urgent they are). A run records its queue, its own priority and its params;
-- claim_order sorts the queue by the queue's priority, then the run's, then age (id).
CREATE TABLE queues (
    name                  TEXT PRIMARY KEY,
    max_running           INTEGER NOT NULL DEFAULT 0,
    max_starts_per_second REAL NOT NULL DEFAULT 0,
    priority              INTEGER NOT NULL DEFAULT 0,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    -- The start rate's token bucket: how many starts it holds at tokens_at.
    tokens                REAL NOT NULL DEFAULT 0,
    tokens_at             TEXT
);
ALTER TABLE runs ADD COLUMN queue TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN params TEXT;
ALTER TABLE runs ADD COLUMN claim_order INTEGER NOT NULL DEFAULT 1002000;
-- The claim reads queued runs in this order.
CREATE INDEX runs_claim ON runs (claim_order, id) WHERE state = 'queued';
-- A queue's active and queued runs (its limit, its counts).
CREATE INDEX runs_queue ON runs (queue, state) WHERE queue <> '';
-- The queues a definition names (its own and its steps'), as ",a,b,", so a queue that a
-- definition names is not deleted.
ALTER TABLE definitions ADD COLUMN queues TEXT NOT NULL DEFAULT '';
