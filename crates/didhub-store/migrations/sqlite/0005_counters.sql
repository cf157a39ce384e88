-- SQLite twin of the PostgreSQL migration 0005.
-- Counters that keep single-DID assignment to a handful of row writes:
--  * client_packages.did_count: the DIDs assigned or on hold under it, maintained with every
--    change, so the allowance check is one conditional UPDATE instead of a count(*) that grows
--    with the package;
--  * stock_deltas: in-stock changes per block of 100, appended by writers and folded into
--    stock_blocks later (by block allocation and a background pass), so that concurrent
--    assignments never wait on the same stock_blocks row.
-- Indexes on columns that most DIDs leave empty become partial, so that importing or
-- allocating stock adds no entries to them.

ALTER TABLE client_packages ADD COLUMN did_count INTEGER NOT NULL DEFAULT 0;
UPDATE client_packages SET did_count = (SELECT count(*) FROM dids WHERE dids.client_package_id = client_packages.id);

CREATE TABLE stock_deltas (
    prefix       TEXT NOT NULL,
    operator_id  BLOB NOT NULL,
    country      TEXT NOT NULL,
    number_type  TEXT NOT NULL,
    delta        INTEGER NOT NULL
);

DROP INDEX dids_client_package;
CREATE INDEX dids_client_package ON dids (client_package_id) WHERE client_package_id IS NOT NULL;
DROP INDEX dids_customer;
CREATE INDEX dids_customer ON dids (customer_id, number) WHERE customer_id IS NOT NULL;
DROP INDEX dids_hold;
CREATE INDEX dids_hold ON dids (hold_until) WHERE status = 'hold';
