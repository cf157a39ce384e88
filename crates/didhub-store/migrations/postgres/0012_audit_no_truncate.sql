-- The audit log is append-only: 0001 refuses UPDATE and DELETE row by row; TRUNCATE fires no
-- row trigger, so it gets a statement trigger of its own.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
