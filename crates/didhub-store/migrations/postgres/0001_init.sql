-- didhub schema, PostgreSQL. Only the common core of PostgreSQL: no extensions, no sequences
-- (UUIDv7 keys are made by the application), so a compatible distributed engine can run it.

CREATE TABLE operators (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX operators_name_key ON operators (lower(name));

-- "C" collation: numbers are '+' and digits, compared bytewise, so a prefix is a range scan.
CREATE TABLE dids (
    id           uuid PRIMARY KEY,
    number       text COLLATE "C" NOT NULL,
    country      text NOT NULL,
    number_type  text NOT NULL,
    operator_id  uuid NOT NULL REFERENCES operators (id),
    status       text NOT NULL CHECK (status IN ('in_stock', 'reserved', 'assigned', 'porting', 'hold', 'archive')),
    after_hold   text NOT NULL CHECK (after_hold IN ('in_stock', 'reserved', 'archive')),
    tag          text,
    notes        text,
    batch_id     uuid NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX dids_number_key ON dids (number);

CREATE TABLE audit_log (
    id         uuid PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    entity     text NOT NULL,
    entity_id  uuid,
    subject    text,
    changes    text NOT NULL,
    reason     text
);
CREATE INDEX audit_log_entity ON audit_log (entity_id, id);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    token_hash    text NOT NULL UNIQUE,
    role          text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

CREATE TABLE idempotency_keys (
    principal     text NOT NULL,
    key           text NOT NULL,
    request_hash  text NOT NULL,
    status        integer NOT NULL,
    body          text NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);
