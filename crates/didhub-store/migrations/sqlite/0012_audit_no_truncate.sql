-- SQLite twin of the PostgreSQL migration 0012 (a TRUNCATE trigger on the audit log). SQLite
-- has no TRUNCATE: its DELETE without WHERE is refused by the row trigger of 0001.
SELECT 1;
