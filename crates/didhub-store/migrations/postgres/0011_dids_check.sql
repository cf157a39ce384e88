-- PostgreSQL twin of the SQLite migration 0011, which turns SQLite's two dids_assignment
-- triggers into the CHECK constraint PostgreSQL has had since 0003.
SELECT 1;
