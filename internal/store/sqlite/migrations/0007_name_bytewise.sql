-- Job names compare bytewise: SQLite's default collation (BINARY) already does. This is
-- the number of PostgreSQL's migration that makes its name column compare so too.
SELECT 1;
