-- The foreign key from dids to operators is checked row by row (a trigger and a query per
-- DID), which took a third of the time of importing a million DIDs. Writers of DIDs now hold
-- the operators they name with FOR KEY SHARE (the lock the check took, once per operator per
-- transaction) and check that they exist; deleting an operator takes FOR UPDATE first, so it
-- waits for them and then counts their DIDs (crates/didhub-store/src/dids.rs hold_operators).
ALTER TABLE dids DROP CONSTRAINT dids_operator_id_fkey;
