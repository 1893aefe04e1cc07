-- An upload in progress belongs to whoever began it (the token's name) until no byte of it
-- has arrived for a while (touched_at): no one else may reset it, append to it or drop it.
-- What a sender holds that no run has named is capped: named is set once a run's file
-- names the blob, and blob_senders keeps the sum of the sizes of each sender's others.
ALTER TABLE blobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE blobs ADD COLUMN touched_at TIMESTAMPTZ;
UPDATE blobs SET touched_at = created_at;
ALTER TABLE blobs ALTER COLUMN touched_at SET NOT NULL;
ALTER TABLE blobs ADD COLUMN named BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE blobs SET named = TRUE WHERE EXISTS (SELECT 1 FROM run_files f WHERE f.sha256 = blobs.sha256);
CREATE TABLE blob_senders (
    owner TEXT PRIMARY KEY,
    held  BIGINT NOT NULL
);
INSERT INTO blob_senders (owner, held) SELECT owner, SUM(size) FROM blobs WHERE NOT named GROUP BY owner;
