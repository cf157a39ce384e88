//! Real spreadsheet files for the import tests: XLSX (written by rust_xlsxwriter) and XLS
//! (a BIFF8 workbook stream written here, inside a compound file written by `cfb`).

use std::io::{Cursor, Write};

/// One spreadsheet cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    /// A numeric cell, as spreadsheets store phone numbers typed without `+`.
    Num(f64),
    Text(String),
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<f64> for Cell {
    fn from(n: f64) -> Cell {
        Cell::Num(n)
    }
}

/// A text cell.
pub fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// A numeric cell.
pub fn num(n: f64) -> Cell {
    Cell::Num(n)
}

/// An XLSX workbook with one sheet holding `rows` from A1.
pub fn xlsx(rows: &[Vec<Cell>]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, cells) in rows.iter().enumerate() {
        for (c, cell) in cells.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match cell {
                Cell::Empty => {}
                Cell::Num(n) => {
                    ws.write_number(r, c, *n).expect("xlsx number");
                }
                Cell::Text(s) => {
                    ws.write_string(r, c, s).expect("xlsx string");
                }
            }
        }
    }
    wb.save_to_buffer().expect("xlsx buffer")
}

fn record(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    out.extend_from_slice(&typ.to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

fn bof(out: &mut Vec<u8>, dt: u16) {
    let mut d = Vec::new();
    d.extend_from_slice(&0x0600u16.to_le_bytes()); // BIFF8
    d.extend_from_slice(&dt.to_le_bytes());
    d.extend_from_slice(&0x0DBBu16.to_le_bytes()); // build
    d.extend_from_slice(&0x07CCu16.to_le_bytes()); // year
    d.extend_from_slice(&0u32.to_le_bytes());
    d.extend_from_slice(&0x06u32.to_le_bytes());
    record(out, 0x0809, &d);
}

/// A BIFF8 `.xls` workbook with one sheet holding `rows` from A1 (NUMBER and LABEL records,
/// texts as 8-bit characters, so ASCII only).
pub fn xls(rows: &[Vec<Cell>]) -> Vec<u8> {
    // Sheet substream first, to know its size; the globals point at its offset.
    let mut sheet = Vec::new();
    bof(&mut sheet, 0x0010);
    for (r, cells) in rows.iter().enumerate() {
        for (c, cell) in cells.iter().enumerate() {
            let mut d = Vec::new();
            d.extend_from_slice(&(r as u16).to_le_bytes());
            d.extend_from_slice(&(c as u16).to_le_bytes());
            d.extend_from_slice(&0u16.to_le_bytes()); // XF index
            match cell {
                Cell::Empty => continue,
                Cell::Num(n) => {
                    d.extend_from_slice(&n.to_le_bytes());
                    record(&mut sheet, 0x0203, &d);
                }
                Cell::Text(s) => {
                    assert!(s.is_ascii(), "the XLS writer takes ASCII text only");
                    d.extend_from_slice(&(s.len() as u16).to_le_bytes());
                    d.push(0); // compressed (8-bit) characters
                    d.extend_from_slice(s.as_bytes());
                    record(&mut sheet, 0x0204, &d);
                }
            }
        }
    }
    record(&mut sheet, 0x000A, &[]);

    let name = b"Sheet1";
    let mut globals = Vec::new();
    bof(&mut globals, 0x0005);
    record(&mut globals, 0x0042, &1200u16.to_le_bytes()); // CodePage: UTF-16
    let boundsheet_len = 4 + (8 + name.len()) + 4; // BoundSheet8 record, then EOF
    let sheet_pos = (globals.len() + boundsheet_len) as u32;
    let mut d = Vec::new();
    d.extend_from_slice(&sheet_pos.to_le_bytes());
    d.push(0); // visible
    d.push(0); // worksheet
    d.push(name.len() as u8);
    d.push(0); // 8-bit characters
    d.extend_from_slice(name);
    record(&mut globals, 0x0085, &d);
    record(&mut globals, 0x000A, &[]);
    assert_eq!(globals.len() as u32, sheet_pos);
    globals.extend_from_slice(&sheet);

    let mut cf = cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
        .expect("compound file");
    {
        let mut s = cf.create_stream("/Workbook").expect("workbook stream");
        s.write_all(&globals).expect("write workbook stream");
    }
    cf.flush().expect("flush compound file");
    cf.into_inner().into_inner()
}
