-- A disabled queue's queued runs are not claimed until it is enabled again.
ALTER TABLE queues ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
