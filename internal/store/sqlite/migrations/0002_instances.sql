-- The servers sharing this database and when each last said it was alive. Runs claimed by
-- a server that stopped beating are recovered by the others.
CREATE TABLE instances (
    id      TEXT PRIMARY KEY,
    beat_at TEXT NOT NULL
);
