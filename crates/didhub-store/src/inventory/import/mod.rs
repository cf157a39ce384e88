//! Import of DIDs from CSV, XLSX and XLS.
//!
//! A decoder thread reads the file and validates rows with the core rules while the database
//! writes the previous chunk, all in one transaction: an import lands whole or not at all
//! (a killed process leaves nothing). Skipping invalid rows, dry runs and inventory duplicates
//! are decided on the same path.
//!
//! Memory follows the rows in flight, not the file: the file is read as it is decoded (a CSV
//! record by record, a sheet cell by cell, see `sheet/`), a row's text is dropped once it is
//! checked or written, chunks are bounded in rows and bytes, and the report keeps the first
//! [`MAX_REPORTED_REJECTIONS`] rejections (every one goes to the rejects CSV when asked).
//!
//! Here the import's transaction and its report; the decoder in `decoder.rs`, the writers of
//! each engine in `write.rs`.

mod decoder;
mod write;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;

use didhub_core::import::{Defaults, Rejection, Row};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::assignment::blocks::StockTally;
use crate::audit::{write_audit, AuditWrite};
use crate::db::bulk_load::BulkLoad;
use crate::db::sql::Tx;
use crate::inventory::dids::{insert_rows, NewRow};
use crate::inventory::export::DidCopy;
use crate::inventory::operators::insert_operator;
use crate::{Actor, Inventory, Result, StoreError};
use decoder::{decode, io_fatal, Msg, Validator};
use write::{copy_part, note_existing, operator_ids, push_rows, sqlite_write, tally_stock};

/// Longest value quoted back in a report.
const MAX_SHOWN: usize = 120;
/// Rows validated, or numbers accepted, per chunk handed to the writer (a row holding a range
/// counts each of its numbers, so that a chunk's memory stays bounded).
const CHUNK_ROWS: usize = 20_000;
/// Text (notes, tags, operator names, rejections) per chunk: rows with long notes make
/// smaller chunks.
const CHUNK_BYTES: usize = 8 << 20;
/// Fields of one CSV record at most; a record with more is rejected like an over-long row.
const MAX_FIELDS: usize = 16_384;
/// Rejected numbers listed in a report (by row); `rejected_total` counts them all.
pub const MAX_REPORTED_REJECTIONS: usize = 1_000;

/// The file to import.
#[derive(Debug, Clone)]
pub enum ImportFile {
    /// Its bytes.
    Bytes(Arc<Vec<u8>>),
    /// A file on disk, read as it is decoded (opened afresh by each attempt).
    Path(PathBuf),
}

impl From<Vec<u8>> for ImportFile {
    fn from(b: Vec<u8>) -> Self {
        ImportFile::Bytes(Arc::new(b))
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub defaults: Defaults,
    pub skip_invalid: bool,
    pub dry_run: bool,
    /// File name, for the format guess and the audit entry.
    pub file_name: String,
    pub reason: Option<String>,
    /// Most numbers the file may hold (`didhub_core::import::MAX_IMPORT_NUMBERS` unless a
    /// test wants a smaller bound); a file above it is refused as a whole.
    pub max_numbers: usize,
    /// Write every rejected number to this file as CSV (`row,value,reason`, in row order),
    /// made afresh; removed if the import fails as a whole.
    pub rejects_csv: Option<PathBuf>,
    /// Stop writing that CSV once it holds this many bytes (the rejections after are
    /// counted in the report, not written).
    pub rejects_csv_limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ImportReport {
    /// DIDs created (0 on a dry run or a refused import).
    pub imported: usize,
    /// The first 1,000 refused numbers, in row order: one entry per number (a row holding a
    /// range can give several, each with the row's number). `rejected_total` counts them all.
    pub rejected: Vec<Rejection>,
    /// Refused numbers in all.
    pub rejected_total: usize,
    /// True when `rejected` lists only the first 1,000 of `rejected_total`.
    pub rejected_truncated: bool,
    /// Rejected numbers that were already in the file (an earlier row) or in the inventory.
    pub duplicates: usize,
    /// Operators named in the file (or by the request) that did not exist and were created.
    pub operators_created: Vec<String>,
    /// DIDs the run imports or, on a dry run, would import: `imported` unless a dry run; 0
    /// when the file is refused (all or nothing, with rejected rows). A dry run with
    /// `skip_invalid` counts the good numbers of a file that has errors.
    pub valid: usize,
    pub dry_run: bool,
    /// The import's audit entry; each imported DID's history points to it.
    pub batch_id: Option<Uuid>,
    /// Where to download every rejected number as CSV (`row,value,reason`): given by the API
    /// when any was rejected; only the user who imported may download it, for 24 hours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejects_url: Option<String>,
    /// Rows of that CSV (or of the command line's `--rejects` file): `rejected_total`, unless
    /// the CSV reached its bound (64 MB through the API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejects_rows: Option<usize>,
}

/// Why a file cannot be read at all.
fn file_error(msg: impl std::fmt::Display) -> StoreError {
    StoreError::invalid("file", msg)
}

pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= MAX_SHOWN {
        s.to_string()
    } else {
        let t: String = s.chars().take(MAX_SHOWN).collect();
        format!("{t}…")
    }
}

/// The rejections of an import as chunks finish: counted, the first ones kept for the report,
/// every one written to the rejects CSV if asked.
struct Rejects {
    shown: Vec<Rejection>,
    total: usize,
    csv: Option<RejectsCsv>,
}

struct RejectsCsv {
    out: csv::Writer<BufWriter<File>>,
    limit: Option<u64>,
    bytes: u64,
    rows: usize,
    full: bool,
}

impl Rejects {
    fn open(opts: &ImportOptions) -> Result<Rejects> {
        let csv = match &opts.rejects_csv {
            None => None,
            Some(path) => {
                let mut out = csv::Writer::from_writer(BufWriter::new(File::create(path)?));
                out.write_record(["row", "value", "reason"])
                    .map_err(std::io::Error::from)?;
                Some(RejectsCsv {
                    out,
                    limit: opts.rejects_csv_limit,
                    bytes: 17,
                    rows: 0,
                    full: false,
                })
            }
        };
        Ok(Rejects {
            shown: Vec::new(),
            total: 0,
            csv,
        })
    }

    /// Whether any number was rejected so far, `pending` included.
    fn any(&self, pending: &[Rejection]) -> bool {
        self.total > 0 || !pending.is_empty()
    }

    /// Takes the rejections of a finished chunk. Chunks cover rows in order and a chunk's
    /// rejections are all known once it is written, so sorting each keeps the whole in row
    /// order (and a range's numbers as it runs).
    fn take(&mut self, pending: &mut Vec<Rejection>) -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        pending.sort_by(|a, b| (a.row, &a.value).cmp(&(b.row, &b.value)));
        self.total += pending.len();
        if let Some(c) = &mut self.csv {
            for r in pending.iter() {
                if c.full {
                    break;
                }
                let line = 4 + 20 + r.value.len() + r.reason.len();
                if c.limit.is_some_and(|l| c.bytes + line as u64 > l) {
                    c.full = true;
                    break;
                }
                c.out
                    .write_record([r.row.to_string().as_str(), &r.value, &r.reason])
                    .map_err(std::io::Error::from)?;
                c.bytes += line as u64;
                c.rows += 1;
            }
        }
        if self.shown.len() < MAX_REPORTED_REJECTIONS {
            let room = MAX_REPORTED_REJECTIONS - self.shown.len();
            self.shown.extend(pending.drain(..).take(room));
        }
        pending.clear();
        Ok(())
    }

    /// Puts the kept rejections and the counts into the report; flushes the CSV.
    fn finish(&mut self, report: &mut ImportReport) -> Result<()> {
        self.take(&mut report.rejected)?;
        report.rejected = std::mem::take(&mut self.shown);
        report.rejected_total = self.total;
        report.rejected_truncated = self.total > report.rejected.len();
        if let Some(c) = &mut self.csv {
            c.out.flush()?;
            report.rejects_rows = Some(c.rows);
        }
        Ok(())
    }
}

impl Inventory<'_> {
    /// Imports a file. `progress` is called with the number of data rows processed (from the
    /// start again if a serialization failure or deadlock makes the whole import run again).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn import_dids(
        &self,
        actor: &Actor,
        file: impl Into<ImportFile>,
        mut opts: ImportOptions,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> Result<ImportReport> {
        let file = file.into();
        opts.defaults
            .check_text()
            .map_err(|e| StoreError::invalid(e.field(), e))?;
        // Up front, so that a dry run refuses the reason the real run would.
        crate::audit::check_reason(opts.reason.as_deref())?;
        let empty = match &file {
            ImportFile::Bytes(b) => b.is_empty(),
            ImportFile::Path(p) => {
                std::fs::metadata(p)
                    .map_err(|e| file_error(format!("cannot read the file: {e}")))?
                    .len()
                    == 0
            }
        };
        if empty {
            return Err(file_error("the file is empty"));
        }
        let done = crate::retry(|| self.import_once(actor, file.clone(), &opts, progress)).await;
        if done.is_err() {
            // A file refused as a whole has no rejected rows to tell.
            if let Some(p) = &opts.rejects_csv {
                let _ = std::fs::remove_file(p);
            }
        }
        done
    }

    /// One attempt: one transaction, rolled back unless it commits.
    async fn import_once(
        &self,
        actor: &Actor,
        file: ImportFile,
        opts: &ImportOptions,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> Result<ImportReport> {
        let mut rejects = Rejects::open(opts)?;
        let (tx, mut rx) = mpsc::channel::<Msg>(2);
        let defaults = opts.defaults.clone();
        let max_numbers = opts.max_numbers;
        let decoder = std::thread::spawn(move || {
            didhub_core::number::use_own_engine();
            let mut v = Validator::new(defaults, max_numbers, tx);
            match file {
                ImportFile::Bytes(b) => {
                    decode(std::io::Cursor::new(b.as_slice()), b.len() as u64, &mut v)
                }
                ImportFile::Path(p) => match File::open(&p).and_then(|f| {
                    let len = f.metadata()?.len();
                    Ok((f, len))
                }) {
                    Ok((f, len)) => decode(BufReader::with_capacity(64 * 1024, f), len, &mut v),
                    Err(e) => io_fatal(&mut v, e),
                },
            }
            v.finish();
        });

        let mut db = self.begin().await?;
        // An import only adds DIDs that route nowhere: the routing follower need not wait.
        crate::assignment::assign::no_routing(&mut db).await?;
        let batch_id = crate::audit::entry_id(&mut db).await?;
        // Names and ids only: the operator list with DID counts would scan the inventory.
        // Read in the import's own transaction: a second connection could wait out the pool
        // (`--pool-size 1`), and the list is then the one the import's writes build on.
        let known: Vec<(Uuid, String)> = crate::db::sql::on_tx!(&mut db, |c| sqlx::query_as(
            "SELECT id, name FROM operators"
        )
        .fetch_all(c)
        .await?);
        let mut operators: HashMap<String, Uuid> = known
            .into_iter()
            .map(|(id, name)| (name.to_lowercase(), id))
            .collect();
        let mut report = ImportReport {
            imported: 0,
            rejected: Vec::new(),
            rejected_total: 0,
            rejected_truncated: false,
            duplicates: 0,
            operators_created: Vec::new(),
            valid: 0,
            dry_run: opts.dry_run,
            batch_id: None,
            rejects_url: None,
            rejects_rows: None,
        };
        let mut fatal = None;
        // The stock change of the whole import, written once: one row per block of 100.
        let mut stock = StockTally::default();
        let mut bulk: Option<BulkLoad> = None;
        // The file's size until the bulk load is decided.
        let mut size: Option<u64> = None;
        // Operators locked by a bulk load's COPY stream so far (see `stream_chunks`).
        let mut held: HashSet<Uuid> = HashSet::new();
        // A message a COPY stream handed back.
        let mut pending: Option<Msg> = None;
        loop {
            let msg = match pending.take() {
                Some(m) => m,
                None => match rx.recv().await {
                    Some(m) => m,
                    None => break,
                },
            };
            match msg {
                Msg::Size(rows) => {
                    // A dry run never locks the inventory.
                    if !opts.dry_run {
                        size = Some(rows);
                    }
                }
                Msg::Fatal(e) => {
                    fatal = Some(e);
                    break;
                }
                Msg::Chunk {
                    rows,
                    rejected,
                    duplicates,
                    processed,
                } => {
                    report.rejected.extend(rejected);
                    report.duplicates += duplicates;
                    if let Some(p) = progress {
                        p(processed);
                    }
                    let refused = !opts.skip_invalid && rejects.any(&report.rejected);
                    if refused && !rows.is_empty() {
                        // Nothing will be written; still name the inventory duplicates.
                        if let Err(e) = self
                            .report_existing(&mut db, &rows, batch_id, bulk.as_ref(), &mut report)
                            .await
                        {
                            fatal = Some(e);
                            break;
                        }
                    } else if !rows.is_empty() {
                        // Decided at the first rows to write, not before: a file refused in
                        // its first chunk never locks the inventory.
                        if let Some(size) = size.take() {
                            let min = self.bulk_import_min_rows;
                            let begun = match &mut db {
                                Tx::Postgres(t) => BulkLoad::begin(t, size, min).await,
                                Tx::Sqlite(t) => BulkLoad::begin_sqlite(t, size, min).await,
                            };
                            match begun {
                                Ok(b) => {
                                    if let Some(load) = &b {
                                        held.extend(load.operators.iter().copied());
                                    }
                                    bulk = b;
                                }
                                Err(e) => {
                                    fatal = Some(e);
                                    break;
                                }
                            }
                        }
                        let written = match bulk.as_ref().filter(|_| db.is_postgres()) {
                            Some(load) => self
                                .stream_chunks(
                                    &mut db,
                                    actor,
                                    rows,
                                    batch_id,
                                    &mut operators,
                                    &mut held,
                                    &mut report,
                                    &mut rejects,
                                    &mut stock,
                                    load,
                                    &mut rx,
                                    opts.skip_invalid,
                                    progress,
                                )
                                .await
                                .map(|next| pending = next),
                            None => {
                                self.write_chunk(
                                    &mut db,
                                    actor,
                                    &rows,
                                    batch_id,
                                    &mut operators,
                                    &mut report,
                                    &mut stock,
                                    bulk.as_ref(),
                                )
                                .await
                            }
                        };
                        if let Err(e) = written {
                            fatal = Some(e);
                            break;
                        }
                    }
                    if let Err(e) = rejects.take(&mut report.rejected) {
                        fatal = Some(e);
                        break;
                    }
                }
            }
        }
        drop(rx);
        let joined = tokio::task::spawn_blocking(move || decoder.join()).await;
        if let Some(e) = fatal {
            return Err(e);
        }
        if !matches!(joined, Ok(Ok(()))) {
            // The decoder stopped without a word (a reader library's panic on a malformed
            // file): its last rows never arrived, so nothing of the file may be written.
            tracing::error!(file = %opts.file_name, "import decoder failed");
            return Err(file_error(
                "the file could not be read to its end (malformed or corrupt)",
            ));
        }
        // Row order, and number order within a row (a range's numbers as the range runs),
        // whichever path found them.
        rejects.finish(&mut report)?;
        let refused = !opts.skip_invalid && report.rejected_total > 0;
        if refused || opts.dry_run || report.valid == 0 {
            // Dropping the transaction rolls it back. A dry run reports the operators the
            // import would create; a refused or empty import created none.
            if refused {
                report.valid = 0;
            }
            if refused || !opts.dry_run {
                // Rolled back: the operators the import made are gone with it (and a dry run
                // of a file that would be refused reports what the real run would: none).
                report.operators_created.clear();
            }
            return Ok(report);
        }
        if let Some(load) = bulk {
            load.finish(&mut db).await?;
        }
        stock.write(&mut db).await?;
        write_audit(
            &mut db,
            AuditWrite {
                id: Some(batch_id),
                actor,
                action: "did.import",
                entity: "batch",
                entity_id: Some(batch_id),
                subject: None,
                changes: json!({
                    // The uploader's name for it, kept as a label: bounded and escaped.
                    "file": didhub_core::text::escape(&opts.file_name.chars().take(255).collect::<String>()),
                    "imported": report.valid,
                    "rejected": report.rejected_total,
                    "duplicates": report.duplicates,
                    "operators_created": report.operators_created,
                    "skip_invalid": opts.skip_invalid,
                    "defaults": {
                        "operator": opts.defaults.operator,
                        "status": opts.defaults.status,
                        "after_hold": opts.defaults.after_hold,
                        "tag": opts.defaults.tag,
                        "country": opts.defaults.country.map(|c| c.to_string()),
                    },
                }),
                reason: opts.reason.as_deref(),
            },
        )
        .await?;
        db.commit().await?;
        report.imported = report.valid;
        report.batch_id = Some(batch_id);
        metrics::counter!("didhub_import_rows_total").increment(report.imported as u64);
        Ok(report)
    }

    /// Writes a chunk on the row path: its operators, then its rows (see `bulk_insert`). On
    /// SQLite, also a bulk load's chunks (`load`: see `db::bulk_load`).
    #[allow(clippy::too_many_arguments)]
    async fn write_chunk(
        &self,
        db: &mut Tx,
        actor: &Actor,
        rows: &[Row],
        batch_id: Uuid,
        operators: &mut HashMap<String, Uuid>,
        report: &mut ImportReport,
        stock: &mut StockTally,
        load: Option<&BulkLoad>,
    ) -> Result<()> {
        let ops = self
            .row_operators(db, actor, rows, operators, report)
            .await?;
        if let Tx::Sqlite(t) = db {
            return sqlite_write(t, rows, &ops, batch_id, report, stock, load).await;
        }
        let mut new_rows = Vec::with_capacity(rows.len());
        for (r, op) in rows.iter().zip(ops) {
            push_rows(&mut new_rows, r, op);
        }
        let existing = self.bulk_insert(db, &new_rows, batch_id, stock).await?;
        note_existing(rows, &existing, report);
        report.valid += new_rows.len() - existing.len();
        Ok(())
    }

    /// The operator of each row of a chunk, creating those it names that do not exist yet
    /// (in the order the rows first name them).
    async fn row_operators(
        &self,
        db: &mut Tx,
        actor: &Actor,
        rows: &[Row],
        operators: &mut HashMap<String, Uuid>,
        report: &mut ImportReport,
    ) -> Result<Vec<Uuid>> {
        loop {
            match operator_ids(rows, operators, None) {
                Ok(ids) => return Ok(ids),
                Err(i) => {
                    let name = &rows[i].operator;
                    let id = insert_operator(db, actor, name, Some("created by import")).await?;
                    operators.insert(name.to_lowercase(), id);
                    report.operators_created.push(name.clone());
                }
            }
        }
    }

    /// Bulk load: writes this chunk and the ones after it by one COPY, which PostgreSQL works
    /// through while the next chunk is read and encoded (a COPY per chunk would leave each side
    /// waiting for the other at every chunk's end). The COPY ends with the file, or before a
    /// chunk that needs a statement first (an operator to create or to lock) or that makes the
    /// import refused; that message is handed back to be handled as any other.
    #[allow(clippy::too_many_arguments)]
    async fn stream_chunks(
        &self,
        db: &mut Tx,
        actor: &Actor,
        first: Vec<Row>,
        batch_id: Uuid,
        operators: &mut HashMap<String, Uuid>,
        held: &mut HashSet<Uuid>,
        report: &mut ImportReport,
        rejects: &mut Rejects,
        stock: &mut StockTally,
        load: &BulkLoad,
        rx: &mut mpsc::Receiver<Msg>,
        skip_invalid: bool,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> Result<Option<Msg>> {
        let ops = self
            .row_operators(db, actor, &first, operators, report)
            .await?;
        let to_hold: HashSet<Uuid> = ops
            .iter()
            .copied()
            .filter(|id| !held.contains(id))
            .collect();
        if !to_hold.is_empty() {
            crate::inventory::dids::hold_operators(db, to_hold.iter().copied()).await?;
            held.extend(to_hold);
        }
        let Tx::Postgres(t) = db else {
            return Err(StoreError::Config(
                "a bulk load runs on PostgreSQL only".into(),
            ));
        };
        let mut copy = DidCopy::open(t, batch_id).await?;
        copy_part(&mut copy, load, &first, &ops, report, stock).await?;
        rejects.take(&mut report.rejected)?;
        let leftover = loop {
            let Some(msg) = rx.recv().await else {
                break None;
            };
            let Msg::Chunk {
                rows,
                rejected,
                duplicates,
                processed,
            } = msg
            else {
                break Some(msg);
            };
            // A refused import writes no more (its rows only get their duplicates named).
            let writes = skip_invalid || (rejected.is_empty() && !rejects.any(&report.rejected));
            let ready = if writes {
                operator_ids(&rows, operators, Some(held)).ok()
            } else {
                None
            };
            let Some(ops) = ready else {
                break Some(Msg::Chunk {
                    rows,
                    rejected,
                    duplicates,
                    processed,
                });
            };
            report.rejected.extend(rejected);
            report.duplicates += duplicates;
            if let Some(p) = progress {
                p(processed);
            }
            copy_part(&mut copy, load, &rows, &ops, report, stock).await?;
            rejects.take(&mut report.rejected)?;
        };
        copy.finish().await?;
        Ok(leftover)
    }

    /// Adds the rows' numbers that are already in the inventory to the report.
    async fn report_existing(
        &self,
        db: &mut Tx,
        rows: &[Row],
        batch_id: Uuid,
        bulk: Option<&BulkLoad>,
        report: &mut ImportReport,
    ) -> Result<()> {
        let mut row_of: HashMap<String, usize> = HashMap::new();
        let mut probe = Vec::new();
        for r in rows {
            for n in &r.numbers {
                row_of.entry(n.e164.to_string()).or_insert(r.row);
                probe.push(NewRow::from_classified(
                    n,
                    Uuid::nil(),
                    r.status,
                    r.after_hold,
                    None,
                    None,
                ));
            }
        }
        for chunk in probe.chunks(500) {
            let there = match bulk {
                // The number index is being rebuilt: ask the load, not the table.
                Some(load) => chunk
                    .iter()
                    .filter(|r| load.taken(&r.number))
                    .map(|r| r.number.clone())
                    .collect(),
                None => crate::inventory::dids::already_there(db, chunk, batch_id).await?,
            };
            for num in there {
                report.duplicates += 1;
                report.rejected.push(Rejection {
                    row: row_of.get(&num).copied().unwrap_or(0),
                    reason: format!("duplicate: {num} is already in the inventory"),
                    value: num,
                });
            }
        }
        Ok(())
    }

    /// Inserts rows, returning numbers that were already in the inventory. On PostgreSQL the
    /// rows go in by COPY under a savepoint; only if a number collides is the chunk redone
    /// with the portable conflict-skipping insert that names the duplicates.
    async fn bulk_insert(
        &self,
        db: &mut Tx,
        rows: &[NewRow],
        batch_id: Uuid,
        stock: &mut StockTally,
    ) -> Result<Vec<String>> {
        crate::inventory::dids::hold_operators(db, rows.iter().map(|r| r.operator_id)).await?;
        if let Tx::Postgres(t) = db {
            use sqlx::Connection;
            let mut sp = (**t).begin().await?;
            match crate::inventory::export::pg_copy_in(&mut sp, rows, batch_id).await {
                Ok(()) => {
                    sp.commit().await?;
                    tally_stock(stock, rows);
                    return Ok(Vec::new());
                }
                Err(e) if e.is_unique_violation() => sp.rollback().await?,
                Err(e) => return Err(e),
            }
        }
        insert_rows(db, rows, batch_id, stock).await
    }
}
