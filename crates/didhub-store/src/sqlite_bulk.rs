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

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::dids::NewRow;
use crate::{new_id, Result};

/// Rows per hold of the connection. The insert runs on the calling (async) thread, so it stops
/// after this many rows (a few milliseconds) and yields before taking the next slice.
const SLICE: usize = 2_000;

const INSERT: &str = "INSERT INTO dids (id, number, country, number_type, operator_id, status, after_hold, tag, notes, batch_id, created_at, updated_at, version) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, 1) ON CONFLICT (number) DO NOTHING";

/// Inserts `rows` (each with a new id), skipping numbers already in `dids`; returns the
/// skipped numbers. Times are stored as sqlx stores a `DateTime<Utc>` on SQLite, so they
/// compare and read back alike.
pub(crate) async fn insert_dids(
    conn: &mut SqliteConnection,
    rows: &[NewRow],
    batch_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<String>> {
    let at = at.to_rfc3339_opts(SecondsFormat::AutoSi, false);
    let mut skipped = Vec::new();
    for slice in rows.chunks(SLICE) {
        let mut handle = conn.lock_handle().await?;
        // SAFETY: the handle is the open connection sqlx keeps alive while `handle` (its lock)
        // is held, and the lock keeps sqlx's worker off it. rusqlite borrows the handle (a
        // `from_handle` connection never closes it) and is dropped, finalizing its statement,
        // before the lock is released.
        let db = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
        let done = insert_slice(&db, slice, batch_id, &at, &mut skipped);
        drop(db);
        drop(handle);
        done?;
        tokio::task::yield_now().await;
    }
    Ok(skipped)
}

fn insert_slice(
    db: &rusqlite::Connection,
    rows: &[NewRow],
    batch_id: Uuid,
    at: &str,
    skipped: &mut Vec<String>,
) -> rusqlite::Result<()> {
    let mut st = db.prepare(INSERT)?;
    // The same for every row: bound once.
    st.raw_bind_parameter(10, batch_id.as_bytes().as_slice())?;
    st.raw_bind_parameter(11, at)?;
    for r in rows {
        st.raw_bind_parameter(1, new_id().as_bytes().as_slice())?;
        st.raw_bind_parameter(2, &r.number)?;
        st.raw_bind_parameter(3, &r.country)?;
        st.raw_bind_parameter(4, r.number_type)?;
        st.raw_bind_parameter(5, r.operator_id.as_bytes().as_slice())?;
        st.raw_bind_parameter(6, r.status.as_str())?;
        st.raw_bind_parameter(7, r.after_hold.as_str())?;
        st.raw_bind_parameter(8, &r.tag)?;
        st.raw_bind_parameter(9, &r.notes)?;
        // Nothing written: the number was there already (the caller passes each number once).
        if st.raw_execute()? == 0 {
            skipped.push(r.number.clone());
        }
    }
    Ok(())
}
