-- SQLite twin of the PostgreSQL migration 0006, which defines didhub_expect() for
-- single-statement writes and didhub_uuid7() for audit ids from the database clock. SQLite
-- runs those writes as separate statements in one write transaction (one writer at a time),
-- with ids made by the application inside it, so there is nothing to define here.
SELECT 1;
