//! A small SQL builder: text with numbered `$n` placeholders (valid on both engines) and the
//! values to bind, plus the transaction handle shared by repositories.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Backend, Db, Result};

#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    OptText(Option<String>),
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Int(i64),
    Time(DateTime<Utc>),
    Date(chrono::NaiveDate),
    OptDate(Option<chrono::NaiveDate>),
    OptTime(Option<DateTime<Utc>>),
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    pub fn new(s: &str) -> Sql {
        Sql {
            text: s.to_string(),
            params: Vec::new(),
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Adds a parameter and returns its placeholder, to be written where it is needed.
    pub fn param(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    /// `col` is one of `ids`, as one parameter whatever their number: a uuid array on
    /// PostgreSQL (no 65,535-parameter limit), a JSON list on SQLite (which looks every
    /// numbered placeholder up by a linear scan).
    pub fn push_in_uuids(&mut self, pg: bool, col: &str, ids: &[uuid::Uuid]) -> &mut Self {
        if pg {
            let list: Vec<String> = ids.iter().map(|u| u.to_string()).collect();
            let p = self.param(Param::Text(format!("{{{}}}", list.join(","))));
            self.push(&format!(" {col} = ANY(CAST({p} AS uuid[]))"))
        } else {
            let list: Vec<String> = ids.iter().map(|u| u.simple().to_string()).collect();
            let p = self.param(Param::Text(serde_json::json!(list).to_string()));
            self.push(&format!(
                " {col} IN (SELECT unhex(value) FROM json_each({p}))"
            ))
        }
    }

    /// `col` is one of `values`, as one parameter (see [`Sql::push_in_uuids`]).
    pub fn push_in_texts(&mut self, pg: bool, col: &str, values: &[String]) -> &mut Self {
        if pg {
            let list: Vec<String> = values
                .iter()
                .map(|v| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            let p = self.param(Param::Text(format!("{{{}}}", list.join(","))));
            self.push(&format!(" {col} = ANY(CAST({p} AS text[]))"))
        } else {
            let p = self.param(Param::Text(serde_json::json!(values).to_string()));
            self.push(&format!(" {col} IN (SELECT value FROM json_each({p}))"))
        }
    }

    pub fn bind(&mut self, p: Param) -> &mut Self {
        self.params.push(p);
        let _ = write!(self.text, "${}", self.params.len());
        self
    }
}

/// Binds every parameter of a [`Sql`] to a sqlx query (works for both engines' query types).
macro_rules! bind_all {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                $crate::db::sql::Param::Text(v) => q.bind(v),
                $crate::db::sql::Param::OptText(v) => q.bind(v),
                $crate::db::sql::Param::Uuid(v) => q.bind(v),
                $crate::db::sql::Param::OptUuid(v) => q.bind(v),
                $crate::db::sql::Param::Int(v) => q.bind(v),
                $crate::db::sql::Param::Time(v) => q.bind(v),
                $crate::db::sql::Param::Date(v) => q.bind(v),
                $crate::db::sql::Param::OptDate(v) => q.bind(v),
                $crate::db::sql::Param::OptTime(v) => q.bind(v),
            };
        }
        q
    }};
}
pub(crate) use bind_all;

/// An open transaction on either engine.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    /// A row-locking clause (` FOR UPDATE`, ` FOR SHARE`, …) as PostgreSQL takes it; nothing
    /// on SQLite, whose write transaction (`BEGIN IMMEDIATE`) already holds the database.
    pub(crate) fn row_lock(&self, clause: &'static str) -> &'static str {
        match self {
            Tx::Postgres(_) => clause,
            Tx::Sqlite(_) => "",
        }
    }
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(_))
    }
}

/// Runs a block with `$c` bound to the transaction's connection (`&mut *$c` to reuse it).
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::sql::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::sql::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

impl Db {
    /// Begins a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so
    /// that two writers never deadlock upgrading a read lock.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        Ok(match &self.backend {
            Backend::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern used with `ESCAPE '\'`.
pub(crate) fn like_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Keyset cursors are opaque to clients: hex of a small JSON array.
pub(crate) fn encode_cursor(v: &serde_json::Value) -> String {
    hex::encode(v.to_string())
}

pub(crate) fn decode_cursor(s: &str) -> Result<serde_json::Value> {
    let bad = || crate::StoreError::invalid("cursor", "not a cursor returned by this API");
    let bytes = hex::decode(s).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// A text filter value checked as stored text is (trimmed, blank is none, no control
/// characters): a NUL would otherwise reach PostgreSQL, which refuses it as a server error.
pub(crate) fn filter_text(field: &'static str, v: Option<&str>) -> Result<Option<String>> {
    didhub_core::did::optional_text(field, v, FILTER_TEXT_MAX)
        .map_err(|e| crate::StoreError::invalid(field, e))
}

/// Longest text a filter compares (longer than any stored field: notes).
const FILTER_TEXT_MAX: usize = didhub_core::did::MAX_NOTES;
