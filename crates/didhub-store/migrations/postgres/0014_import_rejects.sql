-- Rejected rows of imports made through the API, as CSV in parts, kept for a while for the
-- user who made the import to download (didhub-store/src/rejects.rs).
CREATE TABLE import_rejects (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX import_rejects_user ON import_rejects (user_id, created_at);
CREATE INDEX import_rejects_expires ON import_rejects (expires_at);
CREATE TABLE import_reject_parts (
    rejects_id  uuid NOT NULL REFERENCES import_rejects (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (rejects_id, seq)
);
