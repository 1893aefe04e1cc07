-- Every column that holds a job's name compares bytewise (COLLATE "C"), as definitions.name
-- does since migration 7. A join of two such columns under different collations cannot
-- use either's index: reading a definition scanned every revision, and each job's last
-- finish (/metrics) walked the runs table by id for every job.
ALTER TABLE revisions ALTER COLUMN name TYPE TEXT COLLATE "C";
ALTER TABLE runs ALTER COLUMN job TYPE TEXT COLLATE "C";
ALTER TABLE triggers ALTER COLUMN job TYPE TEXT COLLATE "C", ALTER COLUMN upstream TYPE TEXT COLLATE "C";
ALTER TABLE trigger_firings ALTER COLUMN job TYPE TEXT COLLATE "C", ALTER COLUMN upstream TYPE TEXT COLLATE "C";
