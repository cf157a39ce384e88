-- Partners, customers, PBXs, licenses, services; users, sessions, login throttling.

CREATE TABLE partners (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX partners_name_key ON partners (lower(name));

CREATE TABLE customers (
    id          uuid PRIMARY KEY,
    partner_id  uuid NOT NULL REFERENCES partners (id),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX customers_name_key ON customers (partner_id, lower(name));

CREATE TABLE pbxs (
    id             uuid PRIMARY KEY,
    customer_id    uuid NOT NULL REFERENCES customers (id),
    name           text NOT NULL,
    serial_number  text NOT NULL,
    region         text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX pbxs_serial_key ON pbxs (serial_number);
CREATE INDEX pbxs_customer ON pbxs (customer_id);

-- One license per PBX: the current period.
CREATE TABLE licenses (
    pbx_id        uuid PRIMARY KEY REFERENCES pbxs (id),
    term_kind     text NOT NULL CHECK (term_kind IN ('monthly', 'yearly', 'five_year')),
    period_start  date NOT NULL,
    expires       date NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       bigint NOT NULL DEFAULT 1
);

CREATE TABLE service_kinds (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);

-- List price of a service kind for a full period of a term kind, in minor units.
CREATE TABLE service_prices (
    service_kind_id  uuid NOT NULL REFERENCES service_kinds (id),
    term_kind        text NOT NULL CHECK (term_kind IN ('monthly', 'yearly', 'five_year')),
    currency         text NOT NULL,
    amount_minor     bigint NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (service_kind_id, term_kind, currency)
);

CREATE TABLE services (
    id               uuid PRIMARY KEY,
    pbx_id           uuid NOT NULL REFERENCES pbxs (id),
    service_kind_id  uuid NOT NULL REFERENCES service_kinds (id),
    term_kind        text NOT NULL,
    currency         text NOT NULL,
    service_start    date NOT NULL,
    expires          date NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    version          bigint NOT NULL DEFAULT 1
);
CREATE INDEX services_pbx ON services (pbx_id);

-- What each period of a service cost: the pro-rata first period, then full renewals.
CREATE TABLE service_charges (
    id             uuid PRIMARY KEY,
    service_id     uuid NOT NULL REFERENCES services (id),
    period_start   date NOT NULL,
    charged_from   date NOT NULL,
    expires        date NOT NULL,
    days           integer NOT NULL,
    period_days    integer NOT NULL,
    list_minor     bigint NOT NULL,
    amount_minor   bigint NOT NULL,
    currency       text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('initial', 'renewal')),
    created_at     timestamptz NOT NULL
);
CREATE INDEX service_charges_service ON service_charges (service_id, id);

-- Orders arrive with the ordering work; the state is what makes a customer active.
CREATE TABLE orders (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers (id),
    state        text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL DEFAULT 1
);
CREATE INDEX orders_customer ON orders (customer_id, state);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL,
    password_hash  text,
    role           text NOT NULL CHECK (role IN ('admin', 'operations', 'support', 'partner_admin', 'partner_member')),
    partner_id     uuid REFERENCES partners (id),
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL DEFAULT 1,
    CHECK ((role IN ('partner_admin', 'partner_member')) = (partner_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,
    csrf_token  text NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE TABLE login_failures (
    id       uuid PRIMARY KEY,
    account  text NOT NULL,
    address  text NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX login_failures_account ON login_failures (account, at);
CREATE INDEX login_failures_address ON login_failures (address, at);

-- Tokens belong to users; tokens made before accounts existed go to the bootstrap admin.
ALTER TABLE api_tokens ADD COLUMN user_id uuid REFERENCES users (id);
INSERT INTO users (id, email, role, created_at, updated_at)
    SELECT '00000000-0000-7000-8000-000000000001', 'admin@localhost', 'admin', now(), now()
    WHERE EXISTS (SELECT 1 FROM api_tokens);
UPDATE api_tokens SET user_id = '00000000-0000-7000-8000-000000000001' WHERE user_id IS NULL;
