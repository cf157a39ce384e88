-- Documents (letters of authorisation, invoices, agreements, ticket attachments): one row per
-- upload, owned by a partner, optionally attached to an order or a ticket. The content itself
-- is kept outside the database, content-addressed by its SHA-256 (`sha256`), so two uploads
-- of the same bytes are two rows over one object (didhub-store/src/documents/).
CREATE TABLE documents (
    id            uuid PRIMARY KEY,
    sha256        text NOT NULL CHECK (length(sha256) = 64),
    kind          text NOT NULL CHECK (kind IN ('loa', 'invoice', 'agreement', 'other', 'attachment')),
    content_type  text NOT NULL,
    size          bigint NOT NULL CHECK (size > 0),
    file_name     text NOT NULL,
    partner_id    uuid NOT NULL REFERENCES partners (id),
    subject_kind  text CHECK (subject_kind IN ('order', 'ticket')),
    subject_id    uuid,
    uploaded_by   text NOT NULL,
    created_at    timestamptz NOT NULL,
    CHECK ((subject_kind IS NULL) = (subject_id IS NULL))
);
CREATE INDEX documents_partner ON documents (partner_id, id);
CREATE INDEX documents_subject ON documents (subject_kind, subject_id, id);
CREATE INDEX documents_sha256 ON documents (sha256);
