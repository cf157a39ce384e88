-- SQLite twin of the PostgreSQL migration 0015 (closures of working-day calendars).
CREATE TABLE calendar_closures (
    country     TEXT NOT NULL CHECK (length(country) = 2),
    closed_on   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (country, closed_on)
);
