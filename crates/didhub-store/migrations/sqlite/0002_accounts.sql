-- SQLite twin of the PostgreSQL migration 0002.
-- Partners, customers, PBXs, licenses, services; users, sessions, login throttling.

CREATE TABLE partners (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX partners_name_key ON partners (lower(name));

CREATE TABLE customers (
    id          BLOB PRIMARY KEY,
    partner_id  BLOB NOT NULL REFERENCES partners (id),
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX customers_name_key ON customers (partner_id, lower(name));

CREATE TABLE pbxs (
    id             BLOB PRIMARY KEY,
    customer_id    BLOB NOT NULL REFERENCES customers (id),
    name           TEXT NOT NULL,
    serial_number  TEXT NOT NULL,
    region         TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX pbxs_serial_key ON pbxs (serial_number);
CREATE INDEX pbxs_customer ON pbxs (customer_id);

-- One license per PBX: the current period.
CREATE TABLE licenses (
    pbx_id        BLOB PRIMARY KEY REFERENCES pbxs (id),
    term_kind     TEXT NOT NULL CHECK (term_kind IN ('monthly', 'yearly', 'five_year')),
    period_start  TEXT NOT NULL,
    expires       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE service_kinds (
    id          BLOB PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- List price of a service kind for a full period of a term kind, in minor units.
CREATE TABLE service_prices (
    service_kind_id  BLOB NOT NULL REFERENCES service_kinds (id),
    term_kind        TEXT NOT NULL CHECK (term_kind IN ('monthly', 'yearly', 'five_year')),
    currency         TEXT NOT NULL,
    amount_minor     INTEGER NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (service_kind_id, term_kind, currency)
);

CREATE TABLE services (
    id               BLOB PRIMARY KEY,
    pbx_id           BLOB NOT NULL REFERENCES pbxs (id),
    service_kind_id  BLOB NOT NULL REFERENCES service_kinds (id),
    term_kind        TEXT NOT NULL,
    currency         TEXT NOT NULL,
    service_start    TEXT NOT NULL,
    expires          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    version          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX services_pbx ON services (pbx_id);

-- What each period of a service cost: the pro-rata first period, then full renewals.
CREATE TABLE service_charges (
    id             BLOB PRIMARY KEY,
    service_id     BLOB NOT NULL REFERENCES services (id),
    period_start   TEXT NOT NULL,
    charged_from   TEXT NOT NULL,
    expires        TEXT NOT NULL,
    days           INTEGER NOT NULL,
    period_days    INTEGER NOT NULL,
    list_minor     INTEGER NOT NULL,
    amount_minor   INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('initial', 'renewal')),
    created_at     TEXT NOT NULL
);
CREATE INDEX service_charges_service ON service_charges (service_id, id);

-- Orders arrive with the ordering work; the state is what makes a customer active.
CREATE TABLE orders (
    id           BLOB PRIMARY KEY,
    customer_id  BLOB NOT NULL REFERENCES customers (id),
    state        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX orders_customer ON orders (customer_id, state);

CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    email          TEXT NOT NULL,
    password_hash  TEXT,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'operations', 'support', 'partner_admin', 'partner_member')),
    partner_id     BLOB REFERENCES partners (id),
    disabled_at    TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    CHECK ((role IN ('partner_admin', 'partner_member')) = (partner_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE sessions (
    id          BLOB PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    csrf_token  TEXT NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE login_failures (
    id       BLOB PRIMARY KEY,
    account  TEXT NOT NULL,
    address  TEXT NOT NULL,
    at       TEXT NOT NULL
);
CREATE INDEX login_failures_account ON login_failures (account, at);
CREATE INDEX login_failures_address ON login_failures (address, at);

-- Tokens belong to users; tokens made before accounts existed go to the bootstrap admin.
ALTER TABLE api_tokens ADD COLUMN user_id BLOB REFERENCES users (id);
INSERT INTO users (id, email, role, created_at, updated_at)
    SELECT X'00000000000070008000000000000001', 'admin@localhost', 'admin', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE EXISTS (SELECT 1 FROM api_tokens);
UPDATE api_tokens SET user_id = X'00000000000070008000000000000001' WHERE user_id IS NULL;
