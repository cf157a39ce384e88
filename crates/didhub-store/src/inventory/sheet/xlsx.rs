//! The XLSX reader: a check of the archive before calamine opens it (part count and sizes,
//! XML runs, shared strings, cell styles), then calamine's cell reader streaming the first
//! sheet's cells into the shared row shaping. Apart from `mod.rs` because it is all about the
//! ZIP/XML format, while the row shaping is shared with the XLS reader.

use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom};

use calamine::{DataRef, Reader, Xlsx, XlsxError};

use super::{float_text, RowBuilder, RowSink, MAX_SHARED_STRINGS, STRING_HELD};

/// Parts of an XLSX archive: at most this many (a real workbook has a few dozen).
const MAX_ZIP_ENTRIES: u64 = 10_000;
/// Unpacked size of an XLSX archive's parts together.
const MAX_UNPACKED: u64 = 1 << 30;
/// Longest markup or text run of an XML part, and longest cell or shared string element: the
/// XML reader holds one run at a time, and a cell's value is built whole.
const MAX_XML_RUN: u64 = 1 << 20;
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

    use crate::inventory::sheet::testing::{read, text, xlsx, zip};

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
