//! SQLite CSV export on the connection's raw handle: one prepared statement stepped on a
//! blocking thread, rows written as CSV into buffers that the caller's task writes out.
//!
//! Why: through sqlx every row crossed its worker's channel and was decoded into a `DidRow`
//! (times parsed with chrono, then formatted again): an export of a million DIDs took 2–3
//! times what the `sqlite3` shell takes for the same join. Here each value is copied once,
//! from SQLite's column into the CSV buffer. The output is byte for byte what the row path
//! wrote (`export.rs` keeps the header and the quoting rule).

use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, SecondsFormat, TimeZone, Utc,
};
use rusqlite::types::ValueRef;
use sqlx::pool::PoolConnection;
use sqlx::Sqlite;
use tokio::sync::mpsc;

use crate::db::sql::Param;
use crate::{Result, StoreError};

/// Bytes of CSV handed over at a time.
const CHUNK: usize = 256 * 1024;

/// Runs `sql` (its `$n` placeholders bound to `params` as sqlx binds them) and sends its rows
/// as CSV in chunks of about [`CHUNK`] bytes; returns the rows written. Blocking: meant for
/// `spawn_blocking`. Stops quietly when the receiver goes away (the caller failed to write).
///
/// Columns: the first eight are text (`tag` and `notes`, 7 and 8, may be NULL), the last two
/// are times, written as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (see [`write_time`]).
pub(crate) fn run(
    mut conn: PoolConnection<Sqlite>,
    sql: &str,
    params: &[Param],
    tx: mpsc::Sender<Vec<u8>>,
) -> Result<u64> {
    // The lock is async (it waits for sqlx's worker to let go of the connection); this thread
    // has no runtime of its own, and the wait is short.
    let mut handle = futures::executor::block_on(conn.lock_handle())?;
    // SAFETY: as in `sqlite_bulk::insert_dids`: the handle is the open connection sqlx keeps
    // alive while `handle` (its lock) is held, and the lock keeps sqlx's worker off it.
    // rusqlite borrows the handle (a `from_handle` connection never closes it) and is dropped,
    // finalizing its statement, before the lock is released; its `hooks` and
    // `preupdate_hook` features stay off (Cargo.toml).
    let db = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
    let rows = export_rows(&db, sql, params, &tx);
    drop(db);
    drop(handle);
    rows
}

fn export_rows(
    db: &rusqlite::Connection,
    sql: &str,
    params: &[Param],
    tx: &mpsc::Sender<Vec<u8>>,
) -> Result<u64> {
    let mut st = db.prepare(sql)?;
    bind(&mut st, params)?;
    let mut rows = st.raw_query();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
    let mut n = 0u64;
    while let Some(row) = rows.next()? {
        for i in 0..8 {
            if i > 0 {
                buf.push(b',');
            }
            let v = text(row.get_ref(i)?, i)?;
            csv_field(&mut buf, v);
        }
        for i in 8..10 {
            buf.push(b',');
            write_time(&mut buf, row.get_ref(i)?, i)?;
        }
        buf.push(b'\n');
        n += 1;
        if buf.len() >= CHUNK {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK + 4096));
            if tx.blocking_send(full).is_err() {
                return Ok(n);
            }
        }
    }
    if !buf.is_empty() {
        let _ = tx.blocking_send(buf);
    }
    Ok(n)
}

/// Binds each `$n` placeholder to `params[n - 1]`, with the values sqlx would send for them
/// (so that a filter compares alike on both paths).
fn bind(st: &mut rusqlite::Statement<'_>, params: &[Param]) -> Result<()> {
    for i in 1..=st.parameter_count() {
        let n = st
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|digits| digits.parse::<usize>().ok())
            .ok_or_else(|| {
                StoreError::Config(format!("placeholder {i} of the export is not $n"))
            })?;
        // An unbound placeholder is NULL, as sqlx leaves it.
        let Some(p) = n.checked_sub(1).and_then(|k| params.get(k)) else {
            continue;
        };
        match p {
            Param::Text(s) => st.raw_bind_parameter(i, s.as_str())?,
            Param::OptText(s) => st.raw_bind_parameter(i, s.as_deref())?,
            Param::Uuid(u) => st.raw_bind_parameter(i, u.as_bytes().as_slice())?,
            Param::OptUuid(u) => {
                st.raw_bind_parameter(i, u.as_ref().map(|u| u.as_bytes().as_slice()))?
            }
            Param::Int(v) => st.raw_bind_parameter(i, v)?,
            Param::Time(t) => {
                st.raw_bind_parameter(i, t.to_rfc3339_opts(SecondsFormat::AutoSi, false))?
            }
            Param::Date(d) => st.raw_bind_parameter(i, d.format("%F").to_string())?,
            Param::OptDate(d) => st.raw_bind_parameter(i, d.map(|d| d.format("%F").to_string()))?,
            Param::OptTime(t) => st.raw_bind_parameter(
                i,
                t.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
            )?,
        }
    }
    Ok(())
}

/// A text column's bytes (NULL as empty): the columns have TEXT affinity, so SQLite hands
/// every stored value over as text; UTF-8 is checked as sqlx's `String` decoding did.
fn text(v: ValueRef<'_>, col: usize) -> Result<&[u8]> {
    let b = match v {
        ValueRef::Null => return Ok(b""),
        ValueRef::Text(b) | ValueRef::Blob(b) => b,
        ValueRef::Integer(_) | ValueRef::Real(_) => {
            return Err(decode_error(col, "a number where text was expected"))
        }
    };
    std::str::from_utf8(b).map_err(|e| decode_error(col, e))?;
    Ok(b)
}

fn decode_error(col: usize, e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(sqlx::Error::ColumnDecode {
        index: col.to_string(),
        source: e.to_string().into(),
    })
}

/// One CSV field, quoted when it holds a comma, a quote or a line break, or starts or ends
/// with a space (the rule of the row path, `csv_field` in export.rs).
pub(crate) fn csv_field(out: &mut Vec<u8>, s: &[u8]) {
    let quote = s.first() == Some(&b' ')
        || s.last() == Some(&b' ')
        || s.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !quote {
        out.extend_from_slice(s);
        return;
    }
    out.push(b'"');
    for &b in s {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// A stored time as the export writes it (`%Y-%m-%dT%H:%M:%S%.6fZ`, UTC). didhub stores times
/// as sqlx writes a `DateTime<Utc>` (RFC 3339, `+00:00`, 0 to 9 fraction digits): those are
/// rewritten in place. Anything else is read as sqlx reads a time, then formatted.
fn write_time(out: &mut Vec<u8>, v: ValueRef<'_>, col: usize) -> Result<()> {
    if let ValueRef::Text(b) = v {
        if let Some(t) = utc_rfc3339(b) {
            out.extend_from_slice(&t);
            return Ok(());
        }
    }
    let t = sqlx_time(v).ok_or_else(|| decode_error(col, "invalid datetime"))?;
    out.extend_from_slice(
        t.with_timezone(&Utc)
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
            .as_bytes(),
    );
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]` followed by `+00:00` or `Z`, a valid date and a time without
/// a leap second, rewritten as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (the fraction cut or padded to
/// six digits, as chrono's `%.6f` writes it); `None` for anything else.
fn utc_rfc3339(b: &[u8]) -> Option<[u8; 27]> {
    let rest = b.strip_suffix(b"+00:00").or_else(|| b.strip_suffix(b"Z"))?;
    if rest.len() < 19 {
        return None;
    }
    let (dt, frac) = rest.split_at(19);
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        dt[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| dt[i] != c) {
        return None;
    }
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (h, mi, s) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut out = [b'0'; 27];
    out[..19].copy_from_slice(dt);
    out[19] = b'.';
    out[26] = b'Z';
    if !frac.is_empty() {
        let f = frac.strip_prefix(b".")?;
        if f.is_empty() || f.len() > 9 || !f.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let k = f.len().min(6);
        out[20..20 + k].copy_from_slice(&f[..k]);
    }
    Some(out)
}

/// A time read as sqlx reads a `DateTime<Utc>` from SQLite (`decode_datetime` of sqlx-sqlite
/// 0.8): RFC 3339, then SQLite's own text forms; an integer as Unix seconds; a real as a
/// Julian day.
fn sqlx_time(v: ValueRef<'_>) -> Option<DateTime<FixedOffset>> {
    match v {
        ValueRef::Text(b) => {
            let s = std::str::from_utf8(b).ok()?;
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Some(t);
            }
            const FORMATS: [&str; 12] = [
                "%F %T%.f",
                "%F %R",
                "%F %RZ",
                "%F %R%:z",
                "%F %T%.fZ",
                "%F %T%.f%:z",
                "%FT%R",
                "%FT%RZ",
                "%FT%R%:z",
                "%FT%T%.f",
                "%FT%T%.fZ",
                "%FT%T%.f%:z",
            ];
            FORMATS.iter().find_map(|f| {
                DateTime::parse_from_str(s, f).ok().or_else(|| {
                    NaiveDateTime::parse_from_str(s, f)
                        .ok()
                        .map(|t| Utc.fix().from_utc_datetime(&t))
                })
            })
        }
        ValueRef::Integer(i) => Utc.fix().timestamp_opt(i, 0).single(),
        ValueRef::Real(f) => {
            let secs = (f - 2_440_587.5) * 86_400.0;
            if !secs.is_finite() {
                return None;
            }
            // As sqlx does: whole seconds, then the fraction's nanoseconds.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let (s, ns) = (secs.trunc() as i64, (secs.fract() * 1e9).abs() as u32);
            Utc.fix().timestamp_opt(s, ns).single()
        }
        ValueRef::Null | ValueRef::Blob(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_way(s: &str) -> String {
        sqlx_time(ValueRef::Text(s.as_bytes()))
            .map(|t| {
                t.with_timezone(&Utc)
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string()
            })
            .unwrap_or_default()
    }

    #[test]
    fn stored_times_are_rewritten_as_chrono_formats_them() {
        for s in [
            "2026-12-06T07:39:03.285456+00:00",
            "2026-12-06T07:39:03+00:00",
            "2026-12-06T07:39:03.285+00:00",
            "2026-12-06T07:39:03.285456789+00:00",
            "2026-12-06T07:39:03.2Z",
            "2024-02-29T23:59:59.000001Z",
            "0001-01-01T00:00:00+00:00",
        ] {
            let fast = utc_rfc3339(s.as_bytes()).map(|b| String::from_utf8_lossy(&b).into_owned());
            assert_eq!(fast.as_deref(), Some(chrono_way(s).as_str()), "{s}");
        }
    }

    #[test]
    fn other_forms_take_the_slow_path() {
        for s in [
            "2026-12-06 07:39:03",
            "2026-12-06T07:39:03.5+01:00",
            "2026-12-06t07:39:03Z",
            "2023-02-29T00:00:00Z",
            "2026-12-06T24:00:00Z",
            "2016-12-31T23:59:60Z",
            "2026-12-06T07:39:03.+00:00",
            "2026-12-06T07:39:03.1234567890Z",
            "+2026-12-06T07:39:03Z",
        ] {
            assert_eq!(utc_rfc3339(s.as_bytes()), None, "{s}");
        }
        assert_eq!(
            chrono_way("2026-12-06 07:39:03"),
            "2026-12-06T07:39:03.000000Z"
        );
        assert_eq!(
            chrono_way("2026-12-06T07:39:03.5+01:00"),
            "2026-12-06T06:39:03.500000Z"
        );
    }

    #[test]
    fn quoting() {
        let q = |s: &str| {
            let mut v = Vec::new();
            csv_field(&mut v, s.as_bytes());
            String::from_utf8(v).unwrap_or_default()
        };
        assert_eq!(q("plain"), "plain");
        assert_eq!(q(""), "");
        assert_eq!(q("a,b"), "\"a,b\"");
        assert_eq!(q("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(q("two\nlines"), "\"two\nlines\"");
        assert_eq!(q(" lead"), "\" lead\"");
        assert_eq!(q("trail "), "\"trail \"");
    }
}
