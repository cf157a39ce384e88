-- didhub schema, SQLite. Same tables and names as the PostgreSQL schema; uuids are 16-byte
-- blobs and timestamps RFC 3339 text (both order correctly).

CREATE TABLE operators (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX operators_name_key ON operators (lower(name));

CREATE TABLE dids (
    id           BLOB PRIMARY KEY,
    number       TEXT NOT NULL,
    country      TEXT NOT NULL,
    number_type  TEXT NOT NULL,
    operator_id  BLOB NOT NULL REFERENCES operators (id),
    status       TEXT NOT NULL CHECK (status IN ('in_stock', 'reserved', 'assigned', 'porting', 'hold', 'archive')),
    after_hold   TEXT NOT NULL CHECK (after_hold IN ('in_stock', 'reserved', 'archive')),
    tag          TEXT,
    notes        TEXT,
    batch_id     BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX dids_number_key ON dids (number);

CREATE TABLE audit_log (
    id         BLOB PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  BLOB,
    subject    TEXT,
    changes    TEXT NOT NULL,
    reason     TEXT
);
CREATE INDEX audit_log_entity ON audit_log (entity_id, id);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE api_tokens (
    id            BLOB PRIMARY KEY,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    revoked_at    TEXT,
    last_used_at  TEXT
);

CREATE TABLE idempotency_keys (
    principal     TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    body          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (principal, key)
);
