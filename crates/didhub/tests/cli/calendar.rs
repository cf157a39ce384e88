//! `didhub calendar` (working days, closures) and `didhub sla due`, end to end.

use crate::common::{each_backend, Backend, Db};

fn working_day(db: &Db, cc: &str, from: &str, days: &str) -> String {
    let r = db.ok(&[
        "calendar",
        "add-working-days",
        "--country",
        cc,
        "--from",
        from,
        "--days",
        days,
        "--json",
    ]);
    let v = r.json();
    v["date"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string()
}

#[test]
fn add_working_days_on_an_empty_data_directory_from_the_environment() {
    // As the contract runs it: no flags, DIDHUB_DATA_DIR naming an empty directory.
    let db = Db::new(Backend::Sqlite);
    let dir = db.path("empty");
    std::fs::create_dir(&dir).expect("mkdir");
    for (cc, from, n, want) in [
        ("FR", "2026-12-24", "1", "2026-12-28"),
        ("SA", "2026-03-04", "2", "2026-03-08"),
    ] {
        let args = [
            "calendar",
            "add-working-days",
            "--country",
            cc,
            "--from",
            from,
            "--days",
            n,
        ];
        let o = db
            .bare_command()
            .args(args)
            .arg("--json")
            .env("DIDHUB_DATA_DIR", &dir)
            .output()
            .expect("run didhub");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            format!("{{\"date\":\"{want}\"}}\n")
        );
        let plain = db
            .bare_command()
            .args(args)
            .env("DIDHUB_DATA_DIR", &dir)
            .output()
            .expect("run didhub");
        assert_eq!(String::from_utf8_lossy(&plain.stdout), format!("{want}\n"));
    }
}

#[test]
fn bad_input_is_refused_naming_the_flag() {
    let db = Db::new(Backend::Sqlite);
    for (args, code, says) in [
        (
            ["--country", "ZZ", "--from", "2026-03-04", "--days", "1"],
            1,
            "--country",
        ),
        (
            ["--country", "FR", "--from", "2026-02-30", "--days", "1"],
            1,
            "--from",
        ),
        (
            ["--country", "FR", "--from", "2019-06-01", "--days", "1"],
            1,
            "2020 to 2035",
        ),
        (
            ["--country", "FR", "--from", "2035-12-27", "--days", "3"],
            1,
            "2035-12-31",
        ),
        (
            ["--country", "FR", "--from", "2026-03-04", "--days", "3651"],
            64,
            "--days",
        ),
        (
            ["--country", "FR", "--from", "2026-03-04", "--days", "x"],
            64,
            "--days",
        ),
    ] {
        let mut a = vec!["calendar", "add-working-days"];
        a.extend_from_slice(&args);
        let r = db.run(&a);
        assert_eq!(r.code, Some(code), "{a:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{a:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{a:?}: {}", r.stdout);
    }
}

#[test]
fn closures_are_added_listed_counted_audited_and_deleted() {
    each_backend(|db| {
        assert_eq!(working_day(db, "FR", "2026-12-24", "1"), "2026-12-28");
        let add = [
            "calendar",
            "closures",
            "add",
            "--country",
            "fr",
            "--date",
            "2026-12-28",
        ];
        let mut a = add.to_vec();
        a.extend(["--reason", "office move"]);
        db.ok(&a);
        // Twice is a conflict; nothing changes.
        let r = db.run(&a);
        assert_eq!(r.code, Some(1));
        assert!(r.stderr.contains("already closed"), "{}", r.stderr);
        // Refused before anything is written.
        for (bad, says) in [
            (
                ["--country", "ZZ", "--date", "2026-12-29", "--reason", "x"],
                "country",
            ),
            (
                ["--country", "FR", "--date", "2040-01-02", "--reason", "x"],
                "2020 to 2035",
            ),
            (
                ["--country", "FR", "--date", "2026-12-29", "--reason", " "],
                "reason",
            ),
        ] {
            let mut b = vec!["calendar", "closures", "add"];
            b.extend_from_slice(&bad);
            let r = db.run(&b);
            assert_eq!(r.code, Some(1), "{b:?}");
            assert!(r.stderr.contains(says), "{b:?}: {}", r.stderr);
        }
        // The closure counts, in FR only.
        assert_eq!(working_day(db, "FR", "2026-12-24", "1"), "2026-12-29");
        assert_eq!(working_day(db, "BE", "2026-12-24", "1"), "2026-12-28");
        let listed = db.ok(&["calendar", "closures", "list"]).stdout;
        let lines: Vec<&str> = listed.lines().collect();
        assert_eq!(lines.len(), 2, "{listed}");
        assert_eq!(lines[0], "COUNTRY\tDATE\tREASON\tCREATED_BY");
        assert!(
            lines[1].starts_with("FR\t2026-12-28\toffice move\tcli:"),
            "{listed}"
        );
        let json = db.ok(&["calendar", "closures", "list", "--country", "BE", "--json"]);
        assert!(json.stdout.is_empty(), "{}", json.stdout);
        let audit = db.ok(&["audit", "--action", "closure.create"]).stdout;
        assert!(
            audit.contains("FR 2026-12-28") && audit.contains("office move"),
            "{audit}"
        );
        // Deleted: the day counts again; a second delete finds nothing.
        let del = [
            "calendar",
            "closures",
            "delete",
            "--country",
            "FR",
            "--date",
            "2026-12-28",
        ];
        db.ok(&del);
        assert_eq!(working_day(db, "FR", "2026-12-24", "1"), "2026-12-28");
        let r = db.run(&del);
        assert_eq!(r.code, Some(1));
        assert!(r.stderr.contains("not found"), "{}", r.stderr);
        assert!(db
            .ok(&["audit", "--action", "closure.delete"])
            .stdout
            .contains("FR 2026-12-28"));
    });
}

fn sla(args: &[&str]) -> crate::common::Run {
    let db = Db::new(Backend::Sqlite);
    let mut a = vec!["sla", "due"];
    a.extend_from_slice(args);
    db.run(&a)
}

#[test]
fn sla_due_answers_the_contracts_cases() {
    for (class, created, want) in [
        ("critical", "2026-12-04T16:50:00Z", "2026-12-07T08:20:00Z"),
        ("standard", "2026-12-05T10:00:00Z", "2026-12-07T17:00:00Z"),
        ("standard", "2026-12-01T06:30:00Z", "2026-12-01T17:00:00Z"),
        ("critical", "2026-12-01T16:30:00Z", "2026-12-01T17:00:00Z"),
    ] {
        let base = [
            "--class",
            class,
            "--created",
            created,
            "--tz",
            "Europe/Rome",
        ];
        let r = sla(&[&base[..], &["--json"]].concat());
        assert!(r.success(), "{}", r.stderr);
        assert_eq!(r.stdout, format!("{{\"due\":\"{want}\"}}\n"));
        let r = sla(&base);
        assert_eq!(r.stdout, format!("{want}\n"));
    }
    // An offset other than Z, and holidays given twice over.
    let r = sla(&[
        "--class",
        "critical",
        "--created",
        "2026-12-03T17:50:00+01:00",
        "--tz",
        "Europe/Rome",
        "--holiday",
        "2026-12-04",
        "--holiday",
        "2026-12-07",
    ]);
    assert_eq!(r.stdout, "2026-12-08T08:20:00Z\n", "{}", r.stderr);
}

#[test]
fn sla_due_refuses_bad_input_naming_the_flag() {
    let ok = [
        "--class",
        "critical",
        "--created",
        "2026-12-01T10:00:00Z",
        "--tz",
        "Europe/Rome",
    ];
    for (i, bad, says) in [
        (1, "urgent", "--class"),
        (3, "2026-12-01 10:00", "--created"),
        (5, "Europe/Roma", "--tz"),
    ] {
        let mut a = ok.to_vec();
        a[i] = bad;
        let r = sla(&a);
        assert_eq!(r.code, Some(1), "{a:?}");
        assert!(r.stderr.contains(says), "{a:?}: {}", r.stderr);
    }
    let r = sla(&[&ok[..], &["--holiday", "12/04/2026"]].concat());
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("--holiday"), "{}", r.stderr);
    let r = sla(&ok[..4]);
    assert_eq!(r.code, Some(64), "a missing --tz is a usage mistake");
}
