//! SQLite bulk insert of DIDs: rows are staged in a TEMP table by one prepared statement
//! stepped per row, on the connection of the caller's open transaction, then moved into
//! `dids` by one `INSERT … SELECT` a part.
//!
//! Why: sqlx runs each SQLite statement on its connection's worker thread and hands the result
//! back over a channel, a round trip per statement; so the values are bound straight into a
//! prepared statement, as the `sqlite3` shell's `.import` does, on the very connection sqlx
//! holds (its raw handle, locked so its worker cannot use it meanwhile). Stepping an `INSERT`
//! into `dids` itself once per row ran its whole program (foreign key, checks, four indexes,
//! their cursors opened and closed) per row; the staging table has no index, and the move
//! runs that program over the part with its cursors open: SQLite's share of a million-row
//! import fell by about a quarter (bench/JOURNAL.md, 2026-12-06, second entry). Moving the
//! whole import at its end, sorted by number, was measured slower: the sort of whole rows
//! costs more than the number index gains from it, and the staged rows would have to stay
//! until the end. (A statement of several rows was measured slower than one row stepped per
//! row.)

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::inventory::export::CopyRow;
use crate::{new_id, Result};

/// How long one hold of the connection may last. The staging steps SQLite on the calling
/// thread, which in `serve` is an HTTP thread with other connections to answer: it gives way
/// this often (checked every `CHECK_EVERY` rows), at the cost of one lock and one prepare per
/// hold. The move runs on sqlx's worker thread.
const HOLD: Duration = Duration::from_millis(4);
const CHECK_EVERY: usize = 64;
/// Rows staged and moved at a time. A move of several rows keeps a statement journal (in
/// memory, as `temp_store` is) of every existing page it changes, for a foreign key failure
/// part-way: a part of an import chunk (sorted by number) spans a narrow range of the number
/// index, so it changes few of its pages. Parts of a whole chunk (20,000 numbers spread over
/// the index) journaled most of it: a 2,000,000-row import's peak grew by about 40 MB.
const PART: usize = 2_000;

/// Per connection; emptied before each part and after the last. Created inside the caller's transaction: a
/// rollback takes it away again, so it is created (if missing) for every part.
const STAGING: &str = "CREATE TEMP TABLE IF NOT EXISTS didhub_new_dids (id BLOB, number TEXT, \
     country TEXT, number_type TEXT, operator_id BLOB, status TEXT, after_hold TEXT, tag TEXT, \
     notes TEXT)";
const STAGE: &str = "INSERT INTO temp.didhub_new_dids VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const CLEAR: &str = "DELETE FROM temp.didhub_new_dids";
/// In the order staged (`WHERE true`: an upsert after a SELECT needs a WHERE to parse).
const MOVE: &str = concat!(
    "INSERT INTO main.dids (",
    crate::inventory::dids::new_did_columns!(),
    ") SELECT id, number, country, number_type, operator_id, status, after_hold, tag, notes, \
     $1, $2, $2, 1 FROM temp.didhub_new_dids WHERE true ORDER BY rowid \
     ON CONFLICT (number) DO NOTHING"
);
/// The move of a bulk load (`db::bulk_load`): its numbers are known to be new, and the
/// number index it would need for `ON CONFLICT` is being rebuilt.
const MOVE_NEW: &str = concat!(
    "INSERT INTO main.dids (",
    crate::inventory::dids::new_did_columns!(),
    ") SELECT id, number, country, number_type, operator_id, status, after_hold, tag, notes, \
     $1, $2, $2, 1 FROM temp.didhub_new_dids ORDER BY rowid"
);
/// The staged numbers the move skipped: the row `dids` holds for them is another's.
const SKIPPED: &str = "SELECT t.number FROM temp.didhub_new_dids t \
     JOIN main.dids d ON d.number = t.number WHERE d.id <> t.id ORDER BY t.rowid";

/// Inserts `rows` in the order given (each with a new id), skipping numbers already in
/// `dids`; returns the skipped numbers. With `new`, the numbers are known to be new (a bulk
/// load has checked them) and the table has no number index to skip them by. An import hands
/// each chunk over sorted by number (`sqlite_write` in import.rs). Times are stored as sqlx
/// stores a `DateTime<Utc>` on SQLite, so they compare and read back alike.
pub(crate) async fn insert_dids(
    conn: &mut SqliteConnection,
    rows: &[CopyRow<'_>],
    batch_id: Uuid,
    at: DateTime<Utc>,
    new: bool,
) -> Result<Vec<String>> {
    let at = at.to_rfc3339_opts(SecondsFormat::AutoSi, false);
    let mut skipped = Vec::new();
    for part in rows.chunks(PART) {
        stage(conn, part).await?;
        let moved = sqlx::query(if new { MOVE_NEW } else { MOVE })
            .bind(batch_id)
            .bind(at.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if moved as usize != part.len() {
            let there: Vec<String> = sqlx::query_scalar(SKIPPED).fetch_all(&mut *conn).await?;
            skipped.extend(there);
        }
    }
    sqlx::query(CLEAR).execute(&mut *conn).await?;
    Ok(skipped)
}

/// The numbers of `dids` as integers (`E164::integer`), for a bulk load's duplicate check;
/// `None` if one is not a number that check can hold.
pub(crate) async fn numbers(conn: &mut SqliteConnection) -> Result<Option<Vec<u64>>> {
    use futures::TryStreamExt;
    let mut out = Vec::new();
    let mut rows = sqlx::query_scalar::<_, String>("SELECT number FROM dids").fetch(conn);
    while let Some(n) = rows.try_next().await? {
        match didhub_core::number::E164::integer(&n) {
            Some(k) => out.push(k),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// Writes `rows` into the (emptied) staging table, giving the connection back every `HOLD`.
async fn stage(conn: &mut SqliteConnection, rows: &[CopyRow<'_>]) -> Result<()> {
    let mut rest = rows;
    let mut first = true;
    while first || !rest.is_empty() {
        let mut handle = conn.lock_handle().await?;
        // SAFETY: the handle is the open connection sqlx keeps alive while `handle` (its lock)
        // is held, and the lock keeps sqlx's worker off it. rusqlite borrows the handle (a
        // `from_handle` connection never closes it) and is dropped, finalizing its statement,
        // before the lock is released. Its drop also clears the connection's hooks when
        // rusqlite's `hooks` or `preupdate_hook` feature is on: both stay off (Cargo.toml).
        let db = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
        let done = if first {
            db.execute_batch(&format!("{STAGING}; {CLEAR}"))
                .and_then(|()| stage_some(&db, rest))
        } else {
            stage_some(&db, rest)
        };
        drop(db);
        drop(handle);
        first = false;
        rest = &rest[done?..];
        if !rest.is_empty() {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

/// Stages rows from the front of `rows` for up to `HOLD`; returns how many it took.
fn stage_some(db: &rusqlite::Connection, rows: &[CopyRow<'_>]) -> rusqlite::Result<usize> {
    let started = Instant::now();
    let mut st = db.prepare(STAGE)?;
    for (i, r) in rows.iter().enumerate() {
        if i > 0 && i % CHECK_EVERY == 0 && started.elapsed() >= HOLD {
            return Ok(i);
        }
        st.raw_bind_parameter(1, new_id().as_bytes().as_slice())?;
        st.raw_bind_parameter(2, r.number)?;
        st.raw_bind_parameter(3, r.country)?;
        st.raw_bind_parameter(4, r.number_type)?;
        st.raw_bind_parameter(5, r.operator_id.as_bytes().as_slice())?;
        st.raw_bind_parameter(6, r.status.as_str())?;
        st.raw_bind_parameter(7, r.after_hold.as_str())?;
        st.raw_bind_parameter(8, r.tag)?;
        st.raw_bind_parameter(9, r.notes)?;
        st.raw_execute()?;
    }
    Ok(rows.len())
}
