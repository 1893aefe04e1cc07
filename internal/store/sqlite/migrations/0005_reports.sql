-- What runs report about themselves while they run (docket report): metrics, a result
-- document and a checkpoint, each as JSON text. Deleted with the run.
CREATE TABLE run_reports (
    run_id     TEXT PRIMARY KEY,
    metrics    TEXT NOT NULL DEFAULT '{}',
    result     TEXT,
    checkpoint TEXT,
    updated_at TEXT NOT NULL
);
-- Values every server sharing the database uses alike, such as the key run tokens are
-- signed with.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
