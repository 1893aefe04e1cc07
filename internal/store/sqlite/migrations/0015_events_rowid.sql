-- An event's id is its rowid, without AUTOINCREMENT: a new event's id is still above every
-- stored one (SQLite takes the largest plus one), and a run's events are only ever read in
-- that order, but no write of an event also writes the sqlite_sequence table's page.
CREATE TABLE events_new (
    id      INTEGER PRIMARY KEY,
    run_id  TEXT NOT NULL,
    time    TEXT NOT NULL,
    state   TEXT NOT NULL,
    reason  TEXT NOT NULL,
    message TEXT NOT NULL
);
INSERT INTO events_new (id, run_id, time, state, reason, message)
    SELECT id, run_id, time, state, reason, message FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_run ON events (run_id, id);
DELETE FROM sqlite_sequence WHERE name = 'events';
