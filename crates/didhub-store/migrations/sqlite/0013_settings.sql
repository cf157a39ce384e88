-- SQLite twin of the PostgreSQL migration 0013 (settings of the server's configuration).
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
