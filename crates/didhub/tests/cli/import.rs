//! `didhub import`: CSV dialects, header aliases, ranges, defaults, operators, rejected rows,
//! duplicates, strict / skip-invalid / dry-run modes, the JSON report, XLSX and XLS.

use std::collections::BTreeSet;

use crate::common::files::{num, text, xls, xlsx, Cell};
use crate::common::{each_backend, Db};
use serde_json::Value;

/// The `rejected` list of a report as (row, value, reason).
fn rejected(report: &Value) -> Vec<(u64, String, String)> {
    report["rejected"]
        .as_array()
        .unwrap_or_else(|| panic!("no rejected array in {report}"))
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().expect("row is a number"),
                r["value"].as_str().expect("value is a string").to_string(),
                r["reason"]
                    .as_str()
                    .expect("reason is a string")
                    .to_string(),
            )
        })
        .collect()
}

fn rejected_rows(report: &Value) -> Vec<u64> {
    rejected(report).into_iter().map(|r| r.0).collect()
}

fn imported(report: &Value) -> u64 {
    report["imported"].as_u64().expect("imported is a number")
}

#[test]
fn csv_delimiters_bom_and_crlf() {
    each_backend(|db| {
        let dialects = [(",", "comma"), (";", "semicolon"), ("\t", "tab")];
        let mut case = 0;
        for (delim, name) in dialects {
            for (bom, crlf) in [(false, false), (true, true), (true, false), (false, true)] {
                let eol = if crlf { "\r\n" } else { "\n" };
                let base = format!("+44207946{:03}", 100 + case);
                let mut s = String::new();
                if bom {
                    s.push('\u{feff}');
                }
                // The notes hold the other delimiters, quoted where CSV needs it.
                let lines = [
                    ["Number", "Operator", "Notes", "Tag"].join(delim),
                    [&format!("{base}0"), "OpA", "\"a, b; c\"", "t1"].join(delim),
                    [&format!("{base}1"), "OpB", "", "t2"].join(delim),
                ];
                for l in lines {
                    s.push_str(&l);
                    s.push_str(eol);
                }
                let f = db.write(&format!("{name}-{case}.csv"), &s);
                let what = format!("{name} delimiter, BOM {bom}, CRLF {crlf}");
                let report = db.import_ok(&f, &[]);
                assert_eq!(imported(&report), 2, "{what}: {report}");
                let rows = db.export(&["--prefix", &base]);
                assert_eq!(rows.len(), 2, "{what}");
                assert_eq!(rows[0]["number"], format!("{base}0"), "{what}");
                assert_eq!(rows[0]["operator"], "OpA", "{what}");
                assert_eq!(
                    rows[0]["tag"], "t1",
                    "{what}: no '\\r' left in the last column"
                );
                assert_eq!(rows[0]["notes"], "a, b; c", "{what}");
                assert_eq!(rows[1]["operator"], "OpB", "{what}");
                assert_eq!(rows[1]["tag"], "t2", "{what}");
                assert_eq!(rows[1]["notes"], "", "{what}");
                case += 1;
            }
        }
    });
}

#[test]
fn header_aliases_are_case_insensitive() {
    each_backend(|db| {
        let headers = [
            "number", "NUMBER", "did", "DID", "e164", "E164", "phone", "Phone",
        ];
        for (i, h) in headers.iter().enumerate() {
            let n = format!("+44207946110{i}");
            let f = db.write(&format!("alias-{i}.csv"), format!("{h},Tag\n{n},x\n"));
            let report = db.import_ok(&f, &["--operator", "Op"]);
            assert_eq!(imported(&report), 1, "header '{h}': {report}");
            assert_eq!(
                db.numbers(&["--prefix", &n]),
                vec![n.clone()],
                "header '{h}'"
            );
        }
    });
}

#[test]
fn a_cell_may_hold_a_range() {
    each_backend(|db| {
        let f = db.write(
            "ranges.csv",
            "number\n+442079461200-+442079461209\n+442079461300\n",
        );
        let report = db.import_ok(&f, &["--operator", "Op"]);
        assert_eq!(imported(&report), 11, "{report}");
        let want: Vec<String> = (0..10).map(|i| format!("+44207946120{i}")).collect();
        assert_eq!(db.numbers(&["--prefix", "+44207946120"]), want);
        assert_eq!(db.count(), 11);

        // A range written backwards is refused with a reason, not silently emptied.
        let f = db.write("backwards.csv", "number\n+442079461409-+442079461400\n");
        let r = db.import(&f, &["--operator", "Op"]);
        assert!(!r.success(), "a backwards range alone must fail the import");
        let report = r.json();
        let rej = rejected(&report);
        assert_eq!(rej.len(), 1, "{report}");
        assert_eq!(rej[0].0, 2);
        assert_eq!(rej[0].1, "+442079461409-+442079461400");
        assert_eq!(db.count(), 11);
    });
}

/// The seed's short range form in a cell: the second end replaces the first's last digits.
#[test]
fn a_cell_may_hold_a_short_range() {
    each_backend(|db| {
        let f = db.write(
            "short.csv",
            "number\n+442079461600-609\n+44 20 7946 1700-1704\n020 7946 1800-0001\n",
        );
        let r = db.import(
            &f,
            &["--operator", "Op", "--country", "GB", "--skip-invalid"],
        );
        let report = r.json();
        assert_eq!(imported(&report), 15, "{report}");
        let want: Vec<String> = (0..10).map(|i| format!("+44207946160{i}")).collect();
        assert_eq!(db.numbers(&["--prefix", "+44207946160"]), want);
        assert_eq!(db.numbers(&["--prefix", "+44207946170"]).len(), 5);
        // A short end below the start is refused, saying how it was read.
        let rej = rejected(&report);
        assert_eq!(rej.len(), 1, "{report}");
        assert_eq!(rej[0].0, 4);
        let reason = report["rejected"][0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("read as 02079460001"), "{reason}");
    });
}

#[test]
fn defaults_fill_missing_columns() {
    each_backend(|db| {
        let f = db.write(
            "defaults.csv",
            "number,tag,status\n020 7946 1500,,\n+442079461501,own,\n020 7946 1502,,archive\n",
        );
        let report = db.import_ok(
            &f,
            &[
                "--operator",
                "DefOp",
                "--status",
                "reserved",
                "--after-hold",
                "archive",
                "--tag",
                "deftag",
                "--country",
                "GB",
            ],
        );
        assert_eq!(imported(&report), 3, "{report}");
        let rows = db.export(&[]);
        assert_eq!(rows.len(), 3);
        let r0 = &rows[0];
        assert_eq!(
            r0["number"], "+442079461500",
            "national number read with --country GB"
        );
        assert_eq!(r0["country"], "GB");
        assert_eq!(r0["operator"], "DefOp");
        assert_eq!(r0["status"], "reserved");
        assert_eq!(r0["after_hold"], "archive");
        assert_eq!(r0["tag"], "deftag");
        assert_eq!(rows[1]["number"], "+442079461501");
        assert_eq!(
            rows[1]["tag"], "own",
            "a value in the file beats the default"
        );
        assert_eq!(rows[1]["status"], "reserved");
        assert_eq!(
            rows[2]["status"], "archive",
            "a status in the file beats the default"
        );
        assert_eq!(rows[2]["tag"], "deftag");

        // Without --country the same national number is refused, with its row.
        let f = db.write("national.csv", "number\n020 7946 1600\n");
        let r = db.import(&f, &["--operator", "DefOp"]);
        assert!(!r.success());
        let rej = rejected(&r.json());
        assert_eq!(rej.len(), 1);
        assert_eq!(rej[0].0, 2);
        assert_eq!(rej[0].1, "020 7946 1600");
        assert!(rej[0].2.contains("country"), "reason: {}", rej[0].2);
        assert_eq!(db.count(), 3);
    });
}

#[test]
fn unknown_operators_are_created_and_reported() {
    each_backend(|db| {
        db.ok(&["operators", "create", "Existing"]);
        let f = db.write(
            "operators.csv",
            "number,operator\n+442079461700,Existing\n+442079461701,existing\n\
             +442079461702,NewCo\n+442079461703,\n+442079461704,NewCo\n",
        );
        let report = db.import_ok(&f, &["--operator", "DefaultNew"]);
        assert_eq!(imported(&report), 5, "{report}");
        let created: BTreeSet<&str> = report["operators_created"]
            .as_array()
            .expect("operators_created is an array")
            .iter()
            .map(|v| v.as_str().expect("operator name"))
            .collect();
        assert_eq!(
            created,
            BTreeSet::from(["DefaultNew", "NewCo"]),
            "each new operator reported once: {report}"
        );
        let ops = db.operators();
        let mut sorted = ops.clone();
        sorted.sort();
        assert_eq!(sorted, vec!["DefaultNew", "Existing", "NewCo"], "{ops:?}");
        let rows = db.export(&[]);
        let op_of = |n: &str| {
            rows.iter()
                .find(|r| r["number"] == n)
                .map(|r| r["operator"].clone())
                .unwrap_or_default()
        };
        assert_eq!(
            op_of("+442079461701"),
            "Existing",
            "operator names match case-insensitively"
        );
        assert_eq!(op_of("+442079461703"), "DefaultNew");
        assert_eq!(op_of("+442079461704"), "NewCo");

        // The text report says so too.
        let f = db.write("operators2.csv", "number,operator\n+442079461705,Third\n");
        let r = db.ok(&["import", f.to_str().unwrap()]);
        assert!(r.stdout.contains("Third"), "stdout: {}", r.stdout);
    });
}

#[test]
fn rejected_rows_name_row_value_and_reason() {
    each_backend(|db| {
        let f = db.write(
            "rejects.csv",
            "number,operator,status\n\
             +442079461800,Op,\n\
             12ab,Op,\n\
             ,Op,\n\
             +442079461801,Op,\n\
             +44 20 7946 18,Op,\n\
             +442079461802,Op,assigned\n\
             +442079461803,,\n",
        );
        let r = db.import(&f, &["--skip-invalid"]);
        assert!(
            r.success(),
            "skip-invalid with good rows succeeds: {}",
            r.stderr
        );
        let report = r.json();
        assert_eq!(imported(&report), 2, "{report}");
        let rej = rejected(&report);
        let rows: Vec<u64> = rej.iter().map(|r| r.0).collect();
        assert_eq!(rows, vec![3, 4, 6, 7, 8], "{report}");
        assert_eq!(rej[0].1, "12ab");
        assert_eq!(rej[1].1, "");
        assert!(rej[1].2.contains("empty"), "{}", rej[1].2);
        assert_eq!(rej[2].1, "+44 20 7946 18");
        assert_eq!(rej[3].1, "+442079461802");
        assert!(rej[3].2.contains("status"), "{}", rej[3].2);
        assert_eq!(rej[4].1, "+442079461803");
        assert!(rej[4].2.contains("operator"), "{}", rej[4].2);
        for (row, _, reason) in &rej {
            assert!(!reason.trim().is_empty(), "row {row} has no reason");
        }
        assert_eq!(db.numbers(&[]), vec!["+442079461800", "+442079461801"]);

        // The text report names rows too.
        let r = db.run(&["import", f.to_str().unwrap(), "--dry-run"]);
        assert!(r.stdout.contains("row 3"), "stdout: {}", r.stdout);
        assert!(r.stdout.contains("12ab"), "stdout: {}", r.stdout);
    });
}

/// Row numbers as a spreadsheet shows them: blank lines are rows too.
#[test]
fn row_numbers_count_blank_lines() {
    each_backend(|db| {
        let f = db.write(
            "blank-lines.csv",
            "number\n+442079461900\n\n\nbad-number\n+442079461901\n",
        );
        let report = db.import(&f, &["--operator", "Op", "--dry-run"]).json();
        assert_eq!(
            rejected_rows(&report),
            vec![5],
            "'bad-number' is on row 5 of the sheet (rows 3 and 4 are blank): {report}"
        );
    });
}

/// Row numbers as a spreadsheet shows them: a quoted cell that spans lines is one row.
#[test]
fn row_numbers_count_a_multiline_cell_as_one_row() {
    each_backend(|db| {
        let f = db.write(
            "multiline.csv",
            "number,notes\n+442079461902,\"first line\nsecond line\"\nbad-number,\n",
        );
        let report = db.import(&f, &["--operator", "Op", "--dry-run"]).json();
        assert_eq!(
            rejected_rows(&report),
            vec![3],
            "a quoted cell spanning two lines is one spreadsheet row, so 'bad-number' is row 3: {report}"
        );
    });
}

const DUPLICATES_CSV: &str = "number\n\
     +442079462002\n\
     +442079462000\n\
     +44 20 7946 2002\n\
     +442079462003-+442079462005\n\
     +442079462004\n";

/// An inventory holding +442079462000 and +442079462001.
fn with_two_dids(db: &Db) {
    let first = db.write("first.csv", "number\n+442079462000\n+442079462001\n");
    assert_eq!(imported(&db.import_ok(&first, &["--operator", "Op"])), 2);
}

#[test]
fn duplicates_in_the_file_and_in_the_inventory() {
    each_backend(|db| {
        with_two_dids(db);
        let second = db.write("second.csv", DUPLICATES_CSV);

        // Strict: nothing is imported and the exit status says so.
        let r = db.import(&second, &["--operator", "Op"]);
        assert!(!r.success(), "duplicates refuse a strict import");
        let report = r.json();
        assert_eq!(imported(&report), 0, "{report}");
        assert_eq!(db.count(), 2, "a refused import changes nothing");

        // Only an inventory duplicate: refused too, and that row is named.
        let only_inv = db.write(
            "only-inventory.csv",
            "number\n+442079462009\n+442079462001\n",
        );
        let r = db.import(&only_inv, &["--operator", "Op"]);
        assert!(
            !r.success(),
            "an inventory duplicate refuses a strict import"
        );
        let report = r.json();
        assert_eq!(report["duplicates"], 1, "{report}");
        let rej = rejected(&report);
        assert_eq!(rejected_rows(&report), vec![3], "{report}");
        assert_eq!(rej[0].1, "+442079462001");
        assert!(rej[0].2.contains("inventory"), "{}", rej[0].2);
        assert_eq!(db.count(), 2);

        // Skip-invalid: the four new numbers go in, the three duplicates are reported.
        let report = db.import_ok(&second, &["--operator", "Op", "--skip-invalid"]);
        assert_eq!(imported(&report), 4, "{report}");
        assert_eq!(report["duplicates"], 3, "{report}");
        let rej = rejected(&report);
        assert_eq!(rejected_rows(&report), vec![3, 4, 6], "{report}");
        for (row, value, reason) in &rej {
            assert!(reason.contains("duplicate"), "row {row}: {reason}");
            assert!(!value.is_empty(), "row {row}");
        }
        assert_eq!(rej[0].1, "+442079462000");
        assert!(
            rej[0].2.contains("inventory"),
            "row 3 is in the inventory: {}",
            rej[0].2
        );
        assert!(
            rej[1].2.contains("row 2"),
            "row 4 repeats row 2: {}",
            rej[1].2
        );
        assert!(
            rej[2].2.contains("row 5"),
            "row 6 is inside the range of row 5: {}",
            rej[2].2
        );
        assert_eq!(
            db.numbers(&[]),
            (0..6)
                .map(|i| format!("+44207946200{i}"))
                .collect::<Vec<_>>()
        );

        // The same file again: everything is a duplicate now; nothing imported, non-zero exit.
        let r = db.import(&second, &["--operator", "Op", "--skip-invalid"]);
        let report = r.json();
        assert_eq!(imported(&report), 0, "{report}");
        // Counted per number: rows 2, 3 and 6 name one each, the range on row 5 three.
        assert_eq!(report["duplicates"], 7, "{report}");
        assert!(
            !r.success(),
            "nothing imported because of errors: non-zero exit"
        );
        assert_eq!(db.count(), 6);
    });
}

/// A refused (strict) import must still report every rejected row, so that one round of
/// fixes is enough: here the inventory duplicate on row 3 as well as the in-file ones.
#[test]
fn strict_import_reports_inventory_duplicates_with_the_other_rejections() {
    each_backend(|db| {
        with_two_dids(db);
        let second = db.write("second.csv", DUPLICATES_CSV);
        let r = db.import(&second, &["--operator", "Op"]);
        assert!(!r.success());
        let report = r.json();
        assert_eq!(
            rejected_rows(&report),
            vec![3, 4, 6],
            "row 3 (+442079462000, already in the inventory) is missing from the report: {report}"
        );
        assert_eq!(report["duplicates"], 3, "{report}");
        assert_eq!(db.count(), 2);
    });
}

#[test]
fn strict_mode_imports_nothing_and_exits_non_zero() {
    each_backend(|db| {
        let f = db.write(
            "strict.csv",
            "number,operator\n+442079462100,NewInFile\n+442079462101,\nnot-a-number,\n+442079462102,\n",
        );
        let r = db.import(&f, &["--operator", "StrictOp"]);
        assert!(!r.success(), "one bad row refuses the whole import");
        let report = r.json();
        assert_eq!(imported(&report), 0, "{report}");
        assert_eq!(rejected_rows(&report), vec![4], "{report}");
        assert_eq!(db.count(), 0);
        assert!(
            db.operators().is_empty(),
            "no operator is created by a refused import: {:?}",
            db.operators()
        );
        let audit = db.ok(&["audit", "--action", "did.import"]);
        assert!(audit.stdout.trim().is_empty(), "audit: {}", audit.stdout);

        // Without --json the refusal is said in words, still non-zero.
        let r = db.run(&["import", f.to_str().unwrap(), "--operator", "StrictOp"]);
        assert!(!r.success());
        assert!(r.all_output().contains("row 4"), "{}", r.all_output());
        assert!(
            r.stderr.contains("nothing was imported"),
            "stderr: {}",
            r.stderr
        );
        assert_eq!(db.count(), 0);
    });
}

#[test]
fn skip_invalid_imports_the_good_rows() {
    each_backend(|db| {
        let f = db.write(
            "skip.csv",
            "number\n+442079462200\nnot-a-number\n+442079462201\n+999 1\n+442079462202\n",
        );
        let r = db.import(&f, &["--operator", "Op", "--skip-invalid"]);
        assert!(r.success(), "{}", r.stderr);
        let report = r.json();
        assert_eq!(imported(&report), 3, "{report}");
        assert_eq!(rejected_rows(&report), vec![3, 5]);
        assert_eq!(
            db.numbers(&[]),
            vec!["+442079462200", "+442079462201", "+442079462202"]
        );

        // Every row bad: nothing imported because of errors, non-zero exit even when skipping.
        let f = db.write("allbad.csv", "number\nnope\nnever\n");
        let r = db.import(&f, &["--operator", "Op", "--skip-invalid"]);
        assert!(
            !r.success(),
            "nothing imported because of errors must exit non-zero"
        );
        assert_eq!(imported(&r.json()), 0);
        assert_eq!(db.count(), 3);
    });
}

#[test]
fn dry_run_changes_nothing() {
    each_backend(|db| {
        let f = db.write(
            "dry.csv",
            "number,operator\n+442079462300,DryOp\n+442079462301-+442079462304,DryOp\n",
        );
        let r = db.import(&f, &["--dry-run"]);
        assert!(r.success(), "{}", r.stderr);
        let report = r.json();
        assert_eq!(imported(&report), 0, "{report}");
        assert_eq!(
            report["valid"], 5,
            "a dry run says what would be imported: {report}"
        );
        assert_eq!(report["dry_run"], true);
        assert_eq!(db.count(), 0);
        assert!(db.operators().is_empty(), "{:?}", db.operators());
        let audit = db.ok(&["audit"]);
        assert!(audit.stdout.trim().is_empty(), "audit: {}", audit.stdout);

        // With bad rows, they are reported the same way, and still nothing changes.
        let f = db.write("dry-bad.csv", "number\n+442079462305\nbad\n");
        let r = db.import(&f, &["--operator", "Op", "--dry-run"]);
        let report = r.json();
        assert_eq!(rejected_rows(&report), vec![3]);
        assert_eq!(db.count(), 0);
        // It answers for the run it stands for: strict, that run would import nothing, so
        // the dry run exits 2 as the run would; skipping the bad row, it would import one.
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        let r = db.import(&f, &["--operator", "Op", "--dry-run", "--skip-invalid"]);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert_eq!(r.json()["valid"], 1);

        // The real import afterwards takes everything.
        assert_eq!(
            imported(&db.import_ok(&f, &["--operator", "Op", "--skip-invalid"])),
            1
        );
        assert_eq!(imported(&db.import_ok(&db.path("dry.csv"), &[])), 5);
        assert_eq!(db.count(), 6);
    });
}

#[test]
fn json_report_shape() {
    each_backend(|db| {
        db.ok(&["operators", "create", "Op0"]);
        db.ok(&["dids", "create", "+442079462400", "--operator", "Op0"]);
        let f = db.write(
            "shape.csv",
            "number\n+442079462401\nbad\n+442079462400\n+442079462401\n",
        );
        let r = db.import(&f, &["--operator", "Op", "--skip-invalid"]);
        assert!(r.success());
        assert_eq!(
            r.stdout.trim().lines().count(),
            1,
            "one JSON document on one line"
        );
        let v = r.json();
        let obj = v.as_object().expect("report is an object");
        for k in ["imported", "rejected", "duplicates", "operators_created"] {
            assert!(obj.contains_key(k), "missing '{k}' in {v}");
        }
        assert_eq!(v["imported"], 1);
        assert_eq!(v["duplicates"], 2);
        assert_eq!(v["operators_created"], serde_json::json!(["Op"]));
        let rej = v["rejected"].as_array().unwrap();
        assert_eq!(rej.len(), 3);
        for r in rej {
            let o = r.as_object().unwrap();
            let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, vec!["reason", "row", "value"], "{r}");
            assert!(r["row"].is_u64());
            assert!(r["value"].is_string());
            assert!(r["reason"].is_string());
        }
        assert_eq!(rej[0]["row"], 3);
        assert_eq!(rej[0]["value"], "bad");
        assert_eq!(rej[1]["row"], 4);
        assert_eq!(rej[1]["value"], "+442079462400");
        assert_eq!(rej[2]["row"], 5);
        assert_eq!(rej[2]["value"], "+442079462401");
    });
}

/// The workbook shared by the XLSX and XLS tests: numbers typed as numbers (no `+`), as text,
/// a range, and bad rows.
fn workbook_rows() -> Vec<Vec<Cell>> {
    vec![
        vec![text("Phone"), text("Operator"), text("Tag")],
        vec![num(442079462500.0), text("SheetOp"), text("xl")],
        vec![text("+44 20 7946 2501"), text("SheetOp"), Cell::Empty],
        vec![num(33142685300.0), text("SheetOp"), Cell::Empty],
        vec![num(12015550123.0), Cell::Empty, num(7.0)],
        vec![
            text("+442079462510-+442079462512"),
            text("SheetOp"),
            Cell::Empty,
        ],
        vec![num(44207946.0), text("SheetOp"), Cell::Empty],
        vec![text("nope"), text("SheetOp"), Cell::Empty],
    ]
}

fn check_workbook_import(db: &Db, file: &std::path::Path) {
    // Strict first: the numeric bad cell is quoted back as the whole number it holds.
    let r = db.import(file, &["--operator", "DefOp"]);
    assert!(!r.success());
    let report = r.json();
    let rej = rejected(&report);
    assert_eq!(
        rej.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![7, 8],
        "{report}"
    );
    assert_eq!(
        rej[0].1, "44207946",
        "numeric cell shown as a whole number: {report}"
    );
    assert_eq!(rej[1].1, "nope");
    assert!(
        !r.stdout.contains("e11") && !r.stdout.contains("e+11"),
        "{}",
        r.stdout
    );
    assert_eq!(db.count(), 0);

    let report = db.import_ok(file, &["--operator", "DefOp", "--skip-invalid"]);
    assert_eq!(imported(&report), 7, "{report}");
    let rows = db.export(&[]);
    let numbers: Vec<&str> = rows.iter().map(|r| r["number"].as_str()).collect();
    assert_eq!(
        numbers,
        vec![
            "+12015550123",
            "+33142685300",
            "+442079462500",
            "+442079462501",
            "+442079462510",
            "+442079462511",
            "+442079462512",
        ]
    );
    let by = |n: &str| rows.iter().find(|r| r["number"] == n).unwrap();
    assert_eq!(by("+442079462500")["tag"], "xl");
    assert_eq!(by("+442079462500")["operator"], "SheetOp");
    assert_eq!(by("+12015550123")["operator"], "DefOp");
    assert_eq!(
        by("+12015550123")["tag"],
        "7",
        "a numeric tag cell reads as 7, not 7.0"
    );
    assert_eq!(by("+33142685300")["country"], "FR");
}

#[test]
fn xlsx_import_reads_numeric_cells_as_whole_numbers() {
    each_backend(|db| {
        let f = db.write("dids.xlsx", xlsx(&workbook_rows()));
        check_workbook_import(db, &f);
    });
}

#[test]
fn xls_import_reads_numeric_cells_as_whole_numbers() {
    each_backend(|db| {
        let f = db.write("dids.xls", xls(&workbook_rows()));
        check_workbook_import(db, &f);
    });
}

#[test]
fn spreadsheet_format_is_sniffed_not_taken_from_the_name() {
    each_backend(|db| {
        // An XLSX saved under a .csv name, and a CSV under an .xlsx name.
        let f = db.write(
            "really-xlsx.csv",
            xlsx(&[vec![text("number")], vec![num(442079462600.0)]]),
        );
        assert_eq!(imported(&db.import_ok(&f, &["--operator", "Op"])), 1);
        let f = db.write("really-csv.xlsx", "number\n+442079462601\n");
        assert_eq!(imported(&db.import_ok(&f, &["--operator", "Op"])), 1);
        assert_eq!(db.numbers(&[]), vec!["+442079462600", "+442079462601"]);
    });
}

/// A sheet whose table does not start at A1: rows are still numbered as the sheet shows them.
#[test]
fn xlsx_rows_are_numbered_as_the_sheet_shows_them() {
    each_backend(|db| {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        // Header on row 3 from column B; a bad number on row 5; a blank row 6; bad row 7.
        ws.write_string(2, 1, "number").unwrap();
        ws.write_string(2, 2, "tag").unwrap();
        ws.write_number(3, 1, 442079462700.0).unwrap();
        ws.write_string(4, 1, "nope").unwrap();
        ws.write_string(6, 1, "never").unwrap();
        ws.write_number(7, 1, 442079462701.0).unwrap();
        ws.write_string(7, 2, "last").unwrap();
        let f = db.write("offset.xlsx", wb.save_to_buffer().unwrap());
        let report = db.import_ok(&f, &["--operator", "Op", "--skip-invalid"]);
        assert_eq!(imported(&report), 2, "{report}");
        assert_eq!(rejected_rows(&report), vec![5, 7], "{report}");
        let rows = db.export(&[]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["number"], "+442079462701");
        assert_eq!(rows[1]["tag"], "last");
    });
}

/// A file refused as a whole (here: no operator anywhere) is "nothing imported because of
/// errors" like a refused row: exit 2, and under --json a report that says why.
#[test]
fn a_file_refused_as_a_whole_exits_2_with_a_json_report() {
    each_backend(|db| {
        let f = db.write("no-operator.csv", "number\n+442079462400\n");
        let r = db.import(&f, &[]);
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        let report = r.json();
        assert_eq!(report["imported"], 0, "{report}");
        assert_eq!(report["error"]["field"], "operator", "{report}");
        assert!(r.stderr.contains("operator"), "{}", r.stderr);
        assert_eq!(db.count(), 0);
        // A usage mistake is not that: it exits 64.
        let r = db.run(&["import", f.to_str().unwrap(), "--no-such-flag"]);
        assert_eq!(r.code, Some(64), "{}", r.stderr);
    });
}
