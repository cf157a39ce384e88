//! Tests of the store: migrations, their checksums, the SQLite bulk path.
//! One test binary per crate; one module per area.

mod migrate_race;
mod migration_checksums;
mod schema_agreement;
mod slow_statements;
mod sqlite_bulk;
mod sqlite_full;
mod sqlite_migration;
