-- The mail outbox (didhub-store/src/mail/): a mail is written here in the same transaction as
-- the change it tells of, so that it exists if and only if the change committed; a worker
-- sends it (didhub-server/src/jobs/outbox.rs). Rendered once: every attempt sends the same
-- bytes under the same Message-ID.
CREATE TABLE mail_outbox (
    id              uuid PRIMARY KEY,
    message_id      text NOT NULL UNIQUE,
    sender          text NOT NULL,
    recipients      text NOT NULL,          -- JSON list of addresses
    subject         text NOT NULL,
    body            text NOT NULL,
    in_reply_to     text,
    refs            text NOT NULL,          -- JSON list of Message-IDs, oldest first
    about_kind      text CHECK (about_kind IN ('order', 'ticket')),
    about_id        uuid,
    state           text NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    locked_by       uuid,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    CHECK ((about_kind IS NULL) = (about_id IS NULL))
);
-- What a worker claims next.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE state = 'pending';
-- Lists by state, newest first.
CREATE INDEX mail_outbox_state ON mail_outbox (state, id);
-- An order's or a ticket's mails.
CREATE INDEX mail_outbox_about ON mail_outbox (about_kind, about_id) WHERE about_id IS NOT NULL;
