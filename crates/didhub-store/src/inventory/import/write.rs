//! The writers of an import's chunks: SQLite's bound rows, PostgreSQL's COPY stream, and the
//! report of the numbers the inventory already held.

use std::collections::{HashMap, HashSet};

use didhub_core::import::{Rejection, Row};
use uuid::Uuid;

use super::ImportReport;
use crate::assignment::blocks::StockTally;
use crate::db::bulk_load::BulkLoad;
use crate::inventory::dids::NewRow;
use crate::inventory::export::{CopyRow, DidCopy};
use crate::Result;

/// A row's numbers as rows to write, with the operator resolved.
pub(super) fn push_rows(out: &mut Vec<NewRow>, r: &Row, operator_id: Uuid) {
    for n in &r.numbers {
        out.push(NewRow::from_classified(
            n,
            operator_id,
            r.status,
            r.after_hold,
            r.tag.clone(),
            r.notes.clone(),
        ));
    }
}

/// The operator of each row of a chunk, or the index of the first row whose operator does not
/// exist yet (or, given `held`, is not among the operators the import holds).
pub(super) fn operator_ids(
    rows: &[Row],
    operators: &HashMap<String, Uuid>,
    held: Option<&HashSet<Uuid>>,
) -> std::result::Result<Vec<Uuid>, usize> {
    let mut out = Vec::with_capacity(rows.len());
    // Rows mostly name the operator of the row before: skip the case-folded lookup then.
    let mut last: Option<(&str, Uuid)> = None;
    for (i, r) in rows.iter().enumerate() {
        let op = match last {
            Some((name, id)) if name == r.operator => id,
            _ => {
                let id = *operators.get(&r.operator.to_lowercase()).ok_or(i)?;
                if held.is_some_and(|h| !h.contains(&id)) {
                    return Err(i);
                }
                last = Some((r.operator.as_str(), id));
                id
            }
        };
        out.push(op);
    }
    Ok(out)
}

/// SQLite: one chunk's numbers, bound straight from the parsed rows (see `sqlite_bulk`); in a
/// bulk load, less those the inventory held already.
pub(super) async fn sqlite_write(
    conn: &mut sqlx::SqliteConnection,
    rows: &[Row],
    ops: &[Uuid],
    batch_id: Uuid,
    report: &mut ImportReport,
    stock: &mut StockTally,
    load: Option<&BulkLoad>,
) -> Result<()> {
    let mut batch: Vec<CopyRow<'_>> = Vec::with_capacity(rows.len());
    let mut taken = Vec::new();
    for (r, &operator_id) in rows.iter().zip(ops) {
        for n in &r.numbers {
            if load.is_some_and(|l| l.taken(n.e164.as_str())) {
                taken.push(n.e164.to_string());
                continue;
            }
            batch.push(CopyRow {
                number: n.e164.as_str(),
                country: n.country.as_str(),
                number_type: n.number_type.as_str(),
                operator_id,
                status: r.status,
                after_hold: r.after_hold,
                tag: r.tag.as_deref(),
                notes: r.notes.as_deref(),
            });
        }
    }
    // In number order: each insert into the unique number index lands next to the one before
    // (in file order each landed on a random page of an index larger than the page cache).
    batch.sort_unstable_by(|a, b| a.number.cmp(b.number));
    let new = load.is_some();
    let mut existing =
        crate::db::sqlite_bulk::insert_dids(conn, &batch, batch_id, crate::now(), new).await?;
    let skipped: HashSet<&str> = existing.iter().map(String::as_str).collect();
    for r in batch
        .iter()
        .filter(|r| r.status == didhub_core::did::DidStatus::InStock)
        .filter(|r| skipped.is_empty() || !skipped.contains(r.number))
    {
        stock.add(&crate::assignment::blocks::StockDelta {
            number: r.number,
            operator_id: r.operator_id,
            country: r.country,
            number_type: r.number_type,
            delta: 1,
        });
    }
    report.valid += batch.len() - existing.len();
    existing.extend(taken);
    note_existing(rows, &existing, report);
    Ok(())
}

/// Bulk load: one chunk's numbers into the open COPY, straight from the parsed rows, less
/// those the inventory held already.
pub(super) async fn copy_part(
    copy: &mut DidCopy<'_>,
    load: &BulkLoad,
    rows: &[Row],
    ops: &[Uuid],
    report: &mut ImportReport,
    stock: &mut StockTally,
) -> Result<()> {
    let mut existing = Vec::new();
    for (r, &operator_id) in rows.iter().zip(ops) {
        for n in &r.numbers {
            let number = n.e164.as_str();
            if load.taken(number) {
                existing.push(number.to_string());
                continue;
            }
            let (country, number_type) = (n.country.as_str(), n.number_type.as_str());
            copy.row(&CopyRow {
                number,
                country,
                number_type,
                operator_id,
                status: r.status,
                after_hold: r.after_hold,
                tag: r.tag.as_deref(),
                notes: r.notes.as_deref(),
            })
            .await?;
            report.valid += 1;
            if r.status == didhub_core::did::DidStatus::InStock {
                stock.add(&crate::assignment::blocks::StockDelta {
                    number,
                    operator_id,
                    country,
                    number_type,
                    delta: 1,
                });
            }
        }
    }
    note_existing(rows, &existing, report);
    Ok(())
}

/// Reports the numbers of `rows` that the inventory already held, each with its row.
pub(super) fn note_existing(rows: &[Row], existing: &[String], report: &mut ImportReport) {
    if existing.is_empty() {
        return;
    }
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    for r in rows {
        for n in &r.numbers {
            row_of.entry(n.e164.as_str()).or_insert(r.row);
        }
    }
    for num in existing {
        report.duplicates += 1;
        report.rejected.push(Rejection {
            row: row_of.get(num.as_str()).copied().unwrap_or(0),
            value: num.clone(),
            reason: format!("duplicate: {num} is already in the inventory"),
        });
    }
}

/// Counts the in-stock rows written by COPY into the import's stock change.
pub(super) fn tally_stock(stock: &mut StockTally, rows: &[NewRow]) {
    for r in rows
        .iter()
        .filter(|r| r.status == didhub_core::did::DidStatus::InStock)
    {
        stock.add(&crate::assignment::blocks::StockDelta {
            number: &r.number,
            operator_id: r.operator_id,
            country: &r.country,
            number_type: r.number_type,
            delta: 1,
        });
    }
}
