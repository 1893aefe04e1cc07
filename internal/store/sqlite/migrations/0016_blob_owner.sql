-- An upload in progress belongs to whoever began it (the token's name) until no byte of it
-- has arrived for a while (touched_at): no one else may reset it, append to it or drop it.
-- What a sender holds that no run has named is capped: named is set once a run's file
-- names the blob, and blob_senders keeps the sum of the sizes of each sender's others.
ALTER TABLE blobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE blobs ADD COLUMN touched_at TEXT NOT NULL DEFAULT '';
UPDATE blobs SET touched_at = created_at;
ALTER TABLE blobs ADD COLUMN named INTEGER NOT NULL DEFAULT 0;
UPDATE blobs SET named = 1 WHERE EXISTS (SELECT 1 FROM run_files f WHERE f.sha256 = blobs.sha256);
CREATE TABLE blob_senders (
    owner TEXT PRIMARY KEY,
    held  INTEGER NOT NULL
);
INSERT INTO blob_senders (owner, held) SELECT owner, SUM(size) FROM blobs WHERE NOT named GROUP BY owner;
