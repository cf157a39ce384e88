-- SQLite twin of the PostgreSQL migration 0019 (the support desk).
-- The support desk (didhub-core/src/ticket.rs and sla.rs; didhub-store/src/support/).

-- Support centres: support hours Monday to Friday, 09:00 to 18:00 in the centre's zone,
-- closed on the days its country's working-day calendar (with its closures) does not work.
CREATE TABLE support_centres (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    country     TEXT NOT NULL CHECK (length(country) = 2)
);
INSERT INTO support_centres (code, name, time_zone, country) VALUES
    ('europe', 'Europe', 'Europe/Rome', 'IT'),
    ('americas', 'Americas', 'America/New_York', 'US');

-- The centre of a partner; a partner without a row belongs to 'europe'.
CREATE TABLE partner_support_centres (
    partner_id  BLOB PRIMARY KEY REFERENCES partners (id) ON DELETE CASCADE,
    centre      TEXT NOT NULL REFERENCES support_centres (code),
    updated_at  TEXT NOT NULL
);

CREATE TABLE tickets (
    id                  BLOB PRIMARY KEY,
    ref                 INTEGER NOT NULL,
    partner_id          BLOB NOT NULL REFERENCES partners (id),
    customer_id         BLOB REFERENCES customers (id),
    pbx_id              BLOB REFERENCES pbxs (id),
    device_serial       TEXT,
    subject             TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('technical', 'non_technical')),
    topic               TEXT CHECK (topic IN ('accounting', 'billing', 'invoices')),
    channel             TEXT NOT NULL CHECK (channel IN ('portal', 'phone', 'chat', 'social', 'email')),
    state               TEXT NOT NULL CHECK (state IN ('open', 'pending', 'solved', 'closed')),
    class               TEXT NOT NULL CHECK (class IN ('critical', 'standard')),
    criterion           TEXT CHECK (criterion IN ('call_drops', 'cloud_unreachable', 'business_impacted')),
    -- Who set the class: the partner's ask (critical, naming the criterion) or support staff.
    class_set_by        TEXT NOT NULL CHECK (class_set_by IN ('partner', 'staff')),
    -- WMS version, firmware, diagnostics, traces (didhub_core::ticket::TicketDetails), as JSON.
    details             TEXT NOT NULL,
    remote_address      TEXT,
    -- Login and password, sealed (didhub_core::secret): '<key id>.<hex>'.
    remote_secret       TEXT,
    contact_email       TEXT,
    assignee_id         BLOB REFERENCES users (id),
    centre              TEXT NOT NULL REFERENCES support_centres (code),
    first_response_due  TEXT NOT NULL,
    -- The first public reply by support staff.
    first_response_at   TEXT,
    -- The month the ticket counts in for the SLA report: its creation, on the centre's clock.
    sla_month           TEXT NOT NULL,
    -- The last SLA notice mailed to support: 'at_risk', then 'breached'.
    sla_notice          TEXT CHECK (sla_notice IN ('at_risk', 'breached')),
    created_by          TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    closed_at           TEXT,
    version             INTEGER NOT NULL DEFAULT 1,
    CHECK ((class = 'critical') = (criterion IS NOT NULL))
);
CREATE UNIQUE INDEX tickets_ref ON tickets (ref);
CREATE INDEX tickets_partner ON tickets (partner_id, ref);
-- The at-risk and breached lists: only tickets still awaiting their first response.
CREATE INDEX tickets_awaiting ON tickets (first_response_due) WHERE first_response_at IS NULL AND state <> 'closed';
-- The SLA report, by month.
CREATE INDEX tickets_month ON tickets (sla_month);

-- The conversation: public messages, and internal notes partners never see.
CREATE TABLE ticket_messages (
    id               BLOB PRIMARY KEY,
    ticket_id        BLOB NOT NULL REFERENCES tickets (id),
    at               TEXT NOT NULL,
    author           TEXT NOT NULL,
    side             TEXT NOT NULL CHECK (side IN ('staff', 'partner')),
    visibility       TEXT NOT NULL CHECK (visibility IN ('public', 'internal')),
    channel          TEXT NOT NULL CHECK (channel IN ('portal', 'phone', 'chat', 'social', 'email')),
    body             TEXT NOT NULL,
    -- The Message-ID of the mail it came in (channel 'email').
    mail_message_id  TEXT
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, at);

-- Earlier tickets a ticket references; the referenced one shows the link back.
CREATE TABLE ticket_references (
    ticket_id   BLOB NOT NULL REFERENCES tickets (id),
    refers_to   BLOB NOT NULL REFERENCES tickets (id),
    PRIMARY KEY (ticket_id, refers_to)
);
CREATE INDEX ticket_references_back ON ticket_references (refers_to);

-- A ticket's timeline: changes of state, class and assignee, who made them and why.
CREATE TABLE ticket_events (
    id          BLOB PRIMARY KEY,
    ticket_id   BLOB NOT NULL REFERENCES tickets (id),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    field       TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    reason      TEXT
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at);

-- Every mail received (raw, as delivered) and what became of it; one row per Message-ID
-- (or per content, for a mail without one), so that a mail delivered twice counts once.
CREATE TABLE support_inbound (
    id           BLOB PRIMARY KEY,
    mail_key     TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    sender       TEXT,
    subject      TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('appended', 'no_reference', 'closed', 'unknown_sender')),
    ticket_id    BLOB REFERENCES tickets (id),
    message_id   BLOB REFERENCES ticket_messages (id),
    raw          BLOB NOT NULL
);
CREATE UNIQUE INDEX support_inbound_key ON support_inbound (mail_key);
CREATE INDEX support_inbound_received ON support_inbound (received_at);
