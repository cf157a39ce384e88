//! SQLite bulk insert of DIDs: one prepared statement stepped per row with the values bound in
//! place, on the connection of the caller's open transaction.
//!
//! sqlx runs each SQLite statement on its connection's worker thread and hands the result back
//! over a channel, a round trip per statement; so rows in bulk used to go as one JSON parameter
//! per 2,000 rows, which SQLite then parsed and picked apart again (most of an import's time).
//! Here the values are bound straight into a prepared statement, as the `sqlite3` shell's
//! `.import` does, on the very connection sqlx holds (its raw handle, locked so its worker
//! cannot use it meanwhile): the rows are part of the caller's transaction like any other
//! statement's. (A statement of several rows was measured slower than one row stepped per row.)

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::inventory::export::CopyRow;
use crate::{new_id, Result};

/// How long one hold of the connection may last. The insert steps SQLite on the calling
/// thread, which in `serve` is an HTTP thread with other connections to answer: it gives way
/// this often (checked every `CHECK_EVERY` rows), at the cost of one lock and one prepare per
/// hold.
const HOLD: Duration = Duration::from_millis(4);
const CHECK_EVERY: usize = 64;

const INSERT: &str = concat!(
    "INSERT INTO dids (",
    crate::inventory::dids::new_did_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, 1) ON CONFLICT (number) DO NOTHING"
);

/// Inserts `rows` in the order given (each with a new id), skipping numbers already in
/// `dids`; returns the skipped numbers. An import hands each chunk over sorted by number
/// (`sqlite_write` in import.rs). Times are stored as sqlx stores a `DateTime<Utc>` on SQLite, so they
/// compare and read back alike.
pub(crate) async fn insert_dids(
    conn: &mut SqliteConnection,
    rows: &[CopyRow<'_>],
    batch_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<String>> {
    let at = at.to_rfc3339_opts(SecondsFormat::AutoSi, false);
    let mut skipped = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let mut handle = conn.lock_handle().await?;
        // SAFETY: the handle is the open connection sqlx keeps alive while `handle` (its lock)
        // is held, and the lock keeps sqlx's worker off it. rusqlite borrows the handle (a
        // `from_handle` connection never closes it) and is dropped, finalizing its statement,
        // before the lock is released. Its drop also clears the connection's hooks when
        // rusqlite's `hooks` or `preupdate_hook` feature is on: both stay off (Cargo.toml).
        let db = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
        let done = insert_some(&db, rest, batch_id, &at, &mut skipped);
        drop(db);
        drop(handle);
        rest = &rest[done?..];
        if !rest.is_empty() {
            tokio::task::yield_now().await;
        }
    }
    Ok(skipped)
}

/// Inserts rows from the front of `rows` for up to `HOLD`; returns how many it took.
fn insert_some(
    db: &rusqlite::Connection,
    rows: &[CopyRow<'_>],
    batch_id: Uuid,
    at: &str,
    skipped: &mut Vec<String>,
) -> rusqlite::Result<usize> {
    let started = Instant::now();
    let mut st = db.prepare(INSERT)?;
    // The same for every row: bound once.
    st.raw_bind_parameter(10, batch_id.as_bytes().as_slice())?;
    st.raw_bind_parameter(11, at)?;
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
        // Nothing written: the number was there already (the caller passes each number once).
        if st.raw_execute()? == 0 {
            skipped.push(r.number.to_string());
        }
    }
    Ok(rows.len())
}
