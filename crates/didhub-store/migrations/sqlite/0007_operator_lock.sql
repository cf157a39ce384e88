-- SQLite twin of the PostgreSQL migration 0007, which replaces the dids → operators foreign
-- key with a lock taken once per operator per writing transaction. SQLite keeps the foreign
-- key: its check is an in-process index probe, and SQLite has one writer at a time.
SELECT 1;
