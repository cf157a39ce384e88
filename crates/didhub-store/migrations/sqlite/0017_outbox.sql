-- SQLite twin of the PostgreSQL migration 0017 (the mail outbox).
CREATE TABLE mail_outbox (
    id              BLOB NOT NULL PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    sender          TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    in_reply_to     TEXT,
    refs            TEXT NOT NULL,
    about_kind      TEXT CHECK (about_kind IN ('order', 'ticket')),
    about_id        BLOB,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    locked_by       BLOB,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    CHECK ((about_kind IS NULL) = (about_id IS NULL))
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX mail_outbox_state ON mail_outbox (state, id);
CREATE INDEX mail_outbox_about ON mail_outbox (about_kind, about_id) WHERE about_id IS NOT NULL;
