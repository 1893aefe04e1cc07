-- An upload in progress belongs to whoever began it (the token's name) until no byte of it
-- has arrived for a while (touched_at): no one else may reset it, append to it or drop it.
ALTER TABLE blobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE blobs ADD COLUMN touched_at TEXT NOT NULL DEFAULT '';
UPDATE blobs SET touched_at = created_at;
