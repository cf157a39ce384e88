//! XLS workbooks (BIFF8, Excel 97 to 2003): the first sheet, record by record. A general
//! reader builds every sheet of the workbook as a full grid when it opens it, and copies a
//! shared string into every cell naming it; here a row is held only while it is read, and the
//! shared strings once, within a bound.

use std::borrow::Cow;
use std::io::{BufReader, Read, Seek, SeekFrom};

use crate::inventory::sheet::{float_text, RowBuilder, RowSink, MAX_SHARED_STRINGS, STRING_HELD};

/// Largest XLS file read (its compound file's directory is held whole; an XLS sheet holds at
/// most 65,536 rows anyway).
pub(crate) const MAX_XLS_BYTES: u64 = 64 << 20;

const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;
const CONTINUE: u16 = 0x003C;

fn unreadable(e: impl std::fmt::Display) -> String {
    format!(
        "not a readable XLSX or XLS file: {}",
        crate::inventory::import::shorten(&e.to_string())
    )
}

/// Records of a workbook stream.
struct Records<R> {
    r: R,
    typ: u16,
    data: Vec<u8>,
    /// A record read ahead while looking for a `CONTINUE`.
    ahead: Option<(u16, Vec<u8>)>,
}

impl<R: Read + Seek> Records<R> {
    /// The next record into `typ`/`data`; false at the end of the stream.
    fn next(&mut self) -> Result<bool, String> {
        if let Some((t, d)) = self.ahead.take() {
            self.typ = t;
            self.data = d;
            return Ok(true);
        }
        let mut head = [0u8; 4];
        match self.r.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(unreadable(e)),
        }
        self.typ = u16::from_le_bytes([head[0], head[1]]);
        let len = u16::from_le_bytes([head[2], head[3]]) as usize;
        self.data.resize(len, 0);
        self.r.read_exact(&mut self.data).map_err(|_| {
            "the file could not be read to its end (malformed or corrupt)".to_string()
        })?;
        Ok(true)
    }

    /// Loads the next record if it is a `CONTINUE` of the current one.
    fn next_continue(&mut self) -> Result<bool, String> {
        let (typ, data) = (self.typ, std::mem::take(&mut self.data));
        if !self.next()? {
            self.typ = typ;
            self.data = data;
            return Ok(false);
        }
        if self.typ == CONTINUE {
            return Ok(true);
        }
        self.ahead = Some((self.typ, std::mem::replace(&mut self.data, data)));
        self.typ = typ;
        Ok(false)
    }

    fn seek(&mut self, pos: u64) -> Result<(), String> {
        self.ahead = None;
        self.r.seek(SeekFrom::Start(pos)).map_err(unreadable)?;
        Ok(())
    }
}

/// A read position in a record and the `CONTINUE` records after it.
struct Cursor<'a, R> {
    rec: &'a mut Records<R>,
    pos: usize,
}

impl<R: Read + Seek> Cursor<'_, R> {
    fn truncated() -> String {
        "a truncated record (malformed or corrupt file)".into()
    }

    /// Bytes left in the current record, moving into a `CONTINUE` when it is used up.
    fn avail(&mut self) -> Result<usize, String> {
        while self.pos >= self.rec.data.len() {
            if !self.rec.next_continue()? {
                return Err(Self::truncated());
            }
            self.pos = 0;
        }
        Ok(self.rec.data.len() - self.pos)
    }

    fn byte(&mut self) -> Result<u8, String> {
        self.avail()?;
        self.pos += 1;
        Ok(self.rec.data[self.pos - 1])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes([
            self.byte()?,
            self.byte()?,
            self.byte()?,
            self.byte()?,
        ]))
    }

    fn skip(&mut self, mut n: usize) -> Result<(), String> {
        while n > 0 {
            let k = self.avail()?.min(n);
            self.pos += k;
            n -= k;
        }
        Ok(())
    }

    /// An `XLUnicodeString` (or, with `rich_ext`, an `XLUnicodeRichExtendedString`): a count of
    /// characters, flags, then 8-bit or UTF-16 characters; a `CONTINUE` cutting the characters
    /// starts with flags of its own.
    fn string(&mut self, rich_ext: bool) -> Result<String, String> {
        let cch = self.u16()? as usize;
        let flags = self.byte()?;
        let mut wide = flags & 1 != 0;
        let runs = if rich_ext && flags & 8 != 0 {
            self.u16()? as usize
        } else {
            0
        };
        let ext = if rich_ext && flags & 4 != 0 {
            self.u32()? as usize
        } else {
            0
        };
        let mut units: Vec<u16> = Vec::with_capacity(cch.min(4096));
        while units.len() < cch {
            if self.pos >= self.rec.data.len() {
                if !self.rec.next_continue()? {
                    return Err(Self::truncated());
                }
                self.pos = 0;
                wide = self.byte()? & 1 != 0;
                continue;
            }
            let data = &self.rec.data[self.pos..];
            let want = cch - units.len();
            if wide {
                let k = (data.len() / 2).min(want);
                if k == 0 {
                    return Err(Self::truncated());
                }
                units.extend(
                    data[..2 * k]
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]])),
                );
                self.pos += 2 * k;
            } else {
                let k = data.len().min(want);
                units.extend(data[..k].iter().map(|&b| b as u16));
                self.pos += k;
            }
        }
        self.skip(4 * runs)?;
        self.skip(ext)?;
        Ok(String::from_utf16_lossy(&units))
    }
}

/// The text of an `RK` number.
fn rk_text(v: u32) -> String {
    let scaled = v & 1 != 0;
    if v & 2 != 0 {
        let i = (v as i32 >> 2) as i64;
        if scaled {
            float_text(i as f64 / 100.0)
        } else {
            i.to_string()
        }
    } else {
        let f = f64::from_bits(((v & 0xFFFF_FFFC) as u64) << 32);
        float_text(if scaled { f / 100.0 } else { f })
    }
}

/// An error cell as the XLSX reader writes it (`#Div0`, `#NA`…).
fn error_text(code: u8) -> String {
    use calamine::CellErrorType as E;
    let e = match code {
        0x00 => E::Null,
        0x07 => E::Div0,
        0x0F => E::Value,
        0x17 => E::Ref,
        0x1D => E::Name,
        0x24 => E::Num,
        0x2A => E::NA,
        _ => E::GettingData,
    };
    format!("#{e:?}")
}

fn u16_at(d: &[u8], i: usize) -> Result<u16, String> {
    d.get(i..i + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(Cursor::<std::io::Empty>::truncated)
}

fn u32_at(d: &[u8], i: usize) -> Result<u32, String> {
    d.get(i..i + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(Cursor::<std::io::Empty>::truncated)
}

/// Reads the first worksheet of an XLS file of `len` bytes.
pub(crate) fn read_xls<R: Read + Seek>(
    r: R,
    len: u64,
    sink: &mut dyn RowSink,
) -> Result<(), String> {
    if len > MAX_XLS_BYTES {
        return Err(format!(
            "an XLS file over {} MB is not read: save it as XLSX or CSV",
            MAX_XLS_BYTES >> 20
        ));
    }
    let mut cf = cfb::CompoundFile::open(r).map_err(unreadable)?;
    let stream = if cf.is_stream("/Workbook") {
        cf.open_stream("/Workbook").map_err(unreadable)?
    } else if cf.is_stream("/Book") {
        return Err(
            "an Excel 5.0/95 workbook is not read: save it as XLSX (or a newer XLS) or CSV".into(),
        );
    } else {
        return Err(unreadable("no workbook stream"));
    };
    let stream_len = stream.len();
    let mut rec = Records {
        r: BufReader::with_capacity(64 * 1024, stream),
        typ: 0,
        data: Vec::with_capacity(8224),
        ahead: None,
    };

    // The workbook globals: the version, the first worksheet's offset, the shared strings.
    if !rec.next()? || rec.typ != BOF {
        return Err(unreadable("no BIFF header"));
    }
    if u16_at(&rec.data, 0)? != 0x0600 {
        return Err(
            "an XLS file older than Excel 97 is not read: save it as XLSX (or a newer XLS) or CSV"
                .into(),
        );
    }
    let mut sheet_at: Option<u64> = None;
    let mut strings: Vec<String> = Vec::new();
    loop {
        if !rec.next()? {
            return Err(unreadable("the workbook globals have no end"));
        }
        match rec.typ {
            EOF => break,
            // FilePass: encrypted.
            0x002F => {
                return Err("the workbook is password-protected: save it without a password".into())
            }
            // BoundSheet8: offset, visibility, type (0 = worksheet), name.
            0x0085 if sheet_at.is_none() && rec.data.get(5) == Some(&0) => {
                sheet_at = Some(u32_at(&rec.data, 0)? as u64);
            }
            // SST: total and unique counts, then the strings.
            0x00FC => {
                let unique = u32_at(&rec.data, 4)? as usize;
                let mut cur = Cursor {
                    rec: &mut rec,
                    pos: 8,
                };
                let mut held = 0u64;
                strings.clear();
                for _ in 0..unique {
                    let s = cur.string(true)?;
                    held += STRING_HELD + s.len() as u64;
                    if held > MAX_SHARED_STRINGS {
                        return Err(format!(
                            "the workbook's shared text would take over {} MB: save it as CSV",
                            MAX_SHARED_STRINGS >> 20
                        ));
                    }
                    strings.push(s);
                }
            }
            _ => {}
        }
    }
    let Some(at) = sheet_at else {
        return Err("the workbook has no sheet".into());
    };

    // The sheet: its cells in file order (row by row, as Excel writes them).
    rec.seek(at)?;
    if !rec.next()? || rec.typ != BOF {
        return Err(unreadable("the first sheet has no BIFF header"));
    }
    let mut rows = RowBuilder::default();
    let mut sized = false;
    let mut depth = 0usize;
    // A formula whose text result follows in a STRING record.
    let mut formula_at: Option<(u32, u32)> = None;
    // Rows declared by DIMENSIONS, bounded by what the stream can hold (10 bytes a cell).
    let most_rows = stream_len.min(len) / 10;
    macro_rules! cell {
        ($row:expr, $col:expr, $text:expr) => {{
            if !sized {
                sink.size(most_rows);
                sized = true;
            }
            if !rows.cell(sink, $row as u32, $col as u32, $text)? {
                return Ok(());
            }
        }};
    }
    loop {
        if !rec.next()? {
            return Err("the file could not be read to its end (malformed or corrupt)".into());
        }
        let d = &rec.data;
        if depth > 0 {
            match rec.typ {
                BOF => depth += 1,
                EOF => depth -= 1,
                _ => {}
            }
            continue;
        }
        match rec.typ {
            // An embedded chart's substream.
            BOF => depth += 1,
            EOF => break,
            // Dimensions: first row, one past the last row (32-bit in BIFF8).
            0x0200 if !sized => {
                let declared = u32_at(d, 4)?.saturating_sub(u32_at(d, 0)?) as u64;
                sink.size(declared.min(most_rows));
                sized = true;
            }
            // Number.
            0x0203 => {
                let v = f64::from_le_bytes(
                    d.get(6..14)
                        .ok_or_else(Cursor::<std::io::Empty>::truncated)?
                        .try_into()
                        .map_err(|_| Cursor::<std::io::Empty>::truncated())?,
                );
                let (r, c) = (u16_at(d, 0)?, u16_at(d, 2)?);
                cell!(r, c, Cow::Owned(float_text(v)))
            }
            // RK: a number in 30 bits.
            0x027E => {
                let (r, c, v) = (u16_at(d, 0)?, u16_at(d, 2)?, u32_at(d, 6)?);
                cell!(r, c, Cow::Owned(rk_text(v)))
            }
            // MulRk: a row's run of RK numbers.
            0x00BD => {
                let r = u16_at(d, 0)?;
                let first = u16_at(d, 2)? as u32;
                let n = d.len().saturating_sub(6) / 6;
                let values: Vec<u32> = (0..n)
                    .map(|i| u32_at(d, 4 + 6 * i + 2))
                    .collect::<Result<_, _>>()?;
                for (i, v) in values.into_iter().enumerate() {
                    cell!(r, first + i as u32, Cow::Owned(rk_text(v)))
                }
            }
            // LabelSst: a shared string.
            0x00FD => {
                let (r, c) = (u16_at(d, 0)?, u16_at(d, 2)?);
                let i = u32_at(d, 6)? as usize;
                let s = strings.get(i).ok_or_else(|| {
                    unreadable(format!(
                        "row {}: a shared string that is not there",
                        r as u32 + 1
                    ))
                })?;
                if !sized {
                    sink.size(most_rows);
                    sized = true;
                }
                if !rows.cell(sink, r as u32, c as u32, Cow::Borrowed(s))? {
                    return Ok(());
                }
            }
            // Label, RString: text in the cell.
            0x0204 | 0x00D6 => {
                let (r, c) = (u16_at(d, 0)?, u16_at(d, 2)?);
                let s = Cursor {
                    rec: &mut rec,
                    pos: 6,
                }
                .string(false)?;
                cell!(r, c, Cow::Owned(s))
            }
            // BoolErr.
            0x0205 => {
                let (r, c) = (u16_at(d, 0)?, u16_at(d, 2)?);
                let (v, is_err) = (d.get(6).copied(), d.get(7).copied());
                let text = match (v, is_err) {
                    (Some(v), Some(0)) => (v != 0).to_string(),
                    (Some(v), Some(_)) => error_text(v),
                    _ => return Err(Cursor::<std::io::Empty>::truncated()),
                };
                cell!(r, c, Cow::Owned(text))
            }
            // Formula: its cached result.
            0x0006 => {
                let (r, c) = (u16_at(d, 0)?, u16_at(d, 2)?);
                let v = d
                    .get(6..14)
                    .ok_or_else(Cursor::<std::io::Empty>::truncated)?;
                formula_at = None;
                if v[6] == 0xFF && v[7] == 0xFF {
                    match v[0] {
                        0 => formula_at = Some((r as u32, c as u32)),
                        1 => cell!(r, c, Cow::Owned((v[2] != 0).to_string())),
                        2 => cell!(r, c, Cow::Owned(error_text(v[2]))),
                        _ => {}
                    }
                } else {
                    let f = f64::from_le_bytes(
                        v.try_into()
                            .map_err(|_| Cursor::<std::io::Empty>::truncated())?,
                    );
                    cell!(r, c, Cow::Owned(float_text(f)))
                }
            }
            // String: the text result of the formula before it.
            0x0207 => {
                if let Some((r, c)) = formula_at.take() {
                    let s = Cursor {
                        rec: &mut rec,
                        pos: 0,
                    }
                    .string(false)?;
                    if !s.is_empty() {
                        cell!(r, c, Cow::Owned(s))
                    }
                }
            }
            _ => {}
        }
    }
    rows.finish(sink);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::inventory::sheet::testing::Rows;

    fn record(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
        out.extend_from_slice(&typ.to_le_bytes());
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(data);
    }

    fn bof(out: &mut Vec<u8>, version: u16, dt: u16) {
        let mut d = Vec::new();
        for v in [version, dt, 0x0DBB, 0x07CC] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d.extend_from_slice(&[0; 8]);
        record(out, BOF, &d);
    }

    fn cell(typ: u16, row: u16, col: u16, rest: &[u8]) -> (u16, Vec<u8>) {
        let mut d = Vec::new();
        for v in [row, col, 0] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d.extend_from_slice(rest);
        (typ, d)
    }

    /// A compound file around a workbook stream: `globals` records (with the sheet's
    /// BoundSheet8 added), then the sheet's records between its BOF and EOF.
    fn xls(
        stream: &str,
        version: u16,
        globals: &[(u16, Vec<u8>)],
        sheet: &[(u16, Vec<u8>)],
    ) -> Vec<u8> {
        let mut body = Vec::new();
        bof(&mut body, 0x0600, 0x0010);
        for (t, d) in sheet {
            record(&mut body, *t, d);
        }
        record(&mut body, EOF, &[]);
        let mut head = Vec::new();
        bof(&mut head, version, 0x0005);
        for (t, d) in globals {
            record(&mut head, *t, d);
        }
        let at = (head.len() + 4 + 10 + 4) as u32;
        let mut bs = at.to_le_bytes().to_vec();
        bs.extend_from_slice(&[0, 0, 2, 0, b'S', b'1']);
        record(&mut head, 0x0085, &bs);
        record(&mut head, EOF, &[]);
        assert_eq!(head.len() as u32, at);
        head.extend_from_slice(&body);
        let mut cf = cfb::CompoundFile::create_with_version(
            cfb::Version::V3,
            std::io::Cursor::new(Vec::new()),
        )
        .unwrap();
        cf.create_stream(stream).unwrap().write_all(&head).unwrap();
        cf.flush().unwrap();
        cf.into_inner().into_inner()
    }

    fn read(file: &[u8], width: usize) -> Result<Rows, String> {
        let mut rows = Rows::new(width);
        read_xls(std::io::Cursor::new(file), file.len() as u64, &mut rows)?;
        Ok(rows)
    }

    /// An SST of `strings` whose second string is cut by a CONTINUE (and turns to UTF-16
    /// there).
    fn sst(strings: &[&str]) -> Vec<(u16, Vec<u8>)> {
        let mut d = Vec::new();
        d.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        d.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        let mut out = Vec::new();
        for (i, s) in strings.iter().enumerate() {
            d.extend_from_slice(&(s.chars().count() as u16).to_le_bytes());
            d.push(0);
            if i == 1 {
                let (a, b) = s.split_at(2);
                d.extend_from_slice(a.as_bytes());
                out.push((0x00FC, std::mem::take(&mut d)));
                d.push(1);
                for u in b.encode_utf16() {
                    d.extend_from_slice(&u.to_le_bytes());
                }
            } else {
                d.extend_from_slice(s.as_bytes());
            }
        }
        out.push((CONTINUE, d));
        out
    }

    #[test]
    fn cells_of_every_kind() {
        let mut mulrk = Vec::new();
        for v in [(5u32 << 2) | 2, (7 << 2) | 2] {
            mulrk.extend_from_slice(&0u16.to_le_bytes());
            mulrk.extend_from_slice(&v.to_le_bytes());
        }
        mulrk.extend_from_slice(&1u16.to_le_bytes());
        let mut formula = vec![0u8, 0, 0, 0, 0, 0, 0xFF, 0xFF];
        formula.extend_from_slice(&[0; 6]);
        let mut label = 3u16.to_le_bytes().to_vec();
        label.push(0);
        label.extend_from_slice(b"abc");
        let mut string = 4u16.to_le_bytes().to_vec();
        string.push(0);
        string.extend_from_slice(b"fmla");
        let mut dims = 0u32.to_le_bytes().to_vec();
        dims.extend_from_slice(&u32::MAX.to_le_bytes());
        dims.extend_from_slice(&[0, 0, 0xFF, 0xFF, 0, 0]);
        let file = xls(
            "/Workbook",
            0x0600,
            &sst(&["number", "tagged"]),
            &[
                (0x0200, dims),
                cell(0x00FD, 0, 0, &0u32.to_le_bytes()),
                cell(0x00FD, 0, 1, &1u32.to_le_bytes()),
                cell(0x0203, 1, 0, &442079460100f64.to_le_bytes()),
                cell(0x0204, 1, 1, &label),
                (
                    0x00BD,
                    [&2u16.to_le_bytes()[..], &0u16.to_le_bytes(), &mulrk].concat(),
                ),
                cell(0x0006, 3, 0, &formula),
                (0x0207, string),
                cell(0x0205, 4, 0, &[1, 0]),
                cell(0x0205, 4, 1, &[0x07, 1]),
                // The far corner of an XLS sheet: one cell, not a grid.
                cell(0x0203, 65_535, 255, &1f64.to_le_bytes()),
            ],
        );
        let got = read(&file, 2).unwrap();
        let rows: Vec<(usize, Vec<String>, bool)> = got
            .rows
            .into_iter()
            .map(|(r, c, s)| (r, c, s.beyond))
            .collect();
        let v = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            rows,
            [
                (1, v(&["number", "tagged"]), false),
                (2, v(&["442079460100", "abc"]), false),
                (3, v(&["5", "7"]), false),
                (4, v(&["fmla"]), false),
                (5, v(&["true", "#Div0"]), false),
                (65_536, v(&[]), true),
            ]
        );
        // The declared rows are bounded by what the stream can hold.
        assert!(got.size.unwrap() < 100, "{:?}", got.size);
    }

    #[test]
    fn refusals_say_why() {
        let one = [cell(0x0203, 0, 0, &1f64.to_le_bytes())];
        let e = read(&xls("/Book", 0x0500, &[], &one), 1).err().unwrap();
        assert!(e.contains("Excel 5.0/95"), "{e}");
        let e = read(&xls("/Workbook", 0x0500, &[], &one), 1).err().unwrap();
        assert!(e.contains("older than Excel 97"), "{e}");
        let e = read(&xls("/Workbook", 0x0600, &[(0x002F, vec![1, 0])], &one), 1)
            .err()
            .unwrap();
        assert!(e.contains("password-protected"), "{e}");
        let back = [
            cell(0x0203, 1, 0, &1f64.to_le_bytes()),
            cell(0x0203, 0, 0, &1f64.to_le_bytes()),
        ];
        let e = read(&xls("/Workbook", 0x0600, &[], &back), 1)
            .err()
            .unwrap();
        assert!(e.contains("out of order"), "{e}");
        // Shared strings beyond the bound: 3.5 million empty ones.
        let mut d = Vec::new();
        d.extend_from_slice(&3_500_000u32.to_le_bytes());
        d.extend_from_slice(&3_500_000u32.to_le_bytes());
        let mut recs = Vec::new();
        for _ in 0..3_500_000 {
            if d.len() + 3 > 8224 {
                recs.push((
                    if recs.is_empty() { 0x00FC } else { CONTINUE },
                    std::mem::take(&mut d),
                ));
            }
            d.extend_from_slice(&[0, 0, 0]);
        }
        recs.push((CONTINUE, d));
        let e = read(&xls("/Workbook", 0x0600, &recs, &one), 1)
            .err()
            .unwrap();
        assert!(e.contains("shared text would take over 96 MB"), "{e}");
    }

    #[test]
    fn rk_numbers() {
        // 442079460018 does not fit 30 bits: a whole number in an IEEE RK, or an integer.
        assert_eq!(rk_text((1234 << 2) | 2), "1234");
        assert_eq!(rk_text((1234 << 2) | 3), "12.34");
        let f = 1.5f64.to_bits();
        assert_eq!(rk_text((f >> 32) as u32), "1.5");
    }
}
