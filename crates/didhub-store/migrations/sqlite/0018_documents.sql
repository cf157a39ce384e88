-- SQLite twin of the PostgreSQL migration 0018 (documents).
CREATE TABLE documents (
    id            BLOB PRIMARY KEY,
    sha256        TEXT NOT NULL CHECK (length(sha256) = 64),
    kind          TEXT NOT NULL CHECK (kind IN ('loa', 'invoice', 'agreement', 'other', 'attachment')),
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL CHECK (size > 0),
    file_name     TEXT NOT NULL,
    partner_id    BLOB NOT NULL REFERENCES partners (id),
    subject_kind  TEXT CHECK (subject_kind IN ('order', 'ticket')),
    subject_id    BLOB,
    uploaded_by   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    CHECK ((subject_kind IS NULL) = (subject_id IS NULL))
);
CREATE INDEX documents_partner ON documents (partner_id, id);
CREATE INDEX documents_subject ON documents (subject_kind, subject_id, id);
CREATE INDEX documents_sha256 ON documents (sha256);
