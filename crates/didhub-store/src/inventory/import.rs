//! Import of DIDs from CSV, XLSX and XLS.
//!
//! A decoder thread reads the file and validates rows with the core rules while the database
//! writes the previous chunk, all in one transaction: an import lands whole or not at all
//! (a killed process leaves nothing). Skipping invalid rows, dry runs and inventory duplicates
//! are decided on the same path.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;

use calamine::{Data, Reader};
use didhub_core::import::{parse_row, Dedup, Defaults, Header, Rejection, Row};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::assignment::blocks::StockTally;
use crate::audit::{write_audit, AuditWrite};
use crate::db::bulk_load::BulkLoad;
use crate::db::sql::Tx;
use crate::inventory::dids::{insert_rows, NewRow};
use crate::inventory::export::{CopyRow, DidCopy};
use crate::inventory::operators::insert_operator;
use crate::{Actor, Inventory, Result, StoreError};

/// Longest value quoted back in a report.
const MAX_SHOWN: usize = 120;
/// Rows validated, or numbers accepted, per chunk handed to the writer (a row holding a range
/// counts each of its numbers, so that a chunk's memory stays bounded).
const CHUNK_ROWS: usize = 20_000;

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
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ImportReport {
    /// DIDs created (0 on a dry run or a refused import).
    pub imported: usize,
    /// One entry per refused number (a row holding a range can give several, each with the
    /// row's number), in row order.
    pub rejected: Vec<Rejection>,
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
}

/// Why a file cannot be read at all.
fn file_error(msg: impl std::fmt::Display) -> StoreError {
    StoreError::invalid("file", msg)
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= MAX_SHOWN {
        s.to_string()
    } else {
        let t: String = s.chars().take(MAX_SHOWN).collect();
        format!("{t}…")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Spreadsheet,
}

fn sniff(data: &[u8]) -> Format {
    // ZIP (xlsx, ods) or OLE2 compound file (xls).
    if data.starts_with(b"PK\x03\x04")
        || data.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
    {
        Format::Spreadsheet
    } else {
        Format::Csv
    }
}

/// Comma, semicolon or tab: whichever the header line holds most of (outside quotes).
fn detect_delimiter(data: &[u8]) -> u8 {
    let line = data.split(|&b| b == b'\n').next().unwrap_or(data);
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line.iter().take(64 * 1024) {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let delims = [b',', b';', b'\t'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    delims[best]
}

/// A spreadsheet cell as text; numbers as whole numbers, never `4.4e11`.
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e17 => format!("{}", *f as i128),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// What the decoder thread sends.
enum Msg {
    /// Sent first: how many rows the file holds (CSV lines or sheet rows, the header
    /// included), for the choice of a bulk load.
    Size(u64),
    Chunk {
        rows: Vec<Row>,
        rejected: Vec<Rejection>,
        duplicates: usize,
        processed: usize,
    },
    Fatal(StoreError),
}

struct Validator {
    header: Option<Header>,
    defaults: Defaults,
    dedup: Dedup,
    rows: Vec<Row>,
    rejected: Vec<Rejection>,
    duplicates: usize,
    processed: usize,
    flushed_at: usize,
    /// Numbers accepted so far, and those not yet handed to the writer.
    accepted: usize,
    pending: usize,
    max_numbers: usize,
    tx: mpsc::Sender<Msg>,
}

impl Validator {
    /// Handles one record; false when the writer has gone away.
    fn record(&mut self, row: usize, cells: Result<Vec<String>, Rejection>) -> bool {
        let cells = match cells {
            Ok(c) => c,
            Err(r) => {
                self.reject(r, false);
                return self.maybe_flush();
            }
        };
        let Some(h) = &self.header else {
            match Header::parse(&cells) {
                Ok(h) => {
                    if !h.has_operator() && self.defaults.operator.is_none() {
                        let _ = self.tx.blocking_send(Msg::Fatal(StoreError::invalid(
                            "operator",
                            "the file has no operator column and no default operator was given",
                        )));
                        return false;
                    }
                    self.header = Some(h);
                }
                Err(e) => {
                    let _ = self.tx.blocking_send(Msg::Fatal(file_error(format!(
                        "row {row}: {}",
                        shorten(&e.to_string())
                    ))));
                    return false;
                }
            }
            return true;
        };
        if cells.iter().all(|c| c.trim().is_empty()) {
            return true;
        }
        self.processed += 1;
        match parse_row(h, row, &cells, &self.defaults) {
            Ok(r) => match self.dedup.check(&r) {
                // Valid rows go on even in a refused import: the writer still checks them
                // against the inventory so that the report names every problem.
                Ok(()) => {
                    self.accepted += r.numbers.len();
                    if self.accepted > self.max_numbers {
                        let _ = self.tx.blocking_send(Msg::Fatal(file_error(format!(
                            "row {row}: the file holds more than {} numbers, the most one \
                             import takes; split it",
                            self.max_numbers
                        ))));
                        return false;
                    }
                    self.pending += r.numbers.len();
                    self.rows.push(r)
                }
                Err(rej) => self.reject(rej, true),
            },
            Err(mut rej) => {
                rej.value = shorten(&rej.value);
                // Reasons may quote the value; keep them readable whatever the cell holds.
                if rej.reason.chars().count() > 4 * MAX_SHOWN {
                    rej.reason = format!(
                        "{}…",
                        rej.reason.chars().take(4 * MAX_SHOWN).collect::<String>()
                    );
                }
                self.reject(rej, false)
            }
        }
        self.maybe_flush()
    }

    fn reject(&mut self, r: Rejection, duplicate: bool) {
        if duplicate {
            self.duplicates += 1;
        }
        self.rejected.push(r);
    }

    fn maybe_flush(&mut self) -> bool {
        if self.rows.len() + self.rejected.len() >= CHUNK_ROWS
            || self.processed - self.flushed_at >= CHUNK_ROWS
            || self.pending >= CHUNK_ROWS
        {
            return self.flush();
        }
        true
    }

    fn flush(&mut self) -> bool {
        self.flushed_at = self.processed;
        self.pending = 0;
        let msg = Msg::Chunk {
            rows: std::mem::take(&mut self.rows),
            rejected: std::mem::take(&mut self.rejected),
            duplicates: std::mem::take(&mut self.duplicates),
            processed: self.processed,
        };
        self.tx.blocking_send(msg).is_ok()
    }
}

fn decode_csv(data: &[u8], v: &mut Validator) {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(detect_delimiter(data))
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut rec = csv::ByteRecord::new();
    // Rows as a spreadsheet shows them: blank lines count, a quoted cell spanning lines does
    // not. Counted from byte offsets (the reader's line numbers are off after blank lines):
    // (start of the previous record, its row, newlines inside its cells).
    let newlines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
    let mut prev: Option<(usize, usize, usize)> = None;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                // The reported start is where the previous record ended; skip the blank lines.
                let mut start = rec
                    .position()
                    .map(|p| p.byte() as usize)
                    .unwrap_or(0)
                    .min(data.len());
                while start < data.len() && matches!(data[start], b'\n' | b'\r') {
                    start += 1;
                }
                let row = match prev {
                    None => 1 + newlines(&data[..start]),
                    Some((ps, prow, pnl)) => {
                        prow + newlines(&data[ps.min(start)..start]).saturating_sub(pnl)
                    }
                };
                prev = Some((start, row, rec.iter().map(newlines).sum()));
                let cells: Result<Vec<String>, Rejection> = rec
                    .iter()
                    .map(|f| std::str::from_utf8(f).map(str::to_string))
                    .collect::<Result<_, _>>()
                    .map_err(|_| Rejection {
                        row,
                        value: shorten(&String::from_utf8_lossy(rec.get(0).unwrap_or_default())),
                        reason: "not UTF-8 text: save the file as CSV UTF-8".into(),
                    });
                if v.header.is_none() {
                    if let Err(r) = &cells {
                        let _ = v.tx.blocking_send(Msg::Fatal(file_error(format!(
                            "row 1: {} (is this a CSV, XLSX or XLS file?)",
                            r.reason
                        ))));
                        return;
                    }
                }
                if !v.record(row, cells) {
                    return;
                }
            }
            Err(e) => {
                let _ = v.tx.blocking_send(Msg::Fatal(file_error(format!(
                    "not a readable CSV file: {e}"
                ))));
                return;
            }
        }
    }
    v.flush();
}

fn decode_spreadsheet(data: &[u8], v: &mut Validator) {
    let mut wb = match calamine::open_workbook_auto_from_rs(Cursor::new(data)) {
        Ok(wb) => wb,
        Err(e) => {
            let _ = v.tx.blocking_send(Msg::Fatal(file_error(format!(
                "not a readable XLSX or XLS file: {}",
                shorten(&e.to_string())
            ))));
            return;
        }
    };
    let range = match wb.worksheet_range_at(0) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            let _ = v.tx.blocking_send(Msg::Fatal(file_error(format!(
                "cannot read the first sheet: {}",
                shorten(&e.to_string())
            ))));
            return;
        }
        None => {
            let _ =
                v.tx.blocking_send(Msg::Fatal(file_error("the workbook has no sheet")));
            return;
        }
    };
    let _ = v.tx.blocking_send(Msg::Size(range.height() as u64));
    let first_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    let first_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
    for (i, r) in range.rows().enumerate() {
        // Cells left of the used range are empty; keep column positions as the sheet has them.
        let mut cells = vec![String::new(); first_col];
        cells.extend(r.iter().map(cell_text));
        if !v.record(first_row + i + 1, Ok(cells)) {
            return;
        }
    }
    v.flush();
}

impl Inventory<'_> {
    /// Imports a file. `progress` is called with the number of data rows processed (from the
    /// start again if a serialization failure or deadlock makes the whole import run again).
    pub async fn import_dids(
        &self,
        actor: &Actor,
        data: Vec<u8>,
        mut opts: ImportOptions,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> Result<ImportReport> {
        opts.defaults
            .check_text()
            .map_err(|e| StoreError::invalid(e.field(), e))?;
        // Up front, so that a dry run refuses the reason the real run would.
        crate::audit::check_reason(opts.reason.as_deref())?;
        if data.is_empty() {
            return Err(file_error("the file is empty"));
        }
        let data = Arc::new(data);
        crate::retry(|| self.import_once(actor, data.clone(), &opts, progress)).await
    }

    /// One attempt: one transaction, rolled back unless it commits.
    async fn import_once(
        &self,
        actor: &Actor,
        data: Arc<Vec<u8>>,
        opts: &ImportOptions,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> Result<ImportReport> {
        let (tx, mut rx) = mpsc::channel::<Msg>(2);
        let defaults = opts.defaults.clone();
        let max_numbers = opts.max_numbers;
        let decoder = std::thread::spawn(move || {
            didhub_core::number::use_own_engine();
            let format = sniff(&data);
            // Rows of a CSV file (its lines); a sheet's are known once it is read.
            let lines = match format {
                Format::Csv => data.iter().filter(|&&b| b == b'\n').count() as u64,
                Format::Spreadsheet => 0,
            };
            let mut v = Validator {
                header: None,
                defaults,
                // Sized for the whole file at once: growing a large map rehashes it each time.
                dedup: Dedup::with_capacity(lines.min(max_numbers as u64) as usize),
                rows: Vec::new(),
                rejected: Vec::new(),
                duplicates: 0,
                processed: 0,
                flushed_at: 0,
                accepted: 0,
                pending: 0,
                max_numbers,
                tx,
            };
            match format {
                Format::Csv => {
                    let _ = v.tx.blocking_send(Msg::Size(lines));
                    decode_csv(&data, &mut v)
                }
                Format::Spreadsheet => decode_spreadsheet(&data, &mut v),
            }
            if v.header.is_none() && v.processed == 0 {
                let _ =
                    v.tx.blocking_send(Msg::Fatal(file_error("the file has no header row")));
            }
        });

        let mut db = self.begin().await?;
        // An import only adds DIDs that route nowhere: the routing follower need not wait.
        crate::assignment::assign::no_routing(&mut db).await?;
        let batch_id = crate::audit::entry_id(&mut db).await?;
        // Names and ids only: the operator list with DID counts would scan the inventory.
        // Read in the import's own transaction: a second connection could wait out the pool
        // (`--pool-size 1`), and the list is then the one the import's writes build on.
        let known: Vec<(Uuid, String)> = crate::db::sql::on_tx!(&mut db, c => sqlx::query_as("SELECT id, name FROM operators").fetch_all(c).await?);
        let mut operators: HashMap<String, Uuid> = known
            .into_iter()
            .map(|(id, name)| (name.to_lowercase(), id))
            .collect();
        let mut report = ImportReport {
            imported: 0,
            rejected: Vec::new(),
            duplicates: 0,
            operators_created: Vec::new(),
            valid: 0,
            dry_run: opts.dry_run,
            batch_id: None,
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
                    let refused = !opts.skip_invalid && !report.rejected.is_empty();
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
                        if let (Some(size), Tx::Postgres(t)) = (size.take(), &mut db) {
                            match BulkLoad::begin(t, size, self.bulk_import_min_rows).await {
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
                        let written = match bulk.as_ref() {
                            Some(load) => self
                                .stream_chunks(
                                    &mut db,
                                    actor,
                                    rows,
                                    batch_id,
                                    &mut operators,
                                    &mut held,
                                    &mut report,
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
                                )
                                .await
                            }
                        };
                        if let Err(e) = written {
                            fatal = Some(e);
                            break;
                        }
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
        report
            .rejected
            .sort_by(|a, b| (a.row, &a.value).cmp(&(b.row, &b.value)));
        let refused = !opts.skip_invalid && !report.rejected.is_empty();
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
        if let (Some(load), Tx::Postgres(t)) = (bulk, &mut db) {
            load.finish(t).await?;
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
                    "rejected": report.rejected.len(),
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

    /// Writes a chunk on the row path: its operators, then its rows (see `bulk_insert`).
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
    ) -> Result<()> {
        let ops = self
            .row_operators(db, actor, rows, operators, report)
            .await?;
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
            let writes = skip_invalid || (rejected.is_empty() && report.rejected.is_empty());
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

/// A row's numbers as rows to write, with the operator resolved.
fn push_rows(out: &mut Vec<NewRow>, r: &Row, operator_id: Uuid) {
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
fn operator_ids(
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

/// Bulk load: one chunk's numbers into the open COPY, straight from the parsed rows, less
/// those the inventory held already.
async fn copy_part(
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
fn note_existing(rows: &[Row], existing: &[String], report: &mut ImportReport) {
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
fn tally_stock(stock: &mut StockTally, rows: &[NewRow]) {
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
