//! Tests of the command line: the real binary on a fresh database (SQLite, and PostgreSQL when
//! DIDHUB_TEST_DATABASE_URL is set).
//! One test binary per crate; one module per area.

#[macro_use]
mod common;

mod accounts;
mod calendar;
mod catalog;
mod classify;
mod documents;
mod export;
mod ids;
mod import;
mod import_limits;
mod inventory;
mod mail;
mod orders;
mod output;
mod reliability;
mod support;
