-- SQLite twin of the PostgreSQL migration 0010, which drops the foreign keys from dids to
-- customers and client_packages. SQLite keeps them: it skips the check of a NULL key, and
-- checks a set one by an in-process index probe.
SELECT 1;
