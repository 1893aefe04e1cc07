-- Job names compare bytewise, as SQLite compares them, whatever the database's collation:
-- pages of jobs by name come in the same order on both stores.
ALTER TABLE definitions ALTER COLUMN name TYPE TEXT COLLATE "C";
