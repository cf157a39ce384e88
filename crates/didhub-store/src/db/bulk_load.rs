//! Bulk loading: a large import builds the DIDs table's indexes once, at the end, instead of
//! inserting every number into them as it goes. PostgreSQL and SQLite alike.
//!
//! Why: numbers arrive in no particular order, so each row's insert into the unique number
//! index lands on a random B-tree page, and a million of them cost more than the rows
//! themselves. Building the index after the rows are in sorts once: on PostgreSQL 7.1 s
//! became 4.4 s for a million rows; on SQLite the number index is what separated the import
//! from `sqlite3` loading the same rows in number order (docs/PERFORMANCE.md). The price on
//! PostgreSQL is the table: the import holds `dids` in ACCESS EXCLUSIVE mode until it
//! commits, so readers and writers of the inventory wait for it. SQLite has one writer
//! anyway, and its readers (WAL) keep the snapshot they began with, indexes included, so
//! nobody waits longer than for any import. Hence the rule (`Store::bulk_import_min_rows`):
//! - only for a file of at least that many rows (100,000 by default; 0 turns bulk loading
//!   off) and at least as many rows as the inventory already holds, where rebuilding the
//!   indexes costs less than growing them;
//! - never for a dry run, which must not stop anyone;
//! - PostgreSQL: only if the lock comes within a second (a waiting lock request queues every
//!   reader behind it); otherwise the import takes the row-by-row path, as a smaller one would.
//!
//! Only the indexes that are neither the primary key (its UUIDv7 keys arrive in order) nor
//! partial (stock DIDs have no entry in them) are rebuilt: today the number index and the
//! follower's `updated_at` index. They are read from the catalog, so an index a later
//! migration adds is handled alike. Everything happens in the import's transaction: a failed
//! or killed import rolls the dropped indexes back with its rows.
//!
//! With the unique index gone, the import checks duplicates against the numbers the table
//! held when the load began (read once, as integers: 8 bytes a number). Nothing else can
//! write meanwhile, and the index built at the end would refuse a duplicate anyway.

use futures::TryStreamExt;
use sqlx::{Connection, PgConnection, SqliteConnection};
use uuid::Uuid;

use crate::db::sql::Tx;
use crate::Result;

/// A bulk load in progress in an import's transaction.
pub(crate) struct BulkLoad {
    /// Definitions of the indexes dropped for the load, run again before the import commits.
    rebuild: Vec<String>,
    /// The inventory's numbers when the load began, as integers, sorted.
    taken: Vec<u64>,
    /// The operators the load holds (`FOR KEY SHARE`), all of them when it began.
    pub(crate) operators: Vec<Uuid>,
}

/// A number's key in the set (see `E164::integer`).
fn key(number: &str) -> Option<u64> {
    didhub_core::number::E164::integer(number)
}

/// An identifier as PostgreSQL quotes it.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl BulkLoad {
    /// Starts a bulk load for an import of `rows` rows if the rule above allows it, in a
    /// savepoint of the import's transaction: whatever stands in the way (the size rule, a
    /// busy table, a catalog a compatible engine does not have) leaves the transaction as it
    /// was and the import takes the row path.
    pub(crate) async fn begin(
        conn: &mut PgConnection,
        rows: u64,
        min_rows: u64,
    ) -> Result<Option<BulkLoad>> {
        if min_rows == 0 || rows < min_rows {
            return Ok(None);
        }
        let mut sp = conn.begin().await?;
        match Self::prepare(&mut sp, rows).await {
            Ok(Some(load)) => {
                sp.commit().await?;
                tracing::info!(
                    rows,
                    rebuild = load.rebuild.len(),
                    "bulk import: dids locked, indexes rebuilt at commit"
                );
                metrics::counter!("didhub_import_bulk_loads_total").increment(1);
                Ok(Some(load))
            }
            Ok(None) => {
                sp.rollback().await?;
                Ok(None)
            }
            Err(e) => {
                sp.rollback().await?;
                tracing::info!(rows, "bulk import not taken, importing row by row: {e}");
                Ok(None)
            }
        }
    }

    async fn prepare(c: &mut PgConnection, rows: u64) -> Result<Option<BulkLoad>> {
        // The planner's row estimate (kept by autovacuum); counted if the table was never
        // analyzed. Read before locking: a larger inventory takes the row path untouched.
        let held: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN reltuples >= 0 THEN reltuples::bigint \
             ELSE (SELECT count(*) FROM dids) END FROM pg_class WHERE oid = 'dids'::regclass",
        )
        .fetch_one(&mut *c)
        .await?;
        if u64::try_from(held).unwrap_or(0) > rows {
            return Ok(None);
        }
        // The numbers read below must be the table's state under the lock, which only a
        // statement snapshot gives (a REPEATABLE READ snapshot may predate the lock).
        let isolation: String =
            sqlx::query_scalar("SELECT current_setting('transaction_isolation')")
                .fetch_one(&mut *c)
                .await?;
        if isolation != "read committed" {
            return Ok(None);
        }
        // Operators first, in id order, as every writer of DIDs takes them (and as deleting
        // an operator does, before it counts the operator's DIDs): taken after the table,
        // they could close a cycle with a delete that holds its operator and waits for the
        // table.
        let operators: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM operators ORDER BY id FOR KEY SHARE")
                .fetch_all(&mut *c)
                .await?;
        sqlx::Executor::execute(
            &mut *c,
            "SET LOCAL lock_timeout = '1s'; LOCK TABLE dids IN ACCESS EXCLUSIVE MODE; \
             SET LOCAL lock_timeout TO DEFAULT",
        )
        .await?;
        // Dropped by their qualified names; built again as defined, in their tablespace.
        let indexes: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), \
             (SELECT t.spcname::text FROM pg_tablespace t WHERE t.oid = c.reltablespace) \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = 'dids'::regclass AND NOT i.indisprimary AND i.indpred IS NULL \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) \
             ORDER BY c.relname",
        )
        .fetch_all(&mut *c)
        .await?;
        let mut taken = Vec::with_capacity(usize::try_from(held).unwrap_or(0));
        {
            let mut numbers = sqlx::Executor::fetch(&mut *c, "SELECT number FROM dids");
            while let Some(row) = numbers.try_next().await? {
                let n: &str = sqlx::Row::try_get(&row, 0)?;
                match key(n) {
                    Some(k) => taken.push(k),
                    // Not a number this check can hold: leave it to the unique index.
                    None => return Ok(None),
                }
            }
        }
        // The planner's count was an estimate: rebuilding pays only for a file at least as
        // large as the table.
        if taken.len() as u64 > rows {
            return Ok(None);
        }
        taken.sort_unstable();
        for (name, _, _) in &indexes {
            sqlx::Executor::execute(&mut *c, format!("DROP INDEX {name}").as_str()).await?;
        }
        Ok(Some(BulkLoad {
            rebuild: indexes
                .into_iter()
                .map(|(_, def, space)| match space {
                    Some(space) => format!("{def} TABLESPACE {}", quote_ident(&space)),
                    None => def,
                })
                .collect(),
            taken,
            operators,
        }))
    }

    /// Whether the number was in the inventory when the load began.
    pub(crate) fn taken(&self, number: &str) -> bool {
        key(number).is_some_and(|k| self.taken.binary_search(&k).is_ok())
    }

    /// Starts a bulk load on SQLite, in the import's transaction (`BEGIN IMMEDIATE`: no other
    /// writer until it ends), by the same size rule as PostgreSQL's.
    pub(crate) async fn begin_sqlite(
        conn: &mut SqliteConnection,
        rows: u64,
        min_rows: u64,
    ) -> Result<Option<BulkLoad>> {
        if min_rows == 0 || rows < min_rows {
            return Ok(None);
        }
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM dids")
            .fetch_one(&mut *conn)
            .await?;
        if u64::try_from(held).unwrap_or(0) > rows {
            return Ok(None);
        }
        // Indexes made by CREATE INDEX (not constraints: they cannot be dropped), not partial.
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT l.name, s.sql FROM pragma_index_list('dids') l \
             JOIN sqlite_schema s ON s.type = 'index' AND s.name = l.name \
             WHERE l.origin = 'c' AND l.partial = 0 AND s.sql IS NOT NULL ORDER BY l.name",
        )
        .fetch_all(&mut *conn)
        .await?;
        let Some(mut taken) = crate::db::sqlite_bulk::numbers(conn).await? else {
            // Not a number this check can hold: leave it to the unique index.
            return Ok(None);
        };
        taken.sort_unstable();
        for (name, _) in &indexes {
            let drop = format!("DROP INDEX main.\"{}\"", name.replace('"', "\"\""));
            sqlx::query(&drop).execute(&mut *conn).await?;
        }
        tracing::info!(
            rows,
            rebuild = indexes.len(),
            "bulk import: indexes rebuilt at commit"
        );
        metrics::counter!("didhub_import_bulk_loads_total").increment(1);
        Ok(Some(BulkLoad {
            rebuild: indexes.into_iter().map(|(_, def)| def).collect(),
            taken,
            operators: Vec::new(),
        }))
    }

    /// Builds the dropped indexes again; the import commits after this.
    pub(crate) async fn finish(self, tx: &mut Tx) -> Result<()> {
        let started = std::time::Instant::now();
        for def in &self.rebuild {
            match tx {
                Tx::Postgres(c) => {
                    sqlx::Executor::execute(&mut **c, def.as_str()).await?;
                }
                Tx::Sqlite(c) => {
                    // The sort that builds the index may use helper threads (SQLite's
                    // default is none); set for this build only.
                    let threads =
                        std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
                    sqlx::query(&format!("PRAGMA threads = {threads}"))
                        .execute(&mut **c)
                        .await?;
                    let built = sqlx::Executor::execute(&mut **c, def.as_str()).await;
                    sqlx::query("PRAGMA threads = 0").execute(&mut **c).await?;
                    built?;
                }
            }
        }
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "bulk import: indexes rebuilt"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_of_numbers() {
        assert_eq!(key("+441612345678"), Some(441_612_345_678));
        assert_eq!(key("+999999999999999"), Some(999_999_999_999_999));
        assert_eq!(key("441612345678"), None);
        assert_eq!(key("+"), None);
        assert_eq!(key("+0441612345678"), None);
        assert_eq!(key("+1234567890123456"), None);
        assert_eq!(key("+44 161"), None);
        assert_eq!(key("+-1"), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("dids_number_key"), "\"dids_number_key\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    proptest! {
        /// Distinct E.164 numbers have distinct keys, and a key finds its number in a load.
        #[test]
        fn keys_are_exact(a in "\\+[1-9][0-9]{1,14}", b in "\\+[1-9][0-9]{1,14}") {
            prop_assert_eq!(key(&a) == key(&b), a == b);
            let mut taken = vec![key(&a).unwrap_or_default()];
            taken.sort_unstable();
            let load = BulkLoad { rebuild: Vec::new(), taken, operators: Vec::new() };
            prop_assert!(load.taken(&a));
            prop_assert_eq!(load.taken(&b), a == b);
        }
    }
}
