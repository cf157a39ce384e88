//! CSV export (streamed, constant memory) and PostgreSQL COPY helpers.

use futures::TryStreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use uuid::Uuid;

use crate::db::sql::{Param, Sql};
use crate::inventory::dids::{push_filter, NewRow};
use crate::{now, Backend, DidFilter, Inventory, Result};

/// Columns of an export; the file re-imports as is.
pub const EXPORT_HEADER: &str =
    "number,country,type,operator,status,after_hold,tag,notes,created_at,updated_at\n";
const FLUSH_AT: usize = 256 * 1024;

/// Quotes a value as an SQL literal. An escape string (`E'…'`) reads alike whatever
/// `standard_conforming_strings` says, so a backslash in a value can never end the literal.
fn literal(p: &Param) -> String {
    fn q(s: &str) -> String {
        format!(
            "E'{}'",
            s.replace('\0', "")
                .replace('\\', "\\\\")
                .replace('\'', "''")
        )
    }
    match p {
        Param::Text(s) => q(s),
        Param::OptText(Some(s)) => q(s),
        Param::OptText(None) => "NULL".into(),
        Param::Uuid(u) => format!("'{u}'::uuid"),
        Param::OptUuid(Some(u)) => format!("'{u}'::uuid"),
        Param::OptUuid(None) => "NULL".into(),
        Param::Int(i) => i.to_string(),
        Param::Time(t) => format!("'{}'::timestamptz", t.to_rfc3339()),
        Param::Date(d) | Param::OptDate(Some(d)) => format!("'{d}'::date"),
        Param::OptDate(None) | Param::OptTime(None) => "NULL".into(),
        Param::OptTime(Some(t)) => format!("'{}'::timestamptz", t.to_rfc3339()),
    }
}

/// The parameters as a list of literals, for `EXECUTE name(…)`.
pub(crate) fn literals(params: &[Param]) -> String {
    params.iter().map(literal).collect::<Vec<_>>().join(", ")
}

/// The statement with its parameters written in as literals (COPY takes no parameters).
fn inline(sql: &Sql) -> String {
    let b = sql.text.as_bytes();
    let mut out = String::with_capacity(sql.text.len() + 64);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let n: usize = sql.text[i + 1..j].parse().unwrap_or(0);
            match n.checked_sub(1).and_then(|k| sql.params.get(k)) {
                Some(p) => out.push_str(&literal(p)),
                None => out.push_str(&sql.text[i..j]),
            }
            i = j;
        } else {
            let ch = sql.text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

impl Inventory<'_> {
    /// Writes every DID matching the filter as CSV, ordered by number. Returns rows written.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn export_dids<W: AsyncWrite + Unpin + Send>(
        &self,
        f: &DidFilter,
        out: &mut W,
    ) -> Result<u64> {
        // COPY hands over one row per message: batch the writes (each write to a file is a
        // blocking call sent to a thread pool).
        let mut out = tokio::io::BufWriter::with_capacity(FLUSH_AT, out);
        let rows = self.export_unbuffered(f, &mut out).await?;
        out.flush().await?;
        Ok(rows)
    }

    async fn export_unbuffered<W: AsyncWrite + Unpin + Send>(
        &self,
        f: &DidFilter,
        out: &mut W,
    ) -> Result<u64> {
        let mut sql = Sql::new("");
        push_filter(&mut sql, f)?;
        let filter = sql;
        match &self.backend {
            Backend::Postgres(p) => {
                let q = format!(
                    "COPY (SELECT d.number, d.country, d.number_type, o.name, d.status, d.after_hold, d.tag, d.notes, \
                     to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                     to_char(d.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
                     FROM dids d JOIN operators o ON o.id = d.operator_id{} ORDER BY d.number) \
                     TO STDOUT WITH (FORMAT csv)",
                    inline(&filter)
                );
                let mut conn = p.acquire().await?;
                out.write_all(EXPORT_HEADER.as_bytes()).await?;
                let mut stream = conn.copy_out_raw(&q).await?;
                let mut rows = 0u64;
                while let Some(chunk) = stream.try_next().await? {
                    rows += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
                    out.write_all(&chunk).await?;
                }
                out.flush().await?;
                Ok(rows)
            }
            Backend::Sqlite(p) => {
                // The columns the PostgreSQL COPY writes (times are formatted while written).
                let q = format!(
                    "SELECT d.number, d.country, d.number_type, o.name, d.status, d.after_hold, d.tag, \
                     d.notes, d.created_at, d.updated_at FROM dids d JOIN operators o ON o.id = d.operator_id{} \
                     ORDER BY d.number",
                    filter.text
                );
                let conn = p.acquire().await?;
                out.write_all(EXPORT_HEADER.as_bytes()).await?;
                // Rows are read on a blocking thread (see `sqlite_export`); two chunks in flight
                // keep both sides busy with the memory of three.
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
                let params = filter.params;
                let reader = tokio::task::spawn_blocking(move || {
                    crate::db::sqlite_export::run(conn, &q, &params, tx)
                });
                while let Some(chunk) = rx.recv().await {
                    // On failure `rx` is dropped with this frame, which stops the reader.
                    out.write_all(&chunk).await?;
                }
                let rows = reader
                    .await
                    .map_err(|e| std::io::Error::other(format!("export reader failed: {e}")))??;
                out.flush().await?;
                Ok(rows)
            }
        }
    }
}

/// Appends one field of a binary COPY row: its length, then its bytes.
fn copy_field(buf: &mut Vec<u8>, bytes: &[u8]) {
    // Fields are a number, a short text or a fixed-size value; tag and notes are capped far
    // below 2 GiB by validation.
    buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    buf.extend_from_slice(bytes);
}

fn copy_opt_field(buf: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => copy_field(buf, s.as_bytes()),
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

/// Streams rows into `dids` with COPY in binary format: the server stores the ids, times and
/// version as sent instead of parsing them from text (uuid and timestamptz input were a good
/// part of its COPY time). Text columns are sent as their UTF-8 bytes, which is their binary
/// form.
pub(crate) async fn pg_copy_in(
    conn: &mut sqlx::PgConnection,
    rows: &[NewRow],
    batch_id: Uuid,
) -> Result<()> {
    let mut copy = DidCopy::open(conn, batch_id).await?;
    copy.rows(rows).await?;
    copy.finish().await
}

/// A row for [`DidCopy::row`], borrowed from wherever it is held.
pub(crate) struct CopyRow<'a> {
    pub number: &'a str,
    pub country: &'a str,
    pub number_type: &'a str,
    pub operator_id: Uuid,
    pub status: didhub_core::did::DidStatus,
    pub after_hold: didhub_core::did::DidStatus,
    pub tag: Option<&'a str>,
    pub notes: Option<&'a str>,
}

/// One COPY into `dids` (see [`pg_copy_in`]) taking rows in as many parts as they come: the
/// server works through each part while the next is prepared.
pub(crate) struct DidCopy<'c> {
    copy: sqlx::postgres::PgCopyIn<&'c mut sqlx::PgConnection>,
    buf: Vec<u8>,
    /// created_at and updated_at of every row, as timestamptz is sent.
    at: [u8; 8],
    batch_id: Uuid,
}

impl<'c> DidCopy<'c> {
    pub(crate) async fn open(conn: &'c mut sqlx::PgConnection, batch_id: Uuid) -> Result<Self> {
        // timestamptz on the wire: microseconds since 2000-01-01 00:00 UTC.
        const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;
        let at = (now().timestamp_micros() - PG_EPOCH_UNIX_MICROS).to_be_bytes();
        let copy = conn
            .copy_in_raw(concat!(
                "COPY dids (",
                crate::inventory::dids::new_did_columns!(),
                ") FROM STDIN (FORMAT binary)"
            ))
            .await?;
        let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_AT + 4096);
        // Signature, flags (no OIDs), header extension length.
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
        Ok(DidCopy {
            copy,
            buf,
            at,
            batch_id,
        })
    }

    pub(crate) async fn rows(&mut self, rows: &[NewRow]) -> Result<()> {
        for r in rows {
            self.row(&r.borrowed()).await?;
        }
        Ok(())
    }

    /// Adds one row (sent once a buffer's worth has gathered).
    pub(crate) async fn row(&mut self, r: &CopyRow<'_>) -> Result<()> {
        let buf = &mut self.buf;
        buf.extend_from_slice(&13i16.to_be_bytes());
        copy_field(buf, crate::new_id().as_bytes());
        copy_field(buf, r.number.as_bytes());
        copy_field(buf, r.country.as_bytes());
        copy_field(buf, r.number_type.as_bytes());
        copy_field(buf, r.operator_id.as_bytes());
        copy_field(buf, r.status.as_str().as_bytes());
        copy_field(buf, r.after_hold.as_str().as_bytes());
        copy_opt_field(buf, r.tag);
        copy_opt_field(buf, r.notes);
        copy_field(buf, self.batch_id.as_bytes());
        copy_field(buf, &self.at);
        copy_field(buf, &self.at);
        copy_field(buf, &1i64.to_be_bytes());
        if buf.len() >= FLUSH_AT {
            self.copy.send(buf.as_slice()).await?;
            buf.clear();
        }
        Ok(())
    }

    /// Sends the trailer and waits for the server to take every row.
    pub(crate) async fn finish(mut self) -> Result<()> {
        // The trailer: a field count of -1.
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.copy.send(self.buf.as_slice()).await?;
        self.copy.finish().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQLite export as it was written before it ran on the raw handle: rows decoded by
    /// sqlx into `DidRow`s, times parsed and formatted by chrono.
    async fn row_path(pool: &sqlx::SqlitePool, f: &DidFilter) -> (String, usize) {
        fn field(out: &mut String, s: &str) {
            if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
                out.push('"');
                out.push_str(&s.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(s);
            }
        }
        let mut sql = Sql::new("");
        push_filter(&mut sql, f).unwrap();
        let q = format!(
            "{}{} ORDER BY d.number",
            crate::inventory::dids::DID_SELECT,
            sql.text
        );
        let rows: Vec<crate::DidRow> = crate::db::sql::bind_all!(sqlx::query_as(&q), sql.params)
            .fetch_all(pool)
            .await
            .unwrap();
        let mut out = EXPORT_HEADER.to_string();
        let n = rows.len();
        for d in rows {
            for (i, v) in [
                &d.number,
                &d.country,
                &d.number_type,
                &d.operator,
                &d.status,
                &d.after_hold,
            ]
            .into_iter()
            .enumerate()
            {
                if i > 0 {
                    out.push(',');
                }
                field(&mut out, v);
            }
            out.push(',');
            field(&mut out, d.tag.as_deref().unwrap_or(""));
            out.push(',');
            field(&mut out, d.notes.as_deref().unwrap_or(""));
            let ts = "%Y-%m-%dT%H:%M:%S%.6fZ";
            out.push_str(&format!(
                ",{},{}\n",
                d.created_at.format(ts),
                d.updated_at.format(ts)
            ));
        }
        (out, n)
    }

    #[tokio::test]
    async fn sqlite_export_writes_what_the_row_path_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(&crate::StoreConfig {
            database_url: None,
            data_dir: dir.path().to_path_buf(),
            pool_size: 2,
            bulk_import_min_rows: 0,
            documents: Default::default(),
        })
        .await
        .unwrap();
        let Backend::Sqlite(pool) = &store.backend else {
            panic!("expected SQLite")
        };
        let op = Uuid::now_v7();
        let other = Uuid::now_v7();
        for (id, name) in [(op, "Quote \"Op\", Ltd"), (other, " spaced ")] {
            sqlx::query(
                "INSERT INTO operators (id, name, created_at, updated_at) \
                 VALUES ($1, $2, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
            )
            .bind(id)
            .bind(name)
            .execute(pool)
            .await
            .unwrap();
        }
        // Texts that need quoting, and every form of stored time the row path read.
        type Row<'a> = (&'a str, Uuid, Option<&'a str>, Option<&'a str>, &'a str);
        let rows: [Row; 7] = [
            (
                "+442079460001",
                op,
                Some("a,b"),
                None,
                "2026-12-06T07:39:03.285456+00:00",
            ),
            (
                "+442079460002",
                op,
                Some("red"),
                Some("two\nlines"),
                "2026-12-06T07:39:03+00:00",
            ),
            (
                "+442079460003",
                other,
                None,
                Some("say \"hi\""),
                "2026-12-06 07:39:03",
            ),
            (
                "+442079460004",
                other,
                Some(" lead"),
                Some("cr\rhere"),
                "2026-12-06T07:39:03.5+01:00",
            ),
            (
                "+442079460005",
                op,
                Some("trail "),
                Some("ünïcode"),
                "2026-12-06T07:39:03.123456789Z",
            ),
            (
                "+12015550123",
                op,
                Some("red"),
                None,
                "2024-02-29T23:59:59.000001Z",
            ),
            ("+33142685300", other, None, None, "2026-12-06T07:39"),
        ];
        for (number, operator, tag, notes, at) in rows {
            sqlx::query(
                "INSERT INTO dids (id, number, country, number_type, operator_id, status, after_hold, \
                 tag, notes, batch_id, created_at, updated_at, version) \
                 VALUES ($1, $2, 'GB', 'fixed_line', $3, 'in_stock', 'in_stock', $4, $5, $1, $6, $6, 1)",
            )
            .bind(Uuid::now_v7())
            .bind(number)
            .bind(operator)
            .bind(tag)
            .bind(notes)
            .bind(at)
            .execute(pool)
            .await
            .unwrap();
        }
        let filters = [
            DidFilter::default(),
            DidFilter {
                prefix: Some("+4420794600".into()),
                ..Default::default()
            },
            DidFilter {
                operator_id: Some(other),
                ..Default::default()
            },
            DidFilter {
                tag: Some("red".into()),
                notes: Some("LINES".into()),
                ..Default::default()
            },
            DidFilter {
                country: Some(didhub_core::number::Country::parse("FR").unwrap()),
                ..Default::default()
            },
        ];
        for f in filters {
            let mut out = Vec::new();
            let n = store.inventory().export_dids(&f, &mut out).await.unwrap();
            let (want, rows) = row_path(pool, &f).await;
            assert_eq!(String::from_utf8(out).unwrap(), want, "{f:?}");
            assert_eq!(n as usize, rows, "{f:?}");
        }
    }

    #[test]
    fn inline_quotes_and_numbers() {
        let mut s = Sql::new("a = ");
        s.bind(Param::Text("it's $2".into()))
            .push(" AND b = ")
            .bind(Param::Int(5));
        assert_eq!(inline(&s), "a = E'it''s $2' AND b = 5");
    }

    #[test]
    fn a_backslash_cannot_end_the_literal() {
        let mut s = Sql::new("tag = ");
        s.bind(Param::Text("x\\'); DROP TABLE dids; --".into()));
        assert_eq!(inline(&s), "tag = E'x\\\\''); DROP TABLE dids; --'");
    }
}
