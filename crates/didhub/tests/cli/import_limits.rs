//! `didhub import` of hostile files and of files with many rejected rows: a sheet declaring
//! the whole grid, an XLS declaring more than it holds, a report bounded at 1,000 rejections
//! with `--rejects FILE` holding all of them.

use std::io::{Cursor, Write};

use crate::common::{each_backend, parse_csv};

/// An XLSX whose only far cell is `XFD1048576`: its sheet declares the range
/// `A1:XFD1048576` (a reader building the range as a grid needs 2^34 cells).
fn far_xlsx() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "number").unwrap();
    ws.write_number(1, 0, 442079463000.0).unwrap();
    ws.write_number(2, 0, 442079463001.0).unwrap();
    ws.write_string(1_048_575, 16_383, "far").unwrap();
    wb.save_to_buffer().unwrap()
}

fn record(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    out.extend_from_slice(&typ.to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

fn bof(out: &mut Vec<u8>, dt: u16) {
    let mut d = Vec::new();
    for v in [0x0600u16, dt, 0x0DBB, 0x07CC] {
        d.extend_from_slice(&v.to_le_bytes());
    }
    d.extend_from_slice(&[0; 8]);
    record(out, 0x0809, &d);
}

/// A BIFF8 XLS whose sheet declares 2^32 rows by 2^16 columns (a reader reserving that
/// aborts) and holds a cell in the last row and column an XLS sheet has.
fn far_xls() -> Vec<u8> {
    let number = |out: &mut Vec<u8>, row: u16, col: u16, v: f64| {
        let mut d = Vec::new();
        for x in [row, col, 0] {
            d.extend_from_slice(&x.to_le_bytes());
        }
        d.extend_from_slice(&v.to_le_bytes());
        record(out, 0x0203, &d);
    };
    let mut sheet = Vec::new();
    bof(&mut sheet, 0x0010);
    let mut dims = 0u32.to_le_bytes().to_vec();
    dims.extend_from_slice(&u32::MAX.to_le_bytes());
    dims.extend_from_slice(&[0, 0, 0xFF, 0xFF, 0, 0]);
    record(&mut sheet, 0x0200, &dims);
    let mut label = Vec::new();
    for x in [0u16, 0, 0, 6] {
        label.extend_from_slice(&x.to_le_bytes());
    }
    label.push(0);
    label.extend_from_slice(b"number");
    record(&mut sheet, 0x0204, &label);
    number(&mut sheet, 1, 0, 442079463100.0);
    number(&mut sheet, 2, 0, 442079463101.0);
    number(&mut sheet, 65_535, 255, 1.0);
    record(&mut sheet, 0x000A, &[]);
    let mut globals = Vec::new();
    bof(&mut globals, 0x0005);
    let at = (globals.len() + 4 + 10 + 4) as u32;
    let mut bs = at.to_le_bytes().to_vec();
    bs.extend_from_slice(&[0, 0, 2, 0, b'S', b'1']);
    record(&mut globals, 0x0085, &bs);
    record(&mut globals, 0x000A, &[]);
    globals.extend_from_slice(&sheet);
    let mut cf =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new())).unwrap();
    cf.create_stream("/Workbook")
        .unwrap()
        .write_all(&globals)
        .unwrap();
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

#[test]
fn sheets_declaring_a_huge_range_import_as_the_cells_they_hold() {
    each_backend(|db| {
        for (name, file, far_row, first) in [
            ("far.xlsx", far_xlsx(), 1_048_576u64, 442079463000u64),
            ("far.xls", far_xls(), 65_536, 442079463100),
        ] {
            let f = db.write(name, file);
            // Strict dry run: the far row has no number, so the run would import nothing.
            let r = db.import(&f, &["--operator", "Far", "--dry-run"]);
            assert_eq!(r.code, Some(2), "{name}: {}", r.stderr);
            let report = r.json();
            assert_eq!(report["rejected_total"], 1, "{name}: {report}");
            assert_eq!(report["rejected"][0]["row"], far_row, "{name}: {report}");
            assert_eq!(
                report["rejected"][0]["reason"], "number is empty",
                "{name}: {report}"
            );
            // Skipping it imports the two numbers.
            let report = db.import_ok(&f, &["--operator", "Far", "--skip-invalid"]);
            assert_eq!(report["imported"], 2, "{name}: {report}");
            let numbers = db.numbers(&["--prefix", &format!("+{}", first / 10)]);
            assert_eq!(
                numbers,
                [format!("+{first}"), format!("+{}", first + 1)],
                "{name}"
            );
        }
    });
}

#[test]
fn the_report_lists_1000_rejections_and_rejects_holds_all() {
    each_backend(|db| {
        // 2,500 rows: one good number, then each row a duplicate of it or not a number.
        let mut csv = String::from("number,notes\n+442079463200,first\n");
        for i in 0..2_499 {
            if i % 2 == 0 {
                csv.push_str("+44 20 7946 3200,again\n");
            } else {
                csv.push_str(&format!("bogus{i},\"a note, quoted\"\n"));
            }
        }
        let f = db.write("many.csv", &csv);
        // Without --json: the first 50, the total, and where the others are.
        let r = db.run(&[
            "import",
            f.to_str().unwrap(),
            "--operator",
            "Many",
            "--dry-run",
            "--skip-invalid",
        ]);
        assert!(r.success(), "{}", r.stderr);
        assert!(
            r.stdout
                .contains("… and 2449 more rejected rows (use --rejects FILE for all)"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout
                .contains("1 DID would be imported, 2499 rejected (1250 duplicates)"),
            "{}",
            r.stdout
        );

        let rejects = db.path("rejects.csv");
        let r = db.import(
            &f,
            &[
                "--operator",
                "Many",
                "--skip-invalid",
                "--rejects",
                rejects.to_str().unwrap(),
            ],
        );
        assert!(r.success(), "{}", r.stderr);
        let report = r.json();
        assert_eq!(report["imported"], 1, "{report}");
        assert_eq!(report["rejected_total"], 2_499);
        assert_eq!(report["rejected_truncated"], true);
        assert_eq!(report["rejects_rows"], 2_499);
        assert_eq!(report["duplicates"], 1_250);
        let listed = report["rejected"].as_array().unwrap();
        assert_eq!(listed.len(), 1_000);
        // The first 1,000 by row: rows 3 to 1002.
        let rows: Vec<u64> = listed.iter().map(|r| r["row"].as_u64().unwrap()).collect();
        assert_eq!(rows, (3..1_003).collect::<Vec<u64>>());

        let text = std::fs::read_to_string(&rejects).unwrap();
        assert!(text.starts_with("row,value,reason\n"), "{}", &text[..100]);
        let all = parse_csv(&text);
        assert_eq!(all.len(), 2_499);
        for (i, r) in all.iter().enumerate() {
            assert_eq!(r["row"], (i + 3).to_string());
        }
        assert_eq!(all[0]["value"], "+442079463200");
        assert_eq!(
            all[0]["reason"],
            "duplicate: +442079463200 is already in row 2 of this file"
        );
        assert_eq!(all[1]["value"], "bogus1");
        // The first 1,000 are the report's, word for word.
        for (r, l) in all.iter().zip(listed) {
            assert_eq!(r["value"], l["value"].as_str().unwrap());
            assert_eq!(r["reason"], l["reason"].as_str().unwrap());
        }

        // A file refused as a whole leaves no rejects file behind.
        let empty = db.write("header-only.csv", "name\nx\n");
        let r = db.import(
            &empty,
            &["--operator", "Many", "--rejects", rejects.to_str().unwrap()],
        );
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(!rejects.exists());
    });
}
