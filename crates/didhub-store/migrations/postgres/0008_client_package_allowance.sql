-- The allowance a client package is held to, copied from its package and kept in step by every
-- package edit (under the client package row locks every assignment takes first). The
-- assignment's conditional update then compares two columns of the row it locks: a package
-- edit that lowers the allowance cannot be overrun by an assignment that read the old value.
ALTER TABLE client_packages ADD COLUMN did_allowance integer NOT NULL DEFAULT 0;
UPDATE client_packages
   SET did_allowance = (SELECT p.did_allowance FROM packages p WHERE p.id = client_packages.package_id);
