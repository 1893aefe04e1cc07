-- Content-addressed blobs (a run's input files, its output files): named by their
-- SHA-256, kept as chunks of at most 1 MiB so no blob is ever read or written whole.
-- received counts the bytes stored so far; an upload cut off resumes from there, and a
-- blob is complete once its bytes were checked against its name.
CREATE TABLE blobs (
    sha256     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    received   BIGINT NOT NULL DEFAULT 0,
    complete   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE blob_chunks (
    sha256 TEXT NOT NULL,
    start  BIGINT NOT NULL,
    data   BYTEA NOT NULL,
    PRIMARY KEY (sha256, start)
);
-- The files kept with a run: its inputs (placed before it starts) and its outputs
-- (reported). Deleted with the run; a blob no file refers to goes with retention.
CREATE TABLE run_files (
    run_id     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    path       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       BIGINT NOT NULL,
    mode       INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, kind, path)
);
CREATE INDEX run_files_blob ON run_files (sha256);
