-- Lets a single-statement write refuse as a whole: raised when an assignment could not take
-- every DID it named (package not active, allowance, a DID taken or not qualifying), so that
-- the statement's reservation, updates and audit entries are all undone and the caller can
-- explain why from the core rules.
CREATE FUNCTION didhub_expect(expected bigint, got bigint) RETURNS bigint AS $$
BEGIN
    IF got <> expected THEN
        RAISE EXCEPTION 'didhub: % of % rows' , got, expected USING ERRCODE = 'DH409';
    END IF;
    RETURN got;
END;
$$ LANGUAGE plpgsql;

-- A UUIDv7 from the database's clock at the moment the row is written: 48 bits of Unix
-- milliseconds, the version, 12 bits of sub-millisecond time (RFC 9562 method 3), the variant
-- and random bits. Audit entries take their ids from it, so that entries about one DID written
-- by transactions that waited on each other's row locks are in the order the changes were
-- made, whatever the clocks of the application hosts. (PL/pgSQL keeps its expressions
-- prepared; a SQL function with a subquery would be parsed again on every call.)
CREATE FUNCTION didhub_uuid7() RETURNS uuid AS $$
DECLARE
    t numeric := extract(epoch FROM clock_timestamp()) * 1000;
BEGIN
    RETURN (lpad(to_hex(floor(t)::bigint), 12, '0')
            || '7' || lpad(to_hex(floor((t - floor(t)) * 4096)::int), 3, '0')
            || to_hex(8 + floor(random() * 4)::int)
            || substr(md5(random()::text), 1, 15))::uuid;
END;
$$ LANGUAGE plpgsql VOLATILE;
