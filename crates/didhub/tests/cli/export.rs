//! `didhub export`: CSV with a header, filters, `--output`, and a round trip through import.

use std::collections::BTreeMap;

use crate::common::{each_backend, parse_csv, Db};

const HEADER: &str =
    "number,country,type,operator,status,after_hold,tag,notes,created_at,updated_at";

/// A small inventory: 5 London numbers of OpA (red, in stock), 3 of OpB (blue, reserved),
/// a Paris number of OpA (red, archive) and a US number of OpB (no tag).
fn seed(db: &Db) {
    let f = db.write(
        "seed.csv",
        "number,operator,status,after_hold,tag,notes\n\
         +442079463000-+442079463004,OpA,in_stock,,red,\n\
         +442079463100-+442079463102,OpB,reserved,archive,blue,\"note, with comma\"\n\
         +33142685300,OpA,archive,,red,Paris\n\
         +12015550123,OpB,,,,\n",
    );
    let report = db.import_ok(&f, &[]);
    assert_eq!(report["imported"], 10, "{report}");
}

#[test]
fn export_writes_a_header_and_one_line_per_did() {
    each_backend(|db| {
        // An empty inventory still gets the header.
        let text = db.export_text(&[]);
        assert_eq!(text.lines().collect::<Vec<_>>(), vec![HEADER]);

        seed(db);
        let text = db.export_text(&[]);
        assert_eq!(text.lines().next(), Some(HEADER));
        let rows = parse_csv(&text);
        assert_eq!(rows.len(), 10);
        let numbers: Vec<&str> = rows.iter().map(|r| r["number"].as_str()).collect();
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(numbers, sorted, "exported in number order");
        let r = rows
            .iter()
            .find(|r| r["number"] == "+442079463100")
            .unwrap();
        assert_eq!(r["country"], "GB");
        assert_eq!(r["type"], "fixed_line");
        assert_eq!(r["operator"], "OpB");
        assert_eq!(r["status"], "reserved");
        assert_eq!(r["after_hold"], "archive");
        assert_eq!(r["tag"], "blue");
        assert_eq!(r["notes"], "note, with comma");
        for r in &rows {
            for col in ["created_at", "updated_at"] {
                let t = &r[col];
                assert!(
                    t.len() >= 20 && t.ends_with('Z') && t.contains('T'),
                    "{col} is a UTC timestamp: {t:?}"
                );
            }
        }
        let us = rows.iter().find(|r| r["number"] == "+12015550123").unwrap();
        assert_eq!(us["tag"], "", "no tag exports as an empty cell");
        assert_eq!(us["status"], "in_stock");
    });
}

#[test]
fn export_filters() {
    each_backend(|db| {
        seed(db);
        let london: Vec<String> = (0..5).map(|i| format!("+44207946300{i}")).collect();
        assert_eq!(db.numbers(&["--prefix", "+4420794630"]), london);
        assert_eq!(db.numbers(&["--prefix", "+44"]).len(), 8);
        assert_eq!(db.numbers(&["--prefix", "+1"]), vec!["+12015550123"]);
        assert!(db.numbers(&["--prefix", "+49"]).is_empty());

        assert_eq!(
            db.numbers(&["--status", "reserved"]),
            vec!["+442079463100", "+442079463101", "+442079463102"]
        );
        assert_eq!(db.numbers(&["--status", "archive"]), vec!["+33142685300"]);
        assert_eq!(db.numbers(&["--tag", "red"]).len(), 6);
        assert_eq!(db.numbers(&["--tag", "blue"]).len(), 3);
        assert_eq!(db.numbers(&["--operator", "OpB"]).len(), 4);
        assert_eq!(db.numbers(&["--operator", "OpA"]).len(), 6);
        assert_eq!(db.numbers(&["--country", "FR"]), vec!["+33142685300"]);
        assert_eq!(
            db.numbers(&["--type", "fixed_line_or_mobile"]),
            vec!["+12015550123"]
        );
        // Filters combine.
        assert_eq!(
            db.numbers(&["--operator", "OpA", "--tag", "red", "--prefix", "+44"]),
            london
        );
        assert!(db
            .numbers(&["--operator", "OpA", "--status", "reserved"])
            .is_empty());
        // Every exported row matches its filter, and every row that matches is exported.
        // (OpB's only DID in stock is the US one: its row left the status empty.)
        let rows = db.export(&["--operator", "OpB", "--status", "in_stock"]);
        let numbers: Vec<&str> = rows.iter().map(|r| r["number"].as_str()).collect();
        assert_eq!(numbers, ["+12015550123"]);
        for r in &rows {
            assert_eq!(r["operator"], "OpB");
            assert_eq!(r["status"], "in_stock");
        }

        // Bad filters are clear errors.
        let r = db.run(&["export", "--operator", "NoSuchOp"]);
        assert!(!r.success());
        assert!(r.stderr.contains("NoSuchOp"), "stderr: {}", r.stderr);
        let r = db.run(&["export", "--status", "sold"]);
        assert!(!r.success());
        assert!(r.stderr.contains("status"), "stderr: {}", r.stderr);
    });
}

#[test]
fn export_to_a_file() {
    each_backend(|db| {
        seed(db);
        let stdout = db.export_text(&["--tag", "red"]);
        let out = db.path("red.csv");
        let r = db.ok(&["export", "--tag", "red", "--output", out.to_str().unwrap()]);
        assert!(
            r.stdout.is_empty(),
            "nothing on stdout with --output: {}",
            r.stdout
        );
        let file = std::fs::read_to_string(&out).expect("export file written");
        assert_eq!(file, stdout);
        assert_eq!(parse_csv(&file).len(), 6);

        // -o, and an existing file is replaced, not appended to.
        let r = db.ok(&["export", "--prefix", "+1", "-o", out.to_str().unwrap()]);
        assert!(r.stdout.is_empty());
        let file = std::fs::read_to_string(&out).unwrap();
        assert_eq!(parse_csv(&file).len(), 1, "{file}");

        // A bad filter is refused before the file is touched: the last export stays whole.
        let before = std::fs::read_to_string(&out).unwrap();
        let r = db.run(&["export", "--type", "landline", "-o", out.to_str().unwrap()]);
        assert!(!r.success());
        assert!(r.stderr.contains("type"), "stderr: {}", r.stderr);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), before);
        let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "no partial file left: {leftovers:?}");

        // An export over a file keeps its permissions; a symlink is written through, not
        // replaced.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600)).unwrap();
            db.ok(&["export", "-o", out.to_str().unwrap()]);
            let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "permissions kept");
            let link = db.path("link.csv");
            std::os::unix::fs::symlink(&out, &link).unwrap();
            db.ok(&["export", "--prefix", "+1", "-o", link.to_str().unwrap()]);
            assert!(std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(parse_csv(&std::fs::read_to_string(&out).unwrap()).len(), 1);
        }

        // A directory that does not exist: a clear error.
        let bad = db.path("no/such/dir/out.csv");
        let r = db.run(&["export", "--output", bad.to_str().unwrap()]);
        assert!(!r.success());
        assert!(r.stderr.contains("out.csv"), "stderr: {}", r.stderr);
    });
}

/// Rows without their timestamps (which a re-import sets anew).
fn comparable(rows: Vec<BTreeMap<String, String>>) -> Vec<BTreeMap<String, String>> {
    rows.into_iter()
        .map(|mut r| {
            r.remove("created_at");
            r.remove("updated_at");
            r
        })
        .collect()
}

#[test]
fn export_reimports_into_a_fresh_database() {
    each_backend(|db| {
        seed(db);
        db.ok(&["operators", "create", "Op, \"Quoted\""]);
        db.ok(&[
            "dids",
            "create",
            "+442079463200-+442079463203",
            "--operator",
            "Op, \"Quoted\"",
            "--status",
            "reserved",
            "--after-hold",
            "archive",
            "--tag",
            "zürich",
            "--notes",
            "multi\nline, \"quoted\" notes — 5 €",
        ]);
        let first = db.export(&[]);
        assert_eq!(first.len(), 14);
        let file = db.path("all.csv");
        db.ok(&["export", "--output", file.to_str().unwrap()]);

        let fresh = db.another();
        let report = fresh.import_ok(&file, &[]);
        assert_eq!(report["imported"], 14, "{report}");
        assert_eq!(report["rejected"], serde_json::json!([]), "{report}");
        let second = fresh.export(&[]);
        assert_eq!(comparable(second), comparable(first));
    });
}
