//! Black-box tests of the HTTP API through a real server on a fresh database (SQLite, and
//! PostgreSQL when DIDHUB_TEST_DATABASE_URL is set).
//! One test binary per crate; one module per area.

#[macro_use]
mod common;

mod accounts;
mod api;
mod assignment;
mod bulk_import;
mod docs_page;
mod documents;
mod import_limits;
mod openapi;
mod ordering;
mod orders;
mod outbox;
mod request_edges;
mod support;
mod support_mail;
mod support_outbound;
