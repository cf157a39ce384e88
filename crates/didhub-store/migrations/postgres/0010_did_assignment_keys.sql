-- The foreign keys from dids to customers and client_packages queue a trigger event for every
-- inserted DID, although an inserted DID never has a customer (the check then finds NULL and
-- returns): a sixth of the time of importing a million DIDs. Every DID update that sets them
-- checks them again. What they guarded holds without them: a DID takes its customer and client
-- package from the client package row its writer locks (crates/didhub-store/src/assignment.rs),
-- client packages are never deleted nor moved to another customer, and a customer with client
-- packages cannot be deleted (client_packages.customer_id keeps its foreign key). As 0007 did
-- for operators.
ALTER TABLE dids DROP CONSTRAINT IF EXISTS dids_client_package_id_fkey;
ALTER TABLE dids DROP CONSTRAINT IF EXISTS dids_customer_id_fkey;
