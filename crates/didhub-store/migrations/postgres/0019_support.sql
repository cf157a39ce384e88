-- The support desk (didhub-core/src/ticket.rs and sla.rs; didhub-store/src/support/).

-- Support centres: support hours Monday to Friday, 09:00 to 18:00 in the centre's zone,
-- closed on the days its country's working-day calendar (with its closures) does not work.
CREATE TABLE support_centres (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    time_zone   text NOT NULL,
    country     text NOT NULL CHECK (length(country) = 2)
);
INSERT INTO support_centres (code, name, time_zone, country) VALUES
    ('europe', 'Europe', 'Europe/Rome', 'IT'),
    ('americas', 'Americas', 'America/New_York', 'US');

-- The centre of a partner; a partner without a row belongs to 'europe'.
CREATE TABLE partner_support_centres (
    partner_id  uuid PRIMARY KEY REFERENCES partners (id) ON DELETE CASCADE,
    centre      text NOT NULL REFERENCES support_centres (code),
    updated_at  timestamptz NOT NULL
);

-- Ticket numbers (#N) shown to people and tagged in mail subjects; ids stay uuids.
CREATE SEQUENCE tickets_ref_seq;

CREATE TABLE tickets (
    id                  uuid PRIMARY KEY,
    ref                 bigint NOT NULL,
    partner_id          uuid NOT NULL REFERENCES partners (id),
    customer_id         uuid REFERENCES customers (id),
    pbx_id              uuid REFERENCES pbxs (id),
    device_serial       text,
    subject             text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('technical', 'non_technical')),
    topic               text CHECK (topic IN ('accounting', 'billing', 'invoices')),
    channel             text NOT NULL CHECK (channel IN ('portal', 'phone', 'chat', 'social', 'email')),
    state               text NOT NULL CHECK (state IN ('open', 'pending', 'solved', 'closed')),
    class               text NOT NULL CHECK (class IN ('critical', 'standard')),
    criterion           text CHECK (criterion IN ('call_drops', 'cloud_unreachable', 'business_impacted')),
    -- Who set the class: the partner's ask (critical, naming the criterion) or support staff.
    class_set_by        text NOT NULL CHECK (class_set_by IN ('partner', 'staff')),
    -- WMS version, firmware, diagnostics, traces (didhub_core::ticket::TicketDetails), as JSON.
    details             text NOT NULL,
    remote_address      text,
    -- Login and password, sealed (didhub_core::secret): '<key id>.<hex>'.
    remote_secret       text,
    contact_email       text,
    assignee_id         uuid REFERENCES users (id),
    centre              text NOT NULL REFERENCES support_centres (code),
    first_response_due  timestamptz NOT NULL,
    -- The first public reply by support staff.
    first_response_at   timestamptz,
    -- The month the ticket counts in for the SLA report: its creation, on the centre's clock.
    sla_month           text NOT NULL,
    -- The last SLA notice mailed to support: 'at_risk', then 'breached'.
    sla_notice          text CHECK (sla_notice IN ('at_risk', 'breached')),
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    closed_at           timestamptz,
    version             bigint NOT NULL DEFAULT 1,
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
    id               uuid PRIMARY KEY,
    ticket_id        uuid NOT NULL REFERENCES tickets (id),
    at               timestamptz NOT NULL,
    author           text NOT NULL,
    side             text NOT NULL CHECK (side IN ('staff', 'partner')),
    visibility       text NOT NULL CHECK (visibility IN ('public', 'internal')),
    channel          text NOT NULL CHECK (channel IN ('portal', 'phone', 'chat', 'social', 'email')),
    body             text NOT NULL,
    -- The Message-ID of the mail it came in (channel 'email').
    mail_message_id  text
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, at);

-- Earlier tickets a ticket references; the referenced one shows the link back.
CREATE TABLE ticket_references (
    ticket_id   uuid NOT NULL REFERENCES tickets (id),
    refers_to   uuid NOT NULL REFERENCES tickets (id),
    PRIMARY KEY (ticket_id, refers_to)
);
CREATE INDEX ticket_references_back ON ticket_references (refers_to);

-- A ticket's timeline: changes of state, class and assignee, who made them and why.
CREATE TABLE ticket_events (
    id          uuid PRIMARY KEY,
    ticket_id   uuid NOT NULL REFERENCES tickets (id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    field       text NOT NULL,
    before      text,
    after       text,
    reason      text
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at);

-- Every mail received (raw, as delivered) and what became of it; one row per Message-ID
-- (or per content, for a mail without one), so that a mail delivered twice counts once.
CREATE TABLE support_inbound (
    id           uuid PRIMARY KEY,
    mail_key     text NOT NULL,
    received_at  timestamptz NOT NULL,
    sender       text,
    subject      text,
    outcome      text NOT NULL CHECK (outcome IN ('appended', 'no_reference', 'closed', 'unknown_sender')),
    ticket_id    uuid REFERENCES tickets (id),
    message_id   uuid REFERENCES ticket_messages (id),
    raw          bytea NOT NULL
);
CREATE UNIQUE INDEX support_inbound_key ON support_inbound (mail_key);
CREATE INDEX support_inbound_received ON support_inbound (received_at);
