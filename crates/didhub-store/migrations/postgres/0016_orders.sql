-- Orders and porting (didhub-core/src/order.rs, order_flow.rs). The table of migration 0002
-- was a placeholder that nothing wrote; it is replaced by the real one.
DROP TABLE orders;

-- Order numbers (#N) shown to people; ids stay uuids.
CREATE SEQUENCE orders_ref_seq;

CREATE TABLE orders (
    id             uuid PRIMARY KEY,
    ref            bigint NOT NULL,
    partner_id     uuid NOT NULL REFERENCES partners (id),
    customer_id    uuid NOT NULL REFERENCES customers (id),
    country        text NOT NULL,
    service        text NOT NULL,
    state          text NOT NULL CHECK (state IN ('quote', 'draft', 'submitted', 'awaiting_documents',
                       'awaiting_signature', 'awaiting_stock', 'registered', 'scheduled', 'completed',
                       'rejected', 'cancelled')),
    -- The order as its form wrote it (didhub_core::order::OrderBody), as JSON.
    body           text NOT NULL,
    promised_by    date,
    submitted_at   timestamptz,
    signed_at      timestamptz,
    scheduled_for  date,
    -- What registration could not find in stock (awaiting_stock), for operations.
    missing        text,
    reject_code    text,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX orders_ref ON orders (ref);
CREATE INDEX orders_partner ON orders (partner_id, ref);
CREATE INDEX orders_customer ON orders (customer_id, ref);
-- Operations' lists: open orders by promise.
CREATE INDEX orders_promised ON orders (promised_by) WHERE state NOT IN ('completed', 'rejected', 'cancelled');

-- The numbers of a porting or outbound-only order, and those allocated to a new-DID order,
-- each with its own fate: one rejected number does not fail the rest.
CREATE TABLE order_numbers (
    order_id     uuid NOT NULL REFERENCES orders (id),
    number       text NOT NULL,
    state        text NOT NULL CHECK (state IN ('pending', 'registered', 'rejected', 'completed')),
    reject_code  text,
    did_id       uuid,
    PRIMARY KEY (order_id, number)
);

-- The timeline: every change of state, who made it, when and why.
CREATE TABLE order_events (
    id          uuid PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders (id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    reason      text,
    detail      text
);
CREATE INDEX order_events_order ON order_events (order_id, at);
