-- Which DIDs qualify (tag, country, number type), copied from the package onto each client
-- package like the allowance (0008) and kept in step by package edits, under the client
-- package row locks. PostgreSQL's single-statement assignment then reads the rule from the row
-- it locks: after waiting for an edit of the package, it re-reads that row and applies the
-- edited rule, never the one of its start.
ALTER TABLE client_packages ADD COLUMN rule_tag text;
ALTER TABLE client_packages ADD COLUMN rule_country text;
ALTER TABLE client_packages ADD COLUMN rule_number_type text;
UPDATE client_packages
   SET rule_tag = (SELECT p.tag FROM packages p WHERE p.id = client_packages.package_id),
       rule_country = (SELECT p.country FROM packages p WHERE p.id = client_packages.package_id),
       rule_number_type = (SELECT p.number_type FROM packages p WHERE p.id = client_packages.package_id);
