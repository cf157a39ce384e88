//! Spreadsheet files for the import, read cell by cell so that memory follows the cells a sheet
//! holds, never the range it declares (a sheet whose only far cell is `XFD1048576` once made
//! the reader allocate the whole grid). XLSX goes through calamine's cell reader after a check
//! of the archive (`check_xlsx`, in `xlsx.rs`), since calamine holds a workbook's shared strings
//! and styles whole; XLS (BIFF8) through the reader in `xls.rs`. Other workbooks (ODS, XLSB) are
//! refused: their readers build whole sheets at once.
//!
//! This file holds what both readers share: the row shaping (`RowSink`, `RowShape`,
//! `RowBuilder`, which turn cells in file order into rows) and its bounds; the XLSX archive
//! checks and cell streaming are apart in `xlsx.rs`.

use std::borrow::Cow;

mod xlsx;

pub(crate) use xlsx::read_xlsx;

/// Most text one row may hold (its kept cells together); a longer row is rejected.
pub(crate) const MAX_ROW_BYTES: usize = 1 << 20;
/// Columns of a sheet (`A` to `XFD`).
const MAX_COLUMNS: u32 = 16_384;
/// What the shared strings of an XLSX (or XLS) may take once read: their text plus a string's
/// own overhead each (`STRING_HELD`).
pub(crate) const MAX_SHARED_STRINGS: u64 = 96 << 20;
/// A string's overhead in a list of strings: its 24 bytes, twice while the list grows.
pub(crate) const STRING_HELD: u64 = 48;

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
    use super::testing::{read, text, xlsx};

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
}
