-- The rule "a DID in use has exactly one customer" becomes a CHECK, as on PostgreSQL. It was two
-- triggers because SQLite cannot add a CHECK to an existing table; a trigger runs a program per
-- row written, which cost an import of a million rows more than a second. So the table is
-- rebuilt (SQLite's documented way to change a table's constraints): same columns in the same
-- order, same indexes. No table references dids, so dropping it checks no foreign key.
-- The status checks are written as comparisons: SQLite evaluates `x IN (list of 3 or more)`
-- in a CHECK by building a temporary index of the list, for every row written (about a fifth
-- of the time of a bulk insert).
CREATE TABLE dids_new (
    id                 BLOB PRIMARY KEY,
    number             TEXT NOT NULL,
    country            TEXT NOT NULL,
    number_type        TEXT NOT NULL,
    operator_id        BLOB NOT NULL REFERENCES operators (id),
    status             TEXT NOT NULL CHECK (status = 'in_stock' OR status = 'reserved' OR status = 'assigned' OR status = 'porting' OR status = 'hold' OR status = 'archive'),
    after_hold         TEXT NOT NULL CHECK (after_hold = 'in_stock' OR after_hold = 'reserved' OR after_hold = 'archive'),
    tag                TEXT,
    notes              TEXT,
    batch_id           BLOB NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    version            INTEGER NOT NULL DEFAULT 1,
    customer_id        BLOB REFERENCES customers (id),
    client_package_id  BLOB REFERENCES client_packages (id),
    destination        TEXT,
    hold_until         TEXT,
    CONSTRAINT dids_assignment CHECK ((status IN ('assigned', 'hold')) = (customer_id IS NOT NULL AND client_package_id IS NOT NULL))
);
INSERT INTO dids_new (id, number, country, number_type, operator_id, status, after_hold, tag, notes, batch_id, created_at, updated_at, version, customer_id, client_package_id, destination, hold_until)
    SELECT id, number, country, number_type, operator_id, status, after_hold, tag, notes, batch_id, created_at, updated_at, version, customer_id, client_package_id, destination, hold_until FROM dids;
DROP TABLE dids;
ALTER TABLE dids_new RENAME TO dids;
CREATE UNIQUE INDEX dids_number_key ON dids (number);
CREATE INDEX dids_updated ON dids (updated_at);
CREATE INDEX dids_client_package ON dids (client_package_id) WHERE client_package_id IS NOT NULL;
CREATE INDEX dids_customer ON dids (customer_id, number) WHERE customer_id IS NOT NULL;
CREATE INDEX dids_hold ON dids (hold_until) WHERE status = 'hold';
