-- SQLite twin of the PostgreSQL migration 0016 (orders, their numbers and timeline).
DROP TABLE orders;

CREATE TABLE orders (
    id             BLOB PRIMARY KEY,
    ref            INTEGER NOT NULL,
    partner_id     BLOB NOT NULL REFERENCES partners (id),
    customer_id    BLOB NOT NULL REFERENCES customers (id),
    country        TEXT NOT NULL,
    service        TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('quote', 'draft', 'submitted', 'awaiting_documents',
                       'awaiting_signature', 'awaiting_stock', 'registered', 'scheduled', 'completed',
                       'rejected', 'cancelled')),
    body           TEXT NOT NULL,
    promised_by    TEXT,
    submitted_at   TEXT,
    signed_at      TEXT,
    scheduled_for  TEXT,
    missing        TEXT,
    reject_code    TEXT,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX orders_ref ON orders (ref);
CREATE INDEX orders_partner ON orders (partner_id, ref);
CREATE INDEX orders_customer ON orders (customer_id, ref);
CREATE INDEX orders_promised ON orders (promised_by) WHERE state NOT IN ('completed', 'rejected', 'cancelled');

CREATE TABLE order_numbers (
    order_id     BLOB NOT NULL REFERENCES orders (id),
    number       TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'registered', 'rejected', 'completed')),
    reject_code  TEXT,
    did_id       BLOB,
    PRIMARY KEY (order_id, number)
);

CREATE TABLE order_events (
    id          BLOB PRIMARY KEY,
    order_id    BLOB NOT NULL REFERENCES orders (id),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    reason      TEXT,
    detail      TEXT
);
CREATE INDEX order_events_order ON order_events (order_id, at);
