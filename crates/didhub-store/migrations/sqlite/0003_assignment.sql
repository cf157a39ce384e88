-- SQLite twin of the PostgreSQL migration 0003.

CREATE TABLE packages (
    id             BLOB PRIMARY KEY,
    name           TEXT NOT NULL,
    did_allowance  INTEGER NOT NULL CHECK (did_allowance >= 0),
    tag            TEXT,
    country        TEXT,
    number_type    TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX packages_name_key ON packages (lower(name));

CREATE TABLE package_prices (
    package_id    BLOB NOT NULL REFERENCES packages (id),
    term_kind     TEXT NOT NULL CHECK (term_kind IN ('monthly', 'yearly', 'five_year')),
    currency      TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (package_id, term_kind, currency)
);

CREATE TABLE client_packages (
    id           BLOB PRIMARY KEY,
    package_id   BLOB NOT NULL REFERENCES packages (id),
    customer_id  BLOB NOT NULL REFERENCES customers (id),
    start_date   TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('active', 'inactive', 'terminated')),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX client_packages_customer ON client_packages (customer_id);

ALTER TABLE dids ADD COLUMN customer_id BLOB REFERENCES customers (id);
ALTER TABLE dids ADD COLUMN client_package_id BLOB REFERENCES client_packages (id);
ALTER TABLE dids ADD COLUMN destination TEXT;
ALTER TABLE dids ADD COLUMN hold_until TEXT;
-- SQLite cannot add a CHECK to an existing table: the same rule as triggers.
CREATE TRIGGER dids_assignment_insert BEFORE INSERT ON dids
WHEN (NEW.status IN ('assigned', 'hold')) <> (NEW.customer_id IS NOT NULL AND NEW.client_package_id IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'dids_assignment: a DID in use has exactly one customer'); END;
CREATE TRIGGER dids_assignment_update BEFORE UPDATE ON dids
WHEN (NEW.status IN ('assigned', 'hold')) <> (NEW.customer_id IS NOT NULL AND NEW.client_package_id IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'dids_assignment: a DID in use has exactly one customer'); END;
CREATE INDEX dids_client_package ON dids (client_package_id);
CREATE INDEX dids_customer ON dids (customer_id, number);
CREATE INDEX dids_hold ON dids (status, hold_until);
CREATE INDEX dids_updated ON dids (updated_at);
