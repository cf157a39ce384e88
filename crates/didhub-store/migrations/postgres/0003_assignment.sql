-- Packages, client packages, DID assignment and hold.

CREATE TABLE packages (
    id             uuid PRIMARY KEY,
    name           text NOT NULL,
    did_allowance  integer NOT NULL CHECK (did_allowance >= 0),
    tag            text,
    country        text,
    number_type    text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX packages_name_key ON packages (lower(name));

CREATE TABLE package_prices (
    package_id    uuid NOT NULL REFERENCES packages (id),
    term_kind     text NOT NULL CHECK (term_kind IN ('monthly', 'yearly', 'five_year')),
    currency      text NOT NULL,
    amount_minor  bigint NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (package_id, term_kind, currency)
);

CREATE TABLE client_packages (
    id           uuid PRIMARY KEY,
    package_id   uuid NOT NULL REFERENCES packages (id),
    customer_id  uuid NOT NULL REFERENCES customers (id),
    start_date   date NOT NULL,
    state        text NOT NULL CHECK (state IN ('active', 'inactive', 'terminated')),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL DEFAULT 1
);
CREATE INDEX client_packages_customer ON client_packages (customer_id);

ALTER TABLE dids ADD COLUMN customer_id uuid REFERENCES customers (id);
ALTER TABLE dids ADD COLUMN client_package_id uuid REFERENCES client_packages (id);
ALTER TABLE dids ADD COLUMN destination text;
ALTER TABLE dids ADD COLUMN hold_until timestamptz;
-- The last line of defence: a DID in use has exactly one customer, a free one none.
ALTER TABLE dids ADD CONSTRAINT dids_assignment CHECK ((status IN ('assigned', 'hold')) = (customer_id IS NOT NULL AND client_package_id IS NOT NULL));
CREATE INDEX dids_client_package ON dids (client_package_id);
CREATE INDEX dids_customer ON dids (customer_id, number);
CREATE INDEX dids_hold ON dids (status, hold_until);
CREATE INDEX dids_updated ON dids (updated_at);
