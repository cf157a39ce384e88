//! Creating DIDs: numbers and ranges read and classified (one, many, `FIRST-LAST` and the
//! short form), every error named at once, all or nothing; and the row writer every path
//! that creates DIDs shares (this one, the import and the orders' allocation).

use std::collections::HashSet;

use didhub_core::did::{optional_text, DidStatus, MAX_NOTES, MAX_TAG};
use didhub_core::number::{Classified, Country};
use didhub_core::range::{classify_entry, MAX_RANGE};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::assignment::blocks::StockDelta;
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::inventory::dids::DID_SELECT;
use crate::{new_id, now, on, retry, Actor, Did, DidRow, Inventory, Result, StoreError};

/// A request to create DIDs.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDids {
    /// Numbers or ranges `FIRST-LAST`.
    pub numbers: Vec<String>,
    /// Default country for national-format numbers.
    #[schema(value_type = Option<String>, example = "GB")]
    pub country: Option<Country>,
    pub operator_id: Uuid,
    pub status: DidStatus,
    pub after_hold: DidStatus,
    pub tag: Option<String>,
    pub notes: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub created: usize,
    /// The audit entry of this creation; each DID's history points to it.
    pub batch_id: Uuid,
    /// The created DIDs (the first 1,000 of a large batch).
    pub items: Vec<Did>,
}

/// A DID ready to insert.
#[derive(Debug, Clone)]
pub(crate) struct NewRow {
    pub number: String,
    pub country: String,
    pub number_type: &'static str,
    pub operator_id: Uuid,
    pub status: DidStatus,
    pub after_hold: DidStatus,
    pub tag: Option<String>,
    pub notes: Option<String>,
}

impl NewRow {
    /// The row as the bulk writers take it.
    pub(crate) fn borrowed(&self) -> crate::inventory::export::CopyRow<'_> {
        crate::inventory::export::CopyRow {
            number: &self.number,
            country: &self.country,
            number_type: self.number_type,
            operator_id: self.operator_id,
            status: self.status,
            after_hold: self.after_hold,
            tag: self.tag.as_deref(),
            notes: self.notes.as_deref(),
        }
    }

    pub fn from_classified(
        c: &Classified,
        operator_id: Uuid,
        status: DidStatus,
        after_hold: DidStatus,
        tag: Option<String>,
        notes: Option<String>,
    ) -> NewRow {
        NewRow {
            number: c.e164.to_string(),
            country: c.country.to_string(),
            number_type: c.number_type.as_str(),
            operator_id,
            status,
            after_hold,
            tag,
            notes,
        }
    }
}

/// Rows per multi-row INSERT on PostgreSQL (12 placeholders a row, far below its limit of 65,535).
const INSERT_CHUNK: usize = 400;

/// Inserts rows, skipping numbers already in the inventory; returns those skipped numbers.
/// Holds the named operators for the rest of the transaction (PostgreSQL: `FOR KEY SHARE`, the
/// lock a foreign key check would take, once per operator instead of once per row) and fails
/// if one does not exist. `delete_operator` takes `FOR UPDATE` first, so an operator cannot go
/// while DIDs naming it are being written. SQLite keeps its foreign key and has one writer.
pub(crate) async fn hold_operators(tx: &mut Tx, ids: impl IntoIterator<Item = Uuid>) -> Result<()> {
    let Tx::Postgres(c) = tx else { return Ok(()) };
    let mut ids: Vec<Uuid> = ids
        .into_iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    ids.sort();
    let found: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM operators WHERE id = ANY($1) ORDER BY id FOR KEY SHARE")
            .bind(&ids)
            .fetch_all(&mut **c)
            .await?;
    match ids.into_iter().find(|id| !found.contains(id)) {
        Some(missing) => Err(StoreError::invalid(
            "operator_id",
            format!("operator {missing} does not exist"),
        )),
        None => Ok(()),
    }
}

/// The columns a new DID row is written with, in the order every writer binds them: the
/// multi-row INSERT below, SQLite's prepared INSERT (`db::sqlite_bulk`) and PostgreSQL's
/// binary COPY (`inventory::export::copy_rows`).
macro_rules! new_did_columns {
    () => {
        "id, number, country, number_type, operator_id, status, after_hold, tag, notes, batch_id, \
         created_at, updated_at, version"
    };
}
pub(crate) use new_did_columns;

const INSERT_DIDS: &str = concat!("INSERT INTO dids (", new_did_columns!(), ") ");

/// A multi-row insert with a placeholder per value (PostgreSQL).
fn insert_values(chunk: &[NewRow], batch_id: Uuid, at: chrono::DateTime<chrono::Utc>) -> Sql {
    let mut sql = Sql::new(INSERT_DIDS);
    sql.push("VALUES ");
    for (i, r) in chunk.iter().enumerate() {
        if i > 0 {
            sql.push(",");
        }
        sql.push("(")
            .bind(Param::Uuid(new_id()))
            .push(",")
            .bind(Param::Text(r.number.clone()))
            .push(",")
            .bind(Param::Text(r.country.clone()))
            .push(",")
            .bind(Param::Text(r.number_type.to_string()))
            .push(",")
            .bind(Param::Uuid(r.operator_id))
            .push(",")
            .bind(Param::Text(r.status.as_str().into()))
            .push(",")
            .bind(Param::Text(r.after_hold.as_str().into()))
            .push(",")
            .bind(Param::OptText(r.tag.clone()))
            .push(",")
            .bind(Param::OptText(r.notes.clone()))
            .push(",")
            .bind(Param::Uuid(batch_id))
            .push(",")
            .bind(Param::Time(at))
            .push(",")
            .bind(Param::Time(at))
            .push(",1)");
    }
    sql.push(" ON CONFLICT (number) DO NOTHING");
    sql
}

/// Inserts rows, returning the numbers already in the inventory (skipped); the stock change of
/// those inserted is added to `stock`, which the caller writes (`StockTally::write`).
pub(crate) async fn insert_rows(
    tx: &mut Tx,
    rows: &[NewRow],
    batch_id: Uuid,
    stock: &mut crate::assignment::blocks::StockTally,
) -> Result<Vec<String>> {
    let at = now();
    hold_operators(tx, rows.iter().map(|r| r.operator_id)).await?;
    let existing = match tx {
        Tx::Sqlite(t) => {
            let borrowed: Vec<_> = rows.iter().map(NewRow::borrowed).collect();
            crate::db::sqlite_bulk::insert_dids(t, &borrowed, batch_id, at, false).await?
        }
        Tx::Postgres(_) => {
            let mut existing = Vec::new();
            for chunk in rows.chunks(INSERT_CHUNK) {
                let sql = insert_values(chunk, batch_id, at);
                let n = on_tx!(tx, |c| bind_all!(sqlx::query(&sql.text), sql.params)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                if n as usize != chunk.len() {
                    existing.extend(already_there(tx, chunk, batch_id).await?);
                }
            }
            existing
        }
    };
    let skipped: HashSet<&str> = existing.iter().map(String::as_str).collect();
    for r in rows
        .iter()
        .filter(|r| r.status == DidStatus::InStock && !skipped.contains(r.number.as_str()))
    {
        stock.add(&StockDelta {
            number: &r.number,
            operator_id: r.operator_id,
            country: &r.country,
            number_type: r.number_type,
            delta: 1,
        });
    }
    Ok(existing)
}

/// Which of `rows` were in the inventory before this batch.
pub(crate) async fn already_there(
    tx: &mut Tx,
    rows: &[NewRow],
    batch_id: Uuid,
) -> Result<Vec<String>> {
    let mut sql = Sql::new("SELECT number FROM dids WHERE batch_id <> ");
    let numbers: Vec<String> = rows.iter().map(|r| r.number.clone()).collect();
    sql.bind(Param::Uuid(batch_id)).push(" AND").push_in_texts(
        matches!(tx, Tx::Postgres(_)),
        "number",
        &numbers,
    );
    let v: Vec<String> = on_tx!(tx, |c| bind_all!(sqlx::query_scalar(&sql.text), sql.params)
        .fetch_all(&mut *c)
        .await?);
    Ok(v)
}

/// The value, or `None` with its error noted against `field`.
fn noted<T, E: std::fmt::Display>(
    errors: &mut Vec<(String, String)>,
    field: &str,
    r: std::result::Result<T, E>,
) -> Option<T> {
    r.map_err(|e| errors.push((field.to_string(), e.to_string())))
        .ok()
}

impl Inventory<'_> {
    /// Creates DIDs from numbers and ranges; all or nothing.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_dids(&self, actor: &Actor, req: NewDids) -> Result<Created> {
        // Every field is checked and every error reported at once (up to MAX_ERRORS), so that
        // a form or a script can fix them all in one go.
        const MAX_ERRORS: usize = 100;
        let mut errors: Vec<(String, String)> = Vec::new();
        let status = noted(&mut errors, "status", req.status.initial());
        let after_hold = noted(&mut errors, "after_hold", req.after_hold.after_hold());
        noted(
            &mut errors,
            "reason",
            didhub_core::did::reason(req.reason.as_deref()),
        );
        let tag = noted(
            &mut errors,
            "tag",
            optional_text("tag", req.tag.as_deref(), MAX_TAG),
        );
        let notes = noted(
            &mut errors,
            "notes",
            optional_text("notes", req.notes.as_deref(), MAX_NOTES),
        );
        if req.numbers.is_empty() {
            errors.push(("numbers".into(), "give at least one number or range".into()));
        }
        let mut numbers = Vec::new();
        let mut seen = HashSet::new();
        let mut total = 0usize;
        for (i, entry) in req.numbers.iter().enumerate() {
            if errors.len() >= MAX_ERRORS {
                break;
            }
            let field = format!("numbers[{i}]");
            // Every entry counts against the request's size before it is classified, failing
            // or not: a request cannot make the server classify more than MAX_RANGE numbers.
            // (A range too large by itself is refused by `classify_entry` before any work.)
            let n = match didhub_core::range::read(entry, req.country) {
                didhub_core::range::Entry::Range { first, last } => {
                    didhub_core::range::count(first, last).map_or(1, |n| n as usize)
                }
                didhub_core::range::Entry::Single(_) => 1,
            };
            if n <= MAX_RANGE as usize {
                total += n;
            }
            if total > MAX_RANGE as usize {
                errors.push((
                    "numbers".into(),
                    format!("the request holds more than {MAX_RANGE} numbers; split it"),
                ));
                break;
            }
            let Some(got) = noted(&mut errors, &field, classify_entry(entry, req.country)) else {
                continue;
            };
            for c in got {
                if !seen.insert(c.e164.to_string()) {
                    errors.push((
                        field.clone(),
                        format!("{} is given twice in this request", c.e164),
                    ));
                    break;
                }
                numbers.push(c);
            }
        }
        StoreError::check_all(errors)?;
        let (Some(status), Some(after_hold), Some(tag), Some(notes)) =
            (status, after_hold, tag, notes)
        else {
            return Err(StoreError::invalid(
                "numbers",
                "the request could not be read",
            ));
        };
        let rows: Vec<NewRow> = numbers
            .iter()
            .map(|c| {
                NewRow::from_classified(
                    c,
                    req.operator_id,
                    status,
                    after_hold,
                    tag.clone(),
                    notes.clone(),
                )
            })
            .collect();
        let operator = self
            .get_operator(req.operator_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => StoreError::invalid(
                    "operator_id",
                    format!("operator {} does not exist", req.operator_id),
                ),
                e => e,
            })?;
        let batch_id = retry(|| async {
            let mut tx = self.begin().await?;
            let batch_id = crate::audit::entry_id(&mut tx).await?;
            let mut stock = crate::assignment::blocks::StockTally::default();
            let existing = insert_rows(&mut tx, &rows, batch_id, &mut stock).await?;
            if !existing.is_empty() {
                let shown: Vec<&str> = existing.iter().take(10).map(String::as_str).collect();
                return Err(StoreError::Conflict(format!(
                    "{} number(s) already in the inventory: {}{}",
                    existing.len(),
                    shown.join(", "),
                    if existing.len() > 10 { ", …" } else { "" }
                )));
            }
            stock.write(&mut tx).await?;
            write_audit(
                &mut tx,
                AuditWrite {
                    id: Some(batch_id),
                    actor,
                    action: "did.create",
                    entity: "batch",
                    entity_id: Some(batch_id),
                    subject: (rows.len() == 1).then(|| rows[0].number.clone()),
                    changes: json!({
                        "count": rows.len(),
                        "first": rows.first().map(|r| &r.number),
                        "last": rows.last().map(|r| &r.number),
                        "operator": operator.name,
                        "status": status,
                        "after_hold": after_hold,
                        "tag": tag,
                        "notes": notes,
                    }),
                    reason: req.reason.as_deref(),
                },
            )
            .await?;
            tx.commit().await?;
            Ok(batch_id)
        })
        .await?;
        let items = self.dids_of_batch(batch_id, 1000).await?;
        Ok(Created {
            created: rows.len(),
            batch_id,
            items,
        })
    }

    async fn dids_of_batch(&self, batch_id: Uuid, limit: i64) -> Result<Vec<Did>> {
        let sql = format!("{DID_SELECT} WHERE d.batch_id = $1 ORDER BY d.number LIMIT $2");
        let rows: Vec<DidRow> = on!(self, |p| sqlx::query_as(&sql)
            .bind(batch_id)
            .bind(limit)
            .fetch_all(p)
            .await?);
        Ok(rows.into_iter().map(Did::from).collect())
    }
}
