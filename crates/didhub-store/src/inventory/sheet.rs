//! Spreadsheet files for the import, read cell by cell so that memory follows the cells a sheet
//! holds, never the range it declares (a sheet whose only far cell is `XFD1048576` once made
//! the reader allocate the whole grid). XLSX goes through calamine's cell reader after a check
//! of the archive (`check_xlsx`), since calamine holds a workbook's shared strings and styles
//! whole; XLS (BIFF8) through the reader in `xls.rs`. Other workbooks (ODS, XLSB) are refused:
//! their readers build whole sheets at once.

use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom};

use calamine::{DataRef, Reader, Xlsx, XlsxError};

/// Most text one row may hold (its kept cells together); a longer row is rejected.
pub(crate) const MAX_ROW_BYTES: usize = 1 << 20;
/// Columns of a sheet (`A` to `XFD`).
const MAX_COLUMNS: u32 = 16_384;

/// Parts of an XLSX archive: at most this many (a real workbook has a few dozen).
const MAX_ZIP_ENTRIES: u64 = 10_000;
/// Unpacked size of an XLSX archive's parts together.
const MAX_UNPACKED: u64 = 1 << 30;
/// Longest markup or text run of an XML part, and longest cell or shared string element: the
/// XML reader holds one run at a time, and a cell's value is built whole.
const MAX_XML_RUN: u64 = 1 << 20;
/// What the shared strings of an XLSX (or XLS) may take once read: their text plus a string's
/// own overhead each (`STRING_HELD`).
pub(crate) const MAX_SHARED_STRINGS: u64 = 96 << 20;
/// A string's overhead in a list of strings: its 24 bytes, twice while the list grows.
pub(crate) const STRING_HELD: u64 = 48;
/// Unpacked size of each other part calamine reads whole when it opens a workbook (the
/// workbook, its relationships, content types, theme): a real one is a few kilobytes.
const MAX_HELD_PART: u64 = 8 << 20;
/// Unpacked size of the styles part (Excel's 64,000 cell formats take about 10 MB).
const MAX_STYLES_PART: u64 = 16 << 20;
/// What the cell styles of an XLSX may take once read (calamine copies a style's font, fill,
/// border and number format into each cell format).
const MAX_STYLES: u64 = 32 << 20;
/// Bytes of sheet XML per row at the least (`<row><c><v>1</v></c></row>`): bounds the row
/// count a sheet declares, which only guides the choice of a bulk load.
const MIN_ROW_XML: u64 = 20;

/// Where a sheet reader hands its rows.
pub(crate) trait RowSink {
    /// The sheet's row count as declared, at most once and before the first row (a hint).
    fn size(&mut self, rows: u64);
    /// How many leading columns to keep (all until the header row is read).
    fn width(&self) -> usize;
    /// A row holding at least one cell, numbered as the sheet shows it, its cells placed by
    /// column up to `width`. False stops the reading.
    fn row(&mut self, row: usize, cells: &[String], shape: RowShape) -> bool;
}

/// What a row holds beyond its kept cells.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RowShape {
    /// A cell right of the kept columns holds text: the row is not blank.
    pub beyond: bool,
    /// The kept cells passed `MAX_ROW_BYTES`; they are not handed on.
    pub oversize: bool,
}

/// Cells in file order, grouped into rows.
#[derive(Default)]
pub(crate) struct RowBuilder {
    row: Option<u32>,
    cells: Vec<String>,
    bytes: usize,
    shape: RowShape,
}

impl RowBuilder {
    /// Adds a cell (`row`, `col` from 0); hands the previous row on when this one starts.
    /// `Ok(false)` when the sink asked to stop.
    pub fn cell(
        &mut self,
        sink: &mut dyn RowSink,
        row: u32,
        col: u32,
        text: Cow<'_, str>,
    ) -> Result<bool, String> {
        if col >= MAX_COLUMNS {
            return Err(format!(
                "row {}: a cell beyond the last column (XFD)",
                row as u64 + 1
            ));
        }
        match self.row {
            Some(r) if r == row => {}
            Some(r) if row < r => {
                return Err(format!(
                    "row {}: the sheet's rows are out of order (row {} came first)",
                    row as u64 + 1,
                    r as u64 + 1
                ))
            }
            _ => {
                if !self.finish(sink) {
                    return Ok(false);
                }
                self.row = Some(row);
            }
        }
        let col = col as usize;
        if col >= sink.width() {
            self.shape.beyond |= !text.trim().is_empty();
            return Ok(true);
        }
        if self.shape.oversize {
            return Ok(true);
        }
        self.bytes += text.len();
        if self.bytes > MAX_ROW_BYTES {
            self.shape.oversize = true;
            self.cells.clear();
            return Ok(true);
        }
        if self.cells.len() <= col {
            self.cells.resize(col + 1, String::new());
        }
        self.cells[col] = text.into_owned();
        Ok(true)
    }

    /// Hands the row being built on; false when the sink asked to stop.
    pub fn finish(&mut self, sink: &mut dyn RowSink) -> bool {
        let Some(r) = self.row.take() else {
            return true;
        };
        let go = sink.row(r as usize + 1, &self.cells, self.shape);
        self.cells.clear();
        self.bytes = 0;
        self.shape = RowShape::default();
        go
    }
}

/// A number as text: whole numbers as such, never `4.4e11`.
pub(crate) fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e17 {
        format!("{}", f as i128)
    } else {
        f.to_string()
    }
}

fn cell_text<'a>(d: &'a DataRef<'_>) -> Cow<'a, str> {
    match d {
        DataRef::Empty => Cow::Borrowed(""),
        DataRef::SharedString(s) => Cow::Borrowed(s),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
            Cow::Borrowed(s.as_str())
        }
        DataRef::Int(i) => Cow::Owned(i.to_string()),
        DataRef::Float(f) => Cow::Owned(float_text(*f)),
        DataRef::Bool(b) => Cow::Owned(b.to_string()),
        DataRef::DateTime(d) => Cow::Owned(d.to_string()),
        DataRef::Error(e) => Cow::Owned(format!("#{e:?}")),
    }
}

/// Reads the first sheet of an XLSX workbook, or says what else the ZIP file is.
pub(crate) fn read_xlsx<R: Read + Seek>(mut r: R, sink: &mut dyn RowSink) -> Result<(), String> {
    let sheet_xml = check_xlsx(&mut r)?;
    r.seek(SeekFrom::Start(0))
        .map_err(|e| format!("cannot read the file: {e}"))?;
    let mut wb: Xlsx<R> = Xlsx::new(r).map_err(|e| {
        format!(
            "not a readable XLSX or XLS file: {}",
            crate::inventory::import::shorten(&e.to_string())
        )
    })?;
    let Some(name) = wb.sheet_names().into_iter().next() else {
        return Err("the workbook has no sheet".into());
    };
    let read_err = |e: XlsxError| {
        format!(
            "cannot read the first sheet: {}",
            crate::inventory::import::shorten(&e.to_string())
        )
    };
    let mut cells = match wb.worksheet_cells_reader(&name) {
        Ok(c) => c,
        // A chart sheet first: no rows (the import then says it has no header row).
        Err(XlsxError::NotAWorksheet(_)) => return Ok(()),
        Err(e) => return Err(read_err(e)),
    };
    let dims = cells.dimensions();
    let declared = if dims == calamine::Dimensions::default() {
        u64::MAX
    } else {
        (dims.end.0 as u64).saturating_sub(dims.start.0 as u64) + 1
    };
    sink.size(declared.min(sheet_xml / MIN_ROW_XML));
    let mut rows = RowBuilder::default();
    loop {
        match cells.next_cell() {
            Ok(Some(c)) => {
                let v = c.get_value();
                if matches!(v, DataRef::Empty) {
                    continue;
                }
                let (row, col) = c.get_position();
                if !rows.cell(sink, row, col, cell_text(v))? {
                    return Ok(());
                }
            }
            Ok(None) => break,
            Err(e) => return Err(read_err(e)),
        }
    }
    rows.finish(sink);
    Ok(())
}

/// Checks an XLSX archive before calamine reads it, so that what it holds whole stays small:
/// the number of parts, their unpacked size, the longest XML run or cell, the shared strings
/// and the cell styles. Returns the unpacked size of the largest worksheet part. Says what
/// the file is when it is a ZIP file but no XLSX.
fn check_xlsx<R: Read + Seek>(r: &mut R) -> Result<u64, String> {
    let unreadable = |e: &dyn std::fmt::Display| {
        format!(
            "not a readable XLSX or XLS file: {}",
            crate::inventory::import::shorten(&e.to_string())
        )
    };
    // The ZIP reader holds an entry per part listed in the central directory: bound the count
    // any end-of-directory record of the file declares before it reads them.
    let entries = zip_declared_entries(r).map_err(|e| unreadable(&e))?;
    if entries > MAX_ZIP_ENTRIES {
        return Err(format!(
            "not a readable XLSX or XLS file: the archive declares {entries} parts (at most {MAX_ZIP_ENTRIES})"
        ));
    }
    r.seek(SeekFrom::Start(0)).map_err(|e| unreadable(&e))?;
    let mut zip = zip::ZipArchive::new(&mut *r).map_err(|e| unreadable(&e))?;
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(&e))?;
    let has = |n: &str| names.iter().any(|x| x.eq_ignore_ascii_case(n));
    if has("mimetype")
        && !names
            .iter()
            .any(|n| n.ends_with(".xml") && n.starts_with("xl/"))
    {
        return Err("an OpenDocument spreadsheet (ODS) is not read: save it as XLSX or CSV".into());
    }
    if names
        .iter()
        .any(|n| n.to_ascii_lowercase().ends_with("workbook.bin"))
    {
        return Err("a binary workbook (XLSB) is not read: save it as XLSX or CSV".into());
    }
    let mut total = 0u64;
    let mut sheet_xml = 0u64;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| unreadable(&e))?;
        let shown = f.name().map_err(|e| unreadable(&e))?.into_owned();
        let name = shown.to_ascii_lowercase();
        total = total.saturating_add(f.size());
        if total > MAX_UNPACKED {
            return Err(format!(
                "the workbook unpacks to over {} MB: save it as CSV",
                MAX_UNPACKED >> 20
            ));
        }
        if !(name.ends_with(".xml") || name.ends_with(".rels")) {
            continue;
        }
        if name.contains("worksheets/") {
            sheet_xml = sheet_xml.max(f.size());
        }
        let limit = if name.ends_with("styles.xml") {
            MAX_STYLES_PART
        } else if opened_whole(&name) {
            MAX_HELD_PART
        } else {
            u64::MAX
        };
        if f.size() > limit {
            return Err(format!(
                "{}: over {} MB unpacked: save the file as CSV",
                crate::inventory::import::shorten(&shown),
                limit >> 20
            ));
        }
        let scan = XmlScan::read(&mut f).map_err(|e| unreadable(&e))?;
        if scan.longest > MAX_XML_RUN {
            return Err(format!(
                "{}: a cell, text or tag of over {} MB: save the file as CSV",
                crate::inventory::import::shorten(&shown),
                MAX_XML_RUN >> 20
            ));
        }
        if name.ends_with("sharedstrings.xml") {
            let held = f
                .size()
                .saturating_add(scan.strings.saturating_mul(STRING_HELD));
            if held > MAX_SHARED_STRINGS {
                return Err(format!(
                    "the workbook's shared text would take over {} MB: save it as CSV",
                    MAX_SHARED_STRINGS >> 20
                ));
            }
        }
    }
    if let Some(styles) = names
        .iter()
        .find(|n| n.to_ascii_lowercase().ends_with("styles.xml"))
    {
        let f = zip.by_name(styles).map_err(|e| unreadable(&e))?;
        let held = styles_held(std::io::BufReader::new(f)).map_err(|e| unreadable(&e))?;
        if held > MAX_STYLES {
            return Err(format!(
                "the workbook's cell styles would take over {} MB: save it as CSV",
                MAX_STYLES >> 20
            ));
        }
    }
    Ok(sheet_xml)
}

/// Whether calamine reads this part (lower case) whole when it opens a workbook, besides the
/// shared strings and styles: the content types, the package's and the workbook's
/// relationships, the workbook, the theme.
fn opened_whole(name: &str) -> bool {
    name == "[content_types].xml"
        || name == "_rels/.rels"
        || (name.contains("workbook") && (name.ends_with(".xml") || name.ends_with(".rels")))
        || (name.contains("theme/") && name.ends_with(".xml"))
}

/// The largest entry count declared by any end-of-central-directory record (ZIP or ZIP64)
/// in the file's tail, where a ZIP reader looks for one.
fn zip_declared_entries<R: Read + Seek>(r: &mut R) -> std::io::Result<u64> {
    let len = r.seek(SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65_535 + 20);
    r.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as u64;
    let mut most = 0u64;
    for p in (0..tail.len().saturating_sub(21)).rev() {
        if &tail[p..p + 4] != b"PK\x05\x06" {
            continue;
        }
        most = most.max(u16_at(&tail, p + 8)).max(u16_at(&tail, p + 10));
        // A ZIP64 locator just before it points at the ZIP64 record and its 8-byte counts.
        if p >= 20 && &tail[p - 20..p - 16] == b"PK\x06\x07" {
            let mut off = [0u8; 8];
            off.copy_from_slice(&tail[p - 12..p - 4]);
            let at = u64::from_le_bytes(off);
            if at.checked_add(56).is_some_and(|end| end <= len) {
                let here = r.stream_position()?;
                r.seek(SeekFrom::Start(at))?;
                let mut rec = [0u8; 56];
                r.read_exact(&mut rec)?;
                r.seek(SeekFrom::Start(here))?;
                if &rec[..4] == b"PK\x06\x06" {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(&rec[24..32]);
                    most = most.max(u64::from_le_bytes(n));
                    n.copy_from_slice(&rec[32..40]);
                    most = most.max(u64::from_le_bytes(n));
                }
            }
        }
    }
    Ok(most)
}

/// One pass over an XML part's bytes: its longest run (a tag, a text between tags, a comment,
/// CDATA section or declaration, or a whole `c`, `si` or `is` element) and its number of
/// `si` elements (shared strings).
#[derive(Debug, Default)]
struct XmlScan {
    longest: u64,
    strings: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    /// Just after `<`.
    Open,
    /// An element's tag (its name being read while `naming`), with the quote it is inside.
    Tag {
        quote: u8,
    },
    /// `<!`, deciding between a comment, CDATA and a declaration.
    Bang,
    Comment,
    Cdata,
    /// A declaration (`<!DOCTYPE …>`) with its bracket depth.
    Decl {
        depth: u32,
    },
    Pi,
}

impl XmlScan {
    fn read(r: &mut impl Read) -> std::io::Result<XmlScan> {
        let mut scan = XmlScan::default();
        let mut mode = Mode::Text;
        let mut pos = 0u64;
        // Where the current run started; the last three bytes (for `-->`, `]]>`, `?>`).
        let mut run_start = 0u64;
        let mut last = [0u8; 3];
        let mut name: Vec<u8> = Vec::with_capacity(16);
        let mut naming = false;
        let mut closing = false;
        // Start of the open `c`, `si` or `is` element (they do not nest within their kind).
        let mut element: Option<(&'static str, u64)> = None;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                let run = pos - run_start;
                match mode {
                    Mode::Text => {
                        if b == b'<' {
                            scan.longest = scan.longest.max(run);
                            run_start = pos;
                            mode = Mode::Open;
                        }
                    }
                    Mode::Open => match b {
                        b'!' => mode = Mode::Bang,
                        b'?' => mode = Mode::Pi,
                        _ => {
                            name.clear();
                            closing = b == b'/';
                            naming = true;
                            mode = Mode::Tag { quote: 0 };
                            if !closing && !b.is_ascii_whitespace() && b != b'>' {
                                name.push(b);
                            }
                            if b == b'>' {
                                mode = Mode::Text;
                                run_start = pos + 1;
                            }
                        }
                    },
                    Mode::Tag { quote } => {
                        if naming {
                            if b.is_ascii_whitespace() || b == b'>' || b == b'/' {
                                naming = false;
                                let local = match name.iter().rposition(|&c| c == b':') {
                                    Some(i) => &name[i + 1..],
                                    None => &name[..],
                                };
                                let kind = match local {
                                    b"c" => Some("c"),
                                    b"si" => Some("si"),
                                    b"is" => Some("is"),
                                    _ => None,
                                };
                                if let Some(kind) = kind {
                                    if closing {
                                        if let Some((k, start)) = element {
                                            if k == kind {
                                                scan.longest = scan.longest.max(pos + 1 - start);
                                                element = None;
                                            }
                                        }
                                    } else {
                                        if kind == "si" {
                                            scan.strings += 1;
                                        }
                                        // The outermost is measured (an `is` inside a `c`).
                                        if element.is_none() {
                                            element = Some((kind, run_start));
                                        }
                                    }
                                }
                            } else if name.len() < 16 {
                                name.push(b);
                            } else {
                                name.push(b'#');
                            }
                        }
                        if quote != 0 {
                            if b == quote {
                                mode = Mode::Tag { quote: 0 };
                            }
                        } else if b == b'"' || b == b'\'' {
                            mode = Mode::Tag { quote: b };
                        } else if b == b'>' {
                            // A self-closing element ends here.
                            if last[2] == b'/' {
                                if let Some((_, start)) = element {
                                    if start == run_start {
                                        element = None;
                                    }
                                }
                            }
                            scan.longest = scan.longest.max(run + 1);
                            mode = Mode::Text;
                            run_start = pos + 1;
                        }
                    }
                    Mode::Bang => {
                        // `<!-` starts a comment, `<![` a CDATA section, anything else a
                        // declaration.
                        mode = match b {
                            b'-' => Mode::Comment,
                            b'[' => Mode::Cdata,
                            _ => Mode::Decl { depth: 0 },
                        };
                    }
                    Mode::Comment | Mode::Cdata | Mode::Pi => {
                        let end = match mode {
                            Mode::Comment => last[1] == b'-' && last[2] == b'-' && b == b'>',
                            Mode::Cdata => last[1] == b']' && last[2] == b']' && b == b'>',
                            _ => last[2] == b'?' && b == b'>',
                        };
                        if end && run > 4 {
                            scan.longest = scan.longest.max(run + 1);
                            mode = Mode::Text;
                            run_start = pos + 1;
                        }
                    }
                    Mode::Decl { depth } => match b {
                        b'[' => mode = Mode::Decl { depth: depth + 1 },
                        b']' => {
                            mode = Mode::Decl {
                                depth: depth.saturating_sub(1),
                            }
                        }
                        b'>' if depth == 0 => {
                            scan.longest = scan.longest.max(run + 1);
                            mode = Mode::Text;
                            run_start = pos + 1;
                        }
                        _ => {}
                    },
                }
                last = [last[1], last[2], b];
                pos += 1;
            }
            // Runs are measured as they grow, so that one never ending is caught too.
            scan.longest = scan.longest.max(pos - run_start);
            if let Some((_, start)) = element {
                scan.longest = scan.longest.max(pos - start);
            }
            if scan.longest > MAX_XML_RUN {
                break;
            }
        }
        Ok(scan)
    }
}

/// What calamine's cell styles would take: each font, fill, border and number format read,
/// and for each cell format a style plus a copy of the font, fill, border and number format it
/// names (each counted by its XML size, which bounds what it holds, plus its own size).
fn item_held(item: &str) -> u64 {
    (match item {
        "font" => std::mem::size_of::<calamine::Font>(),
        "fill" => std::mem::size_of::<calamine::Fill>(),
        _ => std::mem::size_of::<calamine::Borders>(),
    }) as u64
}

fn styles_held(r: impl std::io::BufRead) -> Result<u64, quick_xml::Error> {
    use quick_xml::events::Event;
    let mut xml = quick_xml::Reader::from_reader(r);
    let mut buf = Vec::new();
    let (mut fonts, mut fills, mut borders) = (Vec::new(), Vec::new(), Vec::new());
    let mut formats: std::collections::HashMap<String, u64> = Default::default();
    // The list being read (fonts, fills, borders, cellXfs) and where its current item began.
    let mut list: Option<String> = None;
    let mut item_start: Option<u64> = None;
    let mut held = 0u64;
    let base = std::mem::size_of::<calamine::Style>() as u64;
    let attr = |e: &quick_xml::events::BytesStart<'_>, key: &str| -> Option<String> {
        e.attributes()
            .flatten()
            .find(|a| a.key.local_name().as_ref() == key)
            .map(|a| a.value.into_owned())
    };
    let index = |v: Option<String>| -> Option<usize> { v.and_then(|v| v.trim().parse().ok()) };
    // The list an item belongs to: `font` in `fonts`, and so on (`dxfs` hold them too).
    let in_list = |list: &Option<String>, item: &str| {
        list.as_deref()
            .is_some_and(|l| l.len() == item.len() + 1 && l.starts_with(item))
    };
    loop {
        let before = xml.buffer_position();
        let ev = xml.read_event_into(&mut buf)?;
        let after = xml.buffer_position();
        match &ev {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let local = e.local_name().as_ref().to_string();
                let empty = matches!(ev, Event::Empty(_));
                match local.as_str() {
                    "fonts" | "fills" | "borders" | "cellXfs" if !empty => list = Some(local),
                    "numFmt" => {
                        if let (Some(id), Some(code)) = (attr(e, "numFmtId"), attr(e, "formatCode"))
                        {
                            held = held.saturating_add(64 + (id.len() + code.len()) as u64);
                            formats.insert(id, code.len() as u64);
                        }
                    }
                    "font" | "fill" | "border"
                        if item_start.is_none() && in_list(&list, &local) =>
                    {
                        if empty {
                            let size = after - before;
                            held = held.saturating_add(item_held(&local) + size);
                            match local.as_str() {
                                "font" => fonts.push(size),
                                "fill" => fills.push(size),
                                _ => borders.push(size),
                            }
                        } else {
                            item_start = Some(before);
                        }
                    }
                    "xf" if list.as_deref() == Some("cellXfs") => {
                        let pick = |v: &Vec<u64>, key: &str| {
                            index(attr(e, key))
                                .and_then(|i| v.get(i).copied())
                                .unwrap_or(0)
                        };
                        let format = attr(e, "numFmtId")
                            .and_then(|id| formats.get(&id).copied())
                            .unwrap_or(64);
                        held = held
                            .saturating_add(base)
                            .saturating_add(pick(&fonts, "fontId"))
                            .saturating_add(pick(&fills, "fillId"))
                            .saturating_add(pick(&borders, "borderId"))
                            .saturating_add(format);
                    }
                    _ => {}
                }
            }
            Event::End(e) => {
                let local = e.local_name().as_ref().to_string();
                match local.as_str() {
                    "fonts" | "fills" | "borders" | "cellXfs" => list = None,
                    "font" | "fill" | "border" if in_list(&list, &local) => {
                        if let Some(start) = item_start.take() {
                            let size = after - start;
                            held = held.saturating_add(item_held(&local) + size);
                            match local.as_str() {
                                "font" => fonts.push(size),
                                "fill" => fills.push(size),
                                _ => borders.push(size),
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        buf.clear();
        if held > MAX_STYLES {
            break;
        }
    }
    Ok(held)
}

/// Sinks, XLSX archives and checks shared by the spreadsheet readers' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Records rows; keeps every column of the first row, then `width`.
    pub struct Rows {
        pub size: Option<u64>,
        pub rows: Vec<(usize, Vec<String>, RowShape)>,
        pub width: usize,
    }

    impl Rows {
        pub fn new(width: usize) -> Rows {
            Rows {
                size: None,
                rows: Vec::new(),
                width,
            }
        }
    }

    impl RowSink for Rows {
        fn size(&mut self, rows: u64) {
            assert!(
                self.size.is_none() && self.rows.is_empty(),
                "size once, first"
            );
            self.size = Some(rows);
        }
        fn width(&self) -> usize {
            if self.rows.is_empty() {
                usize::MAX
            } else {
                self.width
            }
        }
        fn row(&mut self, row: usize, cells: &[String], shape: RowShape) -> bool {
            self.rows.push((row, cells.to_vec(), shape));
            true
        }
    }

    /// A ZIP archive of `parts` (stored, not compressed: quick to build at any size).
    pub fn zip(parts: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        for (name, data) in parts {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// An XLSX workbook with one sheet of `rows` XML, and the extra `parts` given.
    pub fn xlsx(dimension: &str, rows: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
        let ns = "http://schemas.openxmlformats.org";
        let types = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                <Types xmlns=\"{ns}/package/2006/content-types\">\
                <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
                <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
                <Override PartName=\"/xl/workbook.xml\" \
                    ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
                <Override PartName=\"/xl/worksheets/sheet1.xml\" \
                    ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>\
                </Types>"
        );
        let rels = format!(
            "<Relationships xmlns=\"{ns}/package/2006/relationships\">\
                <Relationship Id=\"rId1\" Type=\"{ns}/officeDocument/2006/relationships/officeDocument\" \
                    Target=\"xl/workbook.xml\"/>\
                </Relationships>"
        );
        let workbook = format!(
            "<workbook xmlns=\"{ns}/spreadsheetml/2006/main\" xmlns:r=\"{ns}/officeDocument/2006/relationships\">\
                <sheets><sheet name=\"Sheet1\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"
        );
        let wb_rels = format!(
            "<Relationships xmlns=\"{ns}/package/2006/relationships\">\
                <Relationship Id=\"rId1\" Type=\"{ns}/officeDocument/2006/relationships/worksheet\" \
                    Target=\"worksheets/sheet1.xml\"/>\
                </Relationships>"
        );
        let sheet = format!(
            "<worksheet xmlns=\"{ns}/spreadsheetml/2006/main\"><dimension ref=\"{dimension}\"/>\
                <sheetData>{rows}</sheetData></worksheet>"
        );
        let mut all: Vec<(&str, &[u8])> = vec![
            ("[Content_Types].xml", types.as_bytes()),
            ("_rels/.rels", rels.as_bytes()),
            ("xl/workbook.xml", workbook.as_bytes()),
            ("xl/_rels/workbook.xml.rels", wb_rels.as_bytes()),
            ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ];
        all.extend_from_slice(parts);
        zip(&all)
    }

    pub fn text(cell: &str, s: &str) -> String {
        format!(r#"<c r="{cell}" t="inlineStr"><is><t>{s}</t></is></c>"#)
    }

    pub fn read(file: &[u8], width: usize) -> Result<Rows, String> {
        let mut rows = Rows::new(width);
        read_xlsx(std::io::Cursor::new(file), &mut rows)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(s: &str) -> XmlScan {
        XmlScan::read(&mut s.as_bytes()).unwrap()
    }

    #[test]
    fn xml_runs_are_measured() {
        let s = scan("<a x=\"1>2\">hello</a>");
        assert_eq!(s.longest, 11, "the tag with a quoted '>' is one run");
        let long = "x".repeat(5000);
        assert_eq!(scan(&format!("<a>{long}</a>")).longest, 5000);
        assert!(scan(&format!("<!-- {long} <b> -->")).longest > 5000);
        assert!(scan(&format!("<![CDATA[{long}<b>]]>")).longest > 5000);
        // A cell is measured whole, however many runs it holds.
        let cell = format!(
            "<c r=\"A1\"><is>{}</is></c>",
            "<r><t>ab</t></r>".repeat(1000)
        );
        let s = scan(&format!("<row>{cell}</row>"));
        assert_eq!(s.longest, cell.len() as u64);
        let s = scan("<sst><si><t>a</t></si><x:si><t>b</t></x:si><si/></sst>");
        assert_eq!(s.strings, 3);
    }

    use super::testing::{read, text, xlsx, zip};

    #[test]
    fn a_far_cell_is_one_cell() {
        // The sheet declares the whole grid; only three cells are there.
        let rows = format!(
            r#"<row r="1">{}</row><row r="2"><c r="A2"><v>442079460100</v></c></row><row r="1048576">{}</row>"#,
            text("A1", "number"),
            text("XFD1048576", "far")
        );
        let got = read(&xlsx("A1:XFD1048576", &rows, &[]), 1).unwrap();
        let rows: Vec<(usize, Vec<String>, bool)> = got
            .rows
            .into_iter()
            .map(|(r, c, s)| (r, c, s.beyond))
            .collect();
        assert_eq!(
            rows,
            [
                (1, vec!["number".to_string()], false),
                (2, vec!["442079460100".to_string()], false),
                (1048576, vec![], true),
            ]
        );
        // The declared row count is bounded by what the sheet's XML can hold.
        assert!(got.size.unwrap() < 100, "{:?}", got.size);
        // The header row keeps every column, however far.
        let rows = format!(
            r#"<row r="1">{}{}</row>"#,
            text("A1", "number"),
            text("XFD1", "x")
        );
        let got = read(&xlsx("A1:XFD1", &rows, &[]), 1).unwrap();
        assert_eq!(got.rows[0].1.len(), 16_384);
        assert_eq!(got.rows[0].1[16_383], "x");
    }

    #[test]
    fn cells_beyond_the_kept_columns_and_over_long_rows() {
        let big = "y".repeat(600_000);
        let rows = format!(
            r#"<row r="1">{}{}</row><row r="2">{}{}</row><row r="3">{}{}</row>"#,
            text("A1", "number"),
            text("B1", "notes"),
            text("A2", &big),
            text("B2", &big),
            text("A3", "1"),
            text("C3", " ")
        );
        let got = read(&xlsx("A1:C3", &rows, &[]), 2).unwrap();
        assert!(got.rows[1].2.oversize && got.rows[1].1.is_empty());
        // A blank cell right of the kept ones leaves the row as it is.
        assert_eq!(got.rows[2].1, ["1"]);
        assert!(!got.rows[2].2.beyond && !got.rows[2].2.oversize);
    }

    #[test]
    fn rows_out_of_order_are_refused() {
        let rows = format!(
            r#"<row r="2">{}</row><row r="1">{}</row>"#,
            text("A2", "number"),
            text("A1", "x")
        );
        let e = read(&xlsx("A1:A2", &rows, &[]), 1).err().unwrap();
        assert!(
            e.contains("row 1: the sheet's rows are out of order"),
            "{e}"
        );
    }

    #[test]
    fn other_zip_files_are_named() {
        let ods = zip(&[
            (
                "mimetype",
                b"application/vnd.oasis.opendocument.spreadsheet",
            ),
            ("content.xml", b"<office:document-content/>"),
        ]);
        let e = read(&ods, 1).err().unwrap();
        assert!(e.contains("OpenDocument"), "{e}");
        let xlsb = zip(&[("xl/workbook.bin", b"\x00")]);
        assert!(read(&xlsb, 1).err().unwrap().contains("XLSB"));
        let other = zip(&[("a.txt", b"hello")]);
        let e = read(&other, 1).err().unwrap();
        assert!(e.starts_with("not a readable XLSX or XLS file"), "{e}");
    }

    #[test]
    fn what_calamine_would_hold_is_bounded() {
        let rows = format!(r#"<row r="1">{}</row>"#, text("A1", "number"));
        // One cell of 1.5 MB (in runs of a few bytes each).
        let cell = format!(
            r#"<c r="A2" t="inlineStr"><is>{}</is></c>"#,
            "<r><t>abcdefgh</t></r>".repeat(80_000)
        );
        let e = read(
            &xlsx("A1:A2", &format!("{rows}<row r=\"2\">{cell}</row>"), &[]),
            1,
        )
        .err()
        .unwrap();
        assert!(e.contains("a cell, text or tag of over 1 MB"), "{e}");
        // Shared strings: 3 million empty ones are 15 MB of XML, but 159 MB once read.
        let sst = format!("<sst>{}</sst>", "<si/>".repeat(3_000_000));
        let e = read(
            &xlsx("A1", &rows, &[("xl/sharedStrings.xml", sst.as_bytes())]),
            1,
        )
        .err()
        .unwrap();
        assert!(e.contains("shared text would take over 96 MB"), "{e}");
        // Styles: one font with a long name, copied into 1,200 cell formats.
        let styles = format!(
            r#"<styleSheet><fonts count="1"><font><name val="{}"/></font></fonts><cellXfs>{}</cellXfs></styleSheet>"#,
            "N".repeat(30_000),
            r#"<xf fontId="0"></xf>"#.repeat(1_200)
        );
        let e = read(
            &xlsx("A1", &rows, &[("xl/styles.xml", styles.as_bytes())]),
            1,
        )
        .err()
        .unwrap();
        assert!(e.contains("cell styles would take over 32 MB"), "{e}");
        // A million fonts, each held whatever its XML.
        let styles = format!(
            "<styleSheet><fonts>{}</fonts></styleSheet>",
            "<font/>".repeat(1_000_000)
        );
        let e = read(
            &xlsx("A1", &rows, &[("xl/styles.xml", styles.as_bytes())]),
            1,
        )
        .err()
        .unwrap();
        assert!(e.contains("cell styles would take over 32 MB"), "{e}");
        // A part read whole at opening, too big for what it is.
        let theme = format!("<a:theme>{}</a:theme>", " ".repeat(9 << 20));
        let e = read(
            &xlsx("A1", &rows, &[("xl/theme/theme1.xml", theme.as_bytes())]),
            1,
        )
        .err()
        .unwrap();
        assert!(e.contains("xl/theme/theme1.xml: over 8 MB unpacked"), "{e}");
        // Parts: each is an entry the archive reader holds.
        let names: Vec<String> = (0..10_001).map(|i| format!("p{i}")).collect();
        let parts: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let e = read(&zip(&parts), 1).err().unwrap();
        assert!(e.contains("declares 10001 parts"), "{e}");
        // Within the bounds, the same kinds of parts read as usual.
        let sst = r#"<sst><si><t>number</t></si></sst>"#;
        let styles =
            "<styleSheet><fonts count=\"1\"><font><name val=\"Calibri\"/></font></fonts><cellXfs>\
            <xf fontId=\"0\"></xf></cellXfs></styleSheet>";
        let got = read(
            &xlsx(
                "A1",
                r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#,
                &[
                    ("xl/sharedStrings.xml", sst.as_bytes()),
                    ("xl/styles.xml", styles.as_bytes()),
                ],
            ),
            1,
        )
        .unwrap();
        assert_eq!(got.rows[0].1, ["number"]);
    }

    #[test]
    fn styles_count_what_each_format_copies() {
        let name = "N".repeat(1000);
        let xfs = "<xf fontId=\"0\"></xf>".repeat(100);
        let xml = format!(
            "<styleSheet><fonts><font><name val=\"{name}\"/></font></fonts><cellXfs>{xfs}</cellXfs></styleSheet>"
        );
        let held = styles_held(xml.as_bytes()).unwrap();
        assert!(held > 100 * 1000, "{held}");
        assert!(held < 100 * (1100 + 64 + std::mem::size_of::<calamine::Style>() as u64));
    }
}
