-- Settings of the server's configuration that every process changing data must apply alike,
-- stored once: `hold_days` (the hold period), written by `didhub serve` when it starts, so that
-- a command line change uses the server's hold period whatever configuration it was run with.
CREATE TABLE settings (
    key         text PRIMARY KEY,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL
);
