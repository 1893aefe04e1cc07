-- Leases name the one server that runs a leader-only component (the scheduler). The token
-- grows with every change of holder, so a deposed holder can be told from the current one.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    token      BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
