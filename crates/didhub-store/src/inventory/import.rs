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

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

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
use crate::inventory::sheet::{RowShape, RowSink, MAX_ROW_BYTES};
use crate::{Actor, Inventory, Result, StoreError};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    /// ZIP: XLSX (or another ZIP-based file, which `sheet` names and refuses).
    Zip,
    /// OLE2 compound file: XLS.
    Compound,
}

fn sniff(data: &[u8]) -> Format {
    if data.starts_with(b"PK\x03\x04") {
        Format::Zip
    } else if data.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Format::Compound
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
    /// Text held by the rows and rejections not yet handed to the writer.
    pending_bytes: usize,
    max_numbers: usize,
    tx: mpsc::Sender<Msg>,
    /// Whether the row count was sent.
    sized: bool,
    /// The file was refused, or the writer went away: nothing more is sent.
    done: bool,
}

impl Validator {
    fn fatal(&mut self, e: StoreError) {
        if !self.done {
            self.done = true;
            let _ = self.tx.blocking_send(Msg::Fatal(e));
        }
    }

    fn size(&mut self, rows: u64) {
        if !self.sized {
            self.sized = true;
            let _ = self.tx.blocking_send(Msg::Size(rows));
        }
    }

    /// Handles one record; false when the writer has gone away or the file is refused.
    /// `beyond`: a cell right of those given holds text (the row is not blank).
    fn record<S: AsRef<str>>(
        &mut self,
        row: usize,
        cells: std::result::Result<&[S], Rejection>,
        beyond: bool,
    ) -> bool {
        let cells = match cells {
            Ok(c) => c,
            Err(r) if self.header.is_none() => {
                self.fatal(file_error(format!("row {row}: {}", r.reason)));
                return false;
            }
            Err(r) => {
                self.processed += 1;
                self.reject(r, false);
                return self.maybe_flush();
            }
        };
        let Some(h) = &self.header else {
            match Header::parse(cells) {
                Ok(h) => {
                    if !h.has_operator() && self.defaults.operator.is_none() {
                        self.fatal(StoreError::invalid(
                            "operator",
                            "the file has no operator column and no default operator was given",
                        ));
                        return false;
                    }
                    self.header = Some(h);
                }
                Err(e) => {
                    self.fatal(file_error(format!(
                        "row {row}: {}",
                        shorten(&e.to_string())
                    )));
                    return false;
                }
            }
            return true;
        };
        if !beyond && cells.iter().all(|c| c.as_ref().trim().is_empty()) {
            return true;
        }
        self.processed += 1;
        match parse_row(h, row, cells, &self.defaults) {
            Ok(r) => match self.dedup.check(&r) {
                // Valid rows go on even in a refused import: the writer still checks them
                // against the inventory so that the report names every problem.
                Ok(()) => {
                    self.accepted += r.numbers.len();
                    if self.accepted > self.max_numbers {
                        self.fatal(file_error(format!(
                            "row {row}: the file holds more than {} numbers, the most one \
                             import takes; split it",
                            self.max_numbers
                        )));
                        return false;
                    }
                    self.pending += r.numbers.len();
                    self.pending_bytes += r.operator.len()
                        + r.tag.as_ref().map_or(0, String::len)
                        + r.notes.as_ref().map_or(0, String::len)
                        + r.numbers.len() * std::mem::size_of::<didhub_core::number::Classified>();
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
        self.pending_bytes += 64 + r.value.len() + r.reason.len();
        self.rejected.push(r);
    }

    fn maybe_flush(&mut self) -> bool {
        if self.rows.len() + self.rejected.len() >= CHUNK_ROWS
            || self.processed - self.flushed_at >= CHUNK_ROWS
            || self.pending >= CHUNK_ROWS
            || self.pending_bytes >= CHUNK_BYTES
        {
            return self.flush();
        }
        true
    }

    fn flush(&mut self) -> bool {
        if self.done {
            return false;
        }
        self.flushed_at = self.processed;
        self.pending = 0;
        self.pending_bytes = 0;
        let msg = Msg::Chunk {
            rows: std::mem::take(&mut self.rows),
            rejected: std::mem::take(&mut self.rejected),
            duplicates: std::mem::take(&mut self.duplicates),
            processed: self.processed,
        };
        self.done = self.tx.blocking_send(msg).is_err();
        !self.done
    }
}

/// A sheet reader's rows into the validator.
impl RowSink for Validator {
    fn size(&mut self, rows: u64) {
        Validator::size(self, rows)
    }

    fn width(&self) -> usize {
        self.header.as_ref().map_or(usize::MAX, Header::width)
    }

    fn row(&mut self, row: usize, cells: &[String], shape: RowShape) -> bool {
        if shape.oversize && self.header.is_none() {
            self.fatal(header_too_long(row, ""));
            return false;
        }
        if shape.oversize {
            return self.record::<String>(row, Err(too_long(row)), true);
        }
        self.record(row, Ok(cells), shape.beyond)
    }
}

/// The rejection of a row holding more text than a row may.
fn too_long(row: usize) -> Rejection {
    Rejection {
        row,
        value: String::new(),
        reason: format!(
            "the row holds over {} MB of text (or over {MAX_FIELDS} cells)",
            MAX_ROW_BYTES >> 20
        ),
    }
}

/// The refusal of a file whose header row holds more than a row may.
fn header_too_long(row: usize, hint: &str) -> StoreError {
    file_error(format!(
        "row {row}: the header row holds over {} MB of text or over {MAX_FIELDS} columns{hint}",
        MAX_ROW_BYTES >> 20
    ))
}

fn io_fatal(v: &mut Validator, e: std::io::Error) {
    v.fatal(file_error(format!("cannot read the file: {e}")));
}

/// Decodes a file of `len` bytes, whatever its format.
fn decode<R: Read + Seek>(mut r: R, len: u64, v: &mut Validator) {
    let mut magic = [0u8; 8];
    let mut got = 0;
    while got < magic.len() {
        match r.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return io_fatal(v, e),
        }
    }
    if let Err(e) = r.seek(SeekFrom::Start(0)) {
        return io_fatal(v, e);
    }
    let sheet = match sniff(&magic[..got]) {
        Format::Csv => return decode_csv(r, v),
        Format::Zip => crate::inventory::sheet::read_xlsx(r, v),
        Format::Compound => crate::inventory::xls::read_xls(r, len, v),
    };
    match sheet {
        Ok(()) => {
            v.size(0);
            v.flush();
        }
        Err(msg) => v.fatal(file_error(msg)),
    }
}

fn count_newlines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

fn decode_csv<R: Read + Seek>(mut r: R, v: &mut Validator) {
    // A first pass counts the lines: the size of the duplicate map, and the bulk-load choice.
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines = 0u64;
    let mut head: Vec<u8> = Vec::new();
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                lines += count_newlines(&buf[..n]) as u64;
                if head.len() < 64 * 1024 {
                    let k = n.min(64 * 1024 - head.len());
                    head.extend_from_slice(&buf[..k]);
                }
            }
            Err(e) => return io_fatal(v, e),
        }
    }
    drop(buf);
    // Sized for the whole file at once: growing a large map rehashes it each time.
    v.dedup = Dedup::with_capacity(lines.min(v.max_numbers as u64) as usize);
    v.size(lines);
    let bom = head.starts_with(b"\xEF\xBB\xBF");
    let delimiter = detect_delimiter(if bom { &head[3..] } else { &head });
    drop(head);
    if let Err(e) = r.seek(SeekFrom::Start(if bom { 3 } else { 0 })) {
        return io_fatal(v, e);
    }
    let mut input = BufReader::with_capacity(64 * 1024, r);
    let mut core = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut out = vec![0u8; 4096];
    let mut ends = vec![0usize; 64];
    let (mut out_len, mut nends) = (0usize, 0usize);
    // A record over the bounds is read to its end but not kept.
    let mut oversize = false;
    // Rows as a spreadsheet shows them: blank lines count, a quoted cell spanning lines does
    // not. So a record's row is 1 + the newlines before its first byte - the newlines inside
    // the cells of the records before it.
    let mut newlines = 0usize;
    let mut inside_before = 0usize;
    let mut inside = 0usize;
    let mut start: Option<usize> = None;
    let mut eof = false;
    loop {
        let chunk = if eof {
            &[][..]
        } else {
            match input.fill_buf() {
                Ok(b) => b,
                Err(e) => return io_fatal(v, e),
            }
        };
        if chunk.is_empty() {
            eof = true;
        }
        let (res, nin, nout, nend) =
            core.read_record(chunk, &mut out[out_len..], &mut ends[nends..]);
        let used = &chunk[..nin];
        if start.is_none() {
            if let Some(i) = used.iter().position(|&b| b != b'\n' && b != b'\r') {
                start = Some(newlines + count_newlines(&used[..i]));
            }
        }
        newlines += count_newlines(used);
        input.consume(nin);
        out_len += nout;
        nends += nend;
        match res {
            csv_core::ReadRecordResult::InputEmpty => {
                if eof {
                    break;
                }
            }
            csv_core::ReadRecordResult::OutputFull => {
                if out.len() >= MAX_ROW_BYTES {
                    oversize = true;
                    inside += count_newlines(&out[..out_len]);
                    out_len = 0;
                } else {
                    out.resize(out.len() * 2, 0);
                }
            }
            csv_core::ReadRecordResult::OutputEndsFull => {
                if ends.len() >= MAX_FIELDS {
                    oversize = true;
                    nends = 0;
                } else {
                    ends.resize(ends.len() * 2, 0);
                }
            }
            csv_core::ReadRecordResult::Record => {
                inside += count_newlines(&out[..out_len]);
                let row = (1 + start.unwrap_or(newlines)).saturating_sub(inside_before);
                let go = if oversize {
                    if v.header.is_none() {
                        v.fatal(header_too_long(row, " (is this a CSV, XLSX or XLS file?)"));
                        return;
                    }
                    v.record::<&str>(row, Err(too_long(row)), true)
                } else {
                    let mut fields: Vec<&str> = Vec::with_capacity(nends);
                    let mut from = 0;
                    let mut bad = false;
                    for &end in &ends[..nends] {
                        match std::str::from_utf8(&out[from..end]) {
                            Ok(f) => fields.push(f),
                            Err(_) => bad = true,
                        }
                        from = end;
                    }
                    if bad {
                        let first = if nends > 0 { ends[0].min(out_len) } else { 0 };
                        let r = Rejection {
                            row,
                            value: shorten(&String::from_utf8_lossy(&out[..first])),
                            reason: "not UTF-8 text: save the file as CSV UTF-8".into(),
                        };
                        if v.header.is_none() {
                            v.fatal(file_error(format!(
                                "row 1: {} (is this a CSV, XLSX or XLS file?)",
                                r.reason
                            )));
                            return;
                        }
                        v.record::<&str>(row, Err(r), false)
                    } else {
                        v.record(row, Ok(&fields[..]), false)
                    }
                };
                if !go {
                    return;
                }
                inside_before += inside;
                inside = 0;
                start = None;
                out_len = 0;
                nends = 0;
                oversize = false;
            }
            csv_core::ReadRecordResult::End => break,
        }
    }
    v.flush();
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
            let mut v = Validator {
                header: None,
                defaults,
                dedup: Dedup::default(),
                rows: Vec::new(),
                rejected: Vec::new(),
                duplicates: 0,
                processed: 0,
                flushed_at: 0,
                accepted: 0,
                pending: 0,
                pending_bytes: 0,
                max_numbers,
                tx,
                sized: false,
                done: false,
            };
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
            if v.header.is_none() && v.processed == 0 {
                v.fatal(file_error("the file has no header row"));
            }
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

/// SQLite: one chunk's numbers, bound straight from the parsed rows (see `sqlite_bulk`); in a
/// bulk load, less those the inventory held already.
async fn sqlite_write(
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
