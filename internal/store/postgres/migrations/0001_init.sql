-- Job definitions: one row per job, pointing at its current revision.
CREATE TABLE definitions (
    name              TEXT PRIMARY KEY,
    revision          INTEGER NOT NULL,
    suspended         BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at        TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    -- The scheduler's cursor: every slot at or before it is a run.
    scheduled_through TIMESTAMPTZ NOT NULL
);

-- Every revision of every job's spec, kept so a run can be re-read as it was defined. The
-- spec is the exact JSON Docket wrote (TEXT, not JSONB), so an unchanged spec compares equal.
CREATE TABLE revisions (
    name       TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    spec       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, revision)
);

-- The runs table is the queue.
CREATE TABLE runs (
    id                  TEXT PRIMARY KEY,
    job                 TEXT NOT NULL,
    revision            INTEGER NOT NULL,
    state               TEXT NOT NULL,
    trigger             TEXT NOT NULL,
    scheduled_time      TIMESTAMPTZ,
    attempt             INTEGER NOT NULL,
    retry_of            TEXT,
    env                 TEXT,
    idempotency_key     TEXT,
    exclusive           BOOLEAN NOT NULL DEFAULT FALSE,
    not_before          TIMESTAMPTZ NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    started_at          TIMESTAMPTZ,
    finished_at         TIMESTAMPTZ,
    exit_code           INTEGER,
    reason              TEXT NOT NULL DEFAULT '',
    message             TEXT NOT NULL DEFAULT '',
    executor            TEXT NOT NULL DEFAULT '',
    claimed_by          TEXT NOT NULL DEFAULT '',
    cancel_requested_by TEXT NOT NULL DEFAULT ''
);
-- One run per (job, slot), whatever restarts or replicas do.
CREATE UNIQUE INDEX runs_slot ON runs (job, scheduled_time) WHERE trigger = 'schedule';
-- One retry per failed attempt.
CREATE UNIQUE INDEX runs_retry_of ON runs (retry_of) WHERE retry_of IS NOT NULL;
-- One run per idempotency key per job.
CREATE UNIQUE INDEX runs_idempotency ON runs (job, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_job ON runs (job, id);
CREATE INDEX runs_state ON runs (state, id);
-- The claim scans queued runs in id order; keep that scan off the finished rows.
CREATE INDEX runs_queued ON runs (id) WHERE state = 'queued';

CREATE TABLE events (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id  TEXT NOT NULL,
    time    TIMESTAMPTZ NOT NULL,
    state   TEXT NOT NULL,
    reason  TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX events_run ON events (run_id, id);

-- A run's log as appended chunks; start is the chunk's byte offset in the whole log.
CREATE TABLE logs (
    run_id TEXT NOT NULL,
    start  BIGINT NOT NULL,
    data   BYTEA NOT NULL,
    PRIMARY KEY (run_id, start)
);
