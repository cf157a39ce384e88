//! The decoder thread: reads the file (CSV here, sheets through `sheet/`), checks each row
//! with the core's rules and hands the writer chunks bounded in rows and bytes.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use didhub_core::import::{parse_row, Dedup, Defaults, Header, Rejection, Row};
use tokio::sync::mpsc;

use super::{file_error, shorten, CHUNK_BYTES, CHUNK_ROWS, MAX_FIELDS, MAX_SHOWN};
use crate::inventory::sheet::{RowShape, RowSink, MAX_ROW_BYTES};
use crate::StoreError;

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
pub(super) enum Msg {
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

pub(super) struct Validator {
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
    /// A validator of a file's rows, sending its chunks on `tx`.
    pub(super) fn new(defaults: Defaults, max_numbers: usize, tx: mpsc::Sender<Msg>) -> Self {
        Validator {
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
        }
    }

    /// After the file's end: a file without even a header row is refused.
    pub(super) fn finish(&mut self) {
        if self.header.is_none() && self.processed == 0 {
            self.fatal(file_error("the file has no header row"));
        }
    }

    pub(super) fn fatal(&mut self, e: StoreError) {
        if !self.done {
            self.done = true;
            let _ = self.tx.blocking_send(Msg::Fatal(e));
        }
    }

    fn size(&mut self, rows: u64) {
        if !self.sized {
            self.sized = true;
            // A row holds one number at least, mostly exactly one; bounded by what an import
            // may hold, so that a file of empty lines reserves no more than a full one.
            let most = usize::try_from(rows).unwrap_or(usize::MAX);
            self.dedup.reserve(most.min(self.max_numbers));
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

pub(super) fn io_fatal(v: &mut Validator, e: std::io::Error) {
    v.fatal(file_error(format!("cannot read the file: {e}")));
}

/// Decodes a file of `len` bytes, whatever its format.
pub(super) fn decode<R: Read + Seek>(mut r: R, len: u64, v: &mut Validator) {
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
