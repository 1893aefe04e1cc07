-- Triggers: what each live job runs after (its definition's after), kept beside its
-- current revision so the end of a run finds the jobs it fires with one indexed read.
CREATE TABLE triggers (
    job        TEXT NOT NULL,
    upstream   TEXT NOT NULL,
    on_state   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (job, upstream)
);
CREATE INDEX triggers_upstream ON triggers (upstream);
-- Each qualifying end of an upstream run, recorded once: (job, upstream run) is the
-- firing key, so an end fires a job at most once whatever crashes and replicas do.
-- run_id is the run it fired (with the ends it waited for), or NULL while the job waits
-- for its other entries.
CREATE TABLE trigger_firings (
    job          TEXT NOT NULL,
    upstream     TEXT NOT NULL,
    upstream_run TEXT NOT NULL,
    run_id       TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (job, upstream_run)
);
CREATE INDEX trigger_firings_waiting ON trigger_firings (job) WHERE run_id IS NULL;
