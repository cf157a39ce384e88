//! The account, licensing and assignment commands, end to end.

use crate::common::{self, each_backend};
use serde_json::Value;

fn first_field(s: &str) -> String {
    s.split('\t').next().unwrap_or_default().trim().to_string()
}

#[test]
fn partner_customer_license_assignment_and_routing() {
    each_backend(|db| {
        db.ok(&["partners", "create", "Reseller"]);
        let customer = first_field(
            &db.ok(&["customers", "create", "--partner", "reseller", "ACME"])
                .stdout,
        );
        let listed = db.ok(&["customers", "list"]).stdout;
        assert!(
            listed.contains("ACME") && listed.contains("inactive"),
            "{listed}"
        );
        // Users: partner roles need a partner; passwords come from the environment.
        let r = db.run(&[
            "users",
            "create",
            "--email",
            "p@acme.example",
            "--role",
            "partner_member",
        ]);
        assert!(!r.success() && r.stderr.contains("partner"), "{}", r.stderr);
        let mut cmd = db.command();
        cmd.args([
            "users",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "operations",
        ])
        .env("DIDHUB_PASSWORD", "a long enough password");
        assert!(cmd.output().unwrap().status.success());
        assert!(db
            .ok(&["users", "list"])
            .stdout
            .contains("ops@example.com\toperations"));
        let t = db.ok(&[
            "token",
            "create",
            "--name",
            "ops",
            "--user",
            "ops@example.com",
        ]);
        assert!(t.stdout.trim().starts_with("dh_"));
        // PBX, license, service: the seed's example.
        db.ok(&[
            "pbxs",
            "create",
            "--customer",
            &customer,
            "--name",
            "HQ",
            "--serial",
            "SN-9",
        ]);
        db.ok(&[
            "pbxs",
            "set-license",
            "SN-9",
            "--term",
            "yearly",
            "--period-start",
            "2020-05-15",
        ]);
        db.ok(&[
            "service-kinds",
            "create",
            "sip_trunk",
            "--name",
            "SIP trunk",
            "--price",
            "yearly:EUR:1200.00",
        ]);
        let q: Value = serde_json::from_str(
            &db.ok(&[
                "pbxs",
                "add-service",
                "SN-9",
                "--kind",
                "sip_trunk",
                "--start",
                "2020-08-10",
                "--preview",
            ])
            .stdout,
        )
        .unwrap();
        assert_eq!(q["amount"], "913.97");
        let r = db.run(&[
            "pbxs",
            "add-service",
            "SN-9",
            "--kind",
            "sip_trunk",
            "--start",
            "2021-05-15",
        ]);
        assert!(!r.success() && r.stderr.contains("expiry"), "{}", r.stderr);
        // Package, client package, assignment, hold.
        let f = db.write("stock.csv", "number\n+442079460100-+442079460109\n");
        db.import_ok(&f, &["--operator", "Op"]);
        db.ok(&[
            "packages",
            "create",
            "Five",
            "--allowance",
            "5",
            "--price",
            "monthly:EUR:5.00",
        ]);
        let cp: Value = serde_json::from_str(
            &db.ok(&[
                "client-packages",
                "create",
                "--customer",
                &customer,
                "--package",
                "five",
                "--start",
                "2026-11-01",
            ])
            .stdout,
        )
        .unwrap();
        let cp = cp["id"].as_str().unwrap().to_string();
        let a = db.ok(&[
            "client-packages",
            "assign",
            &cp,
            "+442079460100",
            "+442079460101",
            "--destination",
            "sip:acme@pbx.example.com",
            "--reason",
            "order 7",
        ]);
        assert_eq!(a.stdout.lines().count(), 2);
        // Lists: a header row, and the names a user needs (customer, partner).
        let l = db.ok(&["dids", "list", "--prefix", "+442079460100"]).stdout;
        let rows: Vec<Vec<&str>> = l.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(
            rows[0],
            [
                "NUMBER",
                "COUNTRY",
                "TYPE",
                "STATUS",
                "AFTER_HOLD",
                "OPERATOR",
                "CUSTOMER",
                "TAG",
                "NOTES"
            ],
            "{l}"
        );
        assert_eq!(rows.len(), 2, "{l}");
        assert_eq!(rows[1][0], "+442079460100", "{l}");
        assert_eq!(rows[1][3], "assigned", "{l}");
        assert_eq!(rows[1][4], "in_stock", "{l}");
        assert_eq!(rows[1][6], "ACME", "{l}");
        let l = db.ok(&["customers", "list"]).stdout;
        assert_eq!(l.lines().next(), Some("ID\tNAME\tPARTNER\tSTATE"), "{l}");
        assert!(l.lines().any(|r| r.contains("\tACME\tReseller\t")), "{l}");
        for (list, head) in [
            ("users", "ID\tEMAIL\tROLE\tPARTNER\tSTATE"),
            ("partners", "ID\tNAME"),
            ("pbxs", "ID\tSERIAL\tNAME\tCUSTOMER\tREGION"),
            ("operators", "ID\tNAME\tDIDS"),
        ] {
            let l = db.ok(&[list, "list"]).stdout;
            assert_eq!(l.lines().next(), Some(head), "{list}: {l}");
        }
        let l = db.ok(&["users", "list"]).stdout;
        assert!(l.contains("ops@example.com\toperations\t\tenabled"), "{l}");
        let h = db.ok(&["dids", "history", "+442079460100"]).stdout;
        assert!(
            h.lines()
                .any(|l| l.contains("did.assign") && l.contains("order 7")),
            "{h}"
        );
        let r: Value = serde_json::from_str(&db.ok(&["route", "+442079460100"]).stdout).unwrap();
        assert_eq!(r["destination"], "sip:acme@pbx.example.com");
        // The same lookup key as the API: the trunk 0 is not part of the number.
        let r: Value = serde_json::from_str(&db.ok(&["route", "+4402079460100"]).stdout).unwrap();
        assert_eq!(r["destination"], "sip:acme@pbx.example.com");
        let r = db.run(&[
            "client-packages",
            "assign",
            &cp,
            "+442079460102",
            "+442079460103",
            "+442079460104",
            "+442079460105",
            "--destination",
            "sip:acme@pbx.example.com",
        ]);
        assert!(
            !r.success() && r.stderr.contains("allows 5"),
            "{}",
            r.stderr
        );
        db.ok(&["client-packages", "set-state", &cp, "inactive"]);
        let r: Value = serde_json::from_str(&db.ok(&["route", "+442079460100"]).stdout).unwrap();
        assert_eq!(
            (r["reachable"].as_bool(), r["reason"].as_str()),
            (Some(false), Some("hold"))
        );
        db.ok(&["client-packages", "set-state", &cp, "active"]);
        let u = db.ok(&["client-packages", "unassign", &cp, "+442079460101"]);
        assert!(u.stdout.contains("in_stock"));
        let r = db.run(&[
            "client-packages",
            "allocate",
            &cp,
            "--size",
            "10",
            "--country",
            "GB",
            "--type",
            "fixed_line",
            "--destination",
            "sip:x@y.example",
        ]);
        assert!(
            !r.success() && r.stderr.contains("allows 5"),
            "the block would exceed the allowance: {}",
            r.stderr
        );
        // A package with room: a block of 10 from the named operator.
        db.ok(&[
            "packages",
            "create",
            "Hundred",
            "--allowance",
            "100",
            "--price",
            "monthly:EUR:50.00",
        ]);
        let big: Value = serde_json::from_str(
            &db.ok(&[
                "client-packages",
                "create",
                "--customer",
                &customer,
                "--package",
                "hundred",
                "--start",
                "2026-11-01",
            ])
            .stdout,
        )
        .unwrap();
        let big = big["id"].as_str().unwrap().to_string();
        let allocate = |operator: &str| {
            db.run(&[
                "client-packages",
                "allocate",
                &big,
                "--size",
                "10",
                "--country",
                "GB",
                "--type",
                "fixed_line",
                "--destination",
                "sip:block@pbx.example.com",
                "--operator",
                operator,
                "--reason",
                "order 42",
            ])
        };
        let r = allocate("Nope");
        assert!(
            !r.success() && r.stderr.contains("no operator named 'Nope'"),
            "{}",
            r.stderr
        );
        // The stock of ten has DIDs taken by the first package: no whole block is left.
        let r = allocate("Op");
        assert!(
            !r.success() && r.stderr.contains("no free aligned block of 10"),
            "{}",
            r.stderr
        );
        let f = db.write("more.csv", "number\n+442079460200-+442079460209\n");
        db.import_ok(&f, &["--operator", "Op"]);
        let r = allocate("Op");
        assert!(r.success(), "{}", r.stderr);
        let a: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            (a["block"]["first"].as_str(), a["assigned"].as_u64()),
            (Some("+442079460200"), Some(10))
        );
        let r: Value = serde_json::from_str(&db.ok(&["route", "+442079460205"]).stdout).unwrap();
        assert_eq!(r["destination"], "sip:block@pbx.example.com");
        // Packages are edited (the allowance not below what a client holds) and deleted only
        // when unused.
        let r = db.run(&["packages", "update", "Hundred", "--allowance", "5"]);
        assert!(
            !r.success() && r.stderr.contains("holds 10"),
            "{}",
            r.stderr
        );
        let u: Value = serde_json::from_str(
            &db.ok(&[
                "packages",
                "update",
                "hundred",
                "--name",
                "Fifty",
                "--allowance",
                "50",
            ])
            .stdout,
        )
        .unwrap();
        assert_eq!(
            (u["name"].as_str(), u["did_allowance"].as_i64()),
            (Some("Fifty"), Some(50))
        );
        assert_eq!(
            u["prices"][0]["amount"], "50.00",
            "prices kept when not given"
        );
        let r = db.run(&["packages", "delete", "Fifty"]);
        assert!(
            !r.success() && r.stderr.contains("client package"),
            "{}",
            r.stderr
        );
        db.ok(&["packages", "create", "Unused", "--allowance", "1"]);
        db.ok(&["packages", "delete", "unused"]);
        let list: Value = serde_json::from_str(&db.ok(&["packages", "list"]).stdout).unwrap();
        assert!(list
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "Unused"));
    });
}

/// `customers list` shows a customer active once one of its PBXs has a license active today.
#[test]
fn a_customer_with_a_licensed_pbx_is_listed_active() {
    each_backend(|db| {
        db.ok(&["partners", "create", "Reseller"]);
        let customer = first_field(
            &db.ok(&["customers", "create", "--partner", "reseller", "ACME"])
                .stdout,
        );
        let status = |db: &common::Db| {
            let listed = db.ok(&["customers", "list"]).stdout;
            listed
                .lines()
                .find(|l| l.contains("ACME"))
                .and_then(|l| l.split('\t').nth(3))
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(status(db), "inactive");
        db.ok(&[
            "pbxs",
            "create",
            "--customer",
            &customer,
            "--name",
            "HQ",
            "--serial",
            "SN-1",
        ]);
        let today = chrono::Utc::now().date_naive().to_string();
        db.ok(&[
            "pbxs",
            "set-license",
            "SN-1",
            "--term",
            "monthly",
            "--period-start",
            &today,
        ]);
        assert_eq!(status(db), "active");
    });
}

/// `pbxs cancel-service` cancels by kind (or by id when the PBX has two of a kind), prints the
/// credit, and once no service is left the PBX can be deleted.
#[test]
fn cancelled_services_free_the_pbx() {
    each_backend(|db| {
        db.ok(&["partners", "create", "Reseller"]);
        let customer = first_field(
            &db.ok(&["customers", "create", "--partner", "reseller", "ACME"])
                .stdout,
        );
        db.ok(&[
            "pbxs",
            "create",
            "--customer",
            &customer,
            "--name",
            "HQ",
            "--serial",
            "SN-1",
        ]);
        let today = chrono::Utc::now().date_naive();
        let start = (today - chrono::Duration::days(30)).to_string();
        db.ok(&[
            "pbxs",
            "set-license",
            "SN-1",
            "--term",
            "yearly",
            "--period-start",
            &start,
        ]);
        db.ok(&[
            "service-kinds",
            "create",
            "sip_trunk",
            "--name",
            "SIP trunk",
            "--price",
            "yearly:EUR:1200.00",
        ]);
        for _ in 0..2 {
            db.ok(&["pbxs", "add-service", "SN-1", "--kind", "sip_trunk"]);
        }
        let r = db.run(&["pbxs", "delete", "SN-1"]);
        assert!(
            !r.success() && r.stderr.contains("services"),
            "{}",
            r.stderr
        );
        let r = db.run(&["pbxs", "cancel-service", "SN-1", "--kind", "sip_trunk"]);
        assert!(!r.success() && r.stderr.contains("--id"), "{}", r.stderr);
        let services: Value =
            serde_json::from_str(&db.ok(&["pbxs", "services", "SN-1"]).stdout).unwrap();
        let id = services[0]["id"].as_str().unwrap().to_string();
        let c: Value = serde_json::from_str(
            &db.ok(&[
                "pbxs",
                "cancel-service",
                "SN-1",
                "--id",
                &id,
                "--reason",
                "moved",
            ])
            .stdout,
        )
        .unwrap();
        // Started today: the whole charge comes back.
        assert_eq!(c["credit"], services[0]["charges"][0]["amount"], "{c}");
        let c: Value = serde_json::from_str(
            &db.ok(&["pbxs", "cancel-service", "SN-1", "--kind", "sip_trunk"])
                .stdout,
        )
        .unwrap();
        assert_eq!(c["currency"], "EUR");
        let audit = db.ok(&["audit", "--action", "service.cancel"]).stdout;
        assert_eq!(
            audit
                .lines()
                .filter(|l| l.contains("service.cancel"))
                .count(),
            2,
            "{audit}"
        );
        db.ok(&["pbxs", "delete", "SN-1"]);
        assert!(!db.ok(&["pbxs", "list"]).stdout.contains("SN-1"));
    });
}

/// A client package starting in 2030 is `pending`, and `route` answers its DIDs unreachable.
#[test]
fn a_package_starting_later_is_pending_and_does_not_route() {
    each_backend(|db| {
        db.ok(&["partners", "create", "Reseller"]);
        let customer = first_field(
            &db.ok(&["customers", "create", "--partner", "reseller", "ACME"])
                .stdout,
        );
        db.ok(&["operators", "create", "Op"]);
        db.ok(&["dids", "create", "+442079460100", "--operator", "Op"]);
        db.ok(&["packages", "create", "Later", "--allowance", "5"]);
        let cp: Value = serde_json::from_str(
            &db.ok(&[
                "client-packages",
                "create",
                "--customer",
                &customer,
                "--package",
                "later",
                "--start",
                "2030-01-01",
            ])
            .stdout,
        )
        .unwrap();
        assert_eq!(cp["state"], "pending", "{cp}");
        let cp = cp["id"].as_str().unwrap().to_string();
        db.ok(&[
            "client-packages",
            "assign",
            &cp,
            "+442079460100",
            "--destination",
            "sip:acme@pbx.example.com",
        ]);
        let r: Value = serde_json::from_str(&db.ok(&["route", "+442079460100"]).stdout).unwrap();
        assert_eq!(
            (r["reachable"].as_bool(), r["reason"].as_str()),
            (Some(false), Some("pending")),
            "{r}"
        );
        let r = db.run(&["client-packages", "set-state", &cp, "pending"]);
        assert!(
            !r.success() && r.stderr.contains("start date"),
            "{}",
            r.stderr
        );
    });
}

/// The hold period is the server's: `serve` records its configured `hold_days` when it starts,
/// and a command line change made without that configuration (even with another value of its
/// own, which it reports) holds DIDs for the server's period.
#[test]
fn the_hold_period_is_the_servers() {
    each_backend(|db| {
        let cfg = db.write("server.toml", "hold_days = 7\n");
        let mut server = db
            .std_command()
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let a = db.run(&["audit", "--action", "setting.update"]);
            if a.success() && a.stdout.contains("hold_days") {
                assert!(a.stdout.contains("[null,7]"), "{}", a.stdout);
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server never recorded its hold period"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = server.kill();
        let _ = server.wait();

        db.ok(&["partners", "create", "Reseller"]);
        let customer = first_field(
            &db.ok(&["customers", "create", "--partner", "reseller", "ACME"])
                .stdout,
        );
        db.ok(&["operators", "create", "Op"]);
        db.ok(&["dids", "create", "+442079460100", "--operator", "Op"]);
        db.ok(&["packages", "create", "Five", "--allowance", "5"]);
        let cp: Value = serde_json::from_str(
            &db.ok(&[
                "client-packages",
                "create",
                "--customer",
                &customer,
                "--package",
                "five",
                "--start",
                "2026-01-01",
            ])
            .stdout,
        )
        .unwrap();
        let cp = cp["id"].as_str().unwrap().to_string();
        db.ok(&[
            "client-packages",
            "assign",
            &cp,
            "+442079460100",
            "--destination",
            "sip:acme@pbx.example.com",
        ]);
        let r = db.ok(&[
            "client-packages",
            "set-state",
            &cp,
            "inactive",
            "--hold-days",
            "3",
        ]);
        assert!(
            r.stderr.contains("hold_days is 3 here but 7"),
            "the difference is reported: {}",
            r.stderr
        );
        let listed = db.ok(&["dids", "list", "--json"]).stdout;
        let d: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
        assert_eq!(d["status"], "hold", "{d}");
        let until: chrono::DateTime<chrono::Utc> =
            d["hold_until"].as_str().unwrap().parse().unwrap();
        let days = (until - chrono::Utc::now()).num_minutes() as f64 / 1440.0;
        assert!(
            (6.9..=7.0).contains(&days),
            "held for {days} days, not the server's 7"
        );
    });
}

/// `--price` takes several values after one flag, comma-separated, or repeated.
#[test]
fn price_takes_several_values() {
    each_backend(|db| {
        let terms = |v: &Value| -> Vec<String> {
            let mut t: Vec<String> = v["prices"]
                .as_array()
                .expect("prices")
                .iter()
                .map(|p| format!("{}:{}", p["term_kind"].as_str().unwrap(), p["amount"]))
                .collect();
            t.sort();
            t
        };
        let k: Value = serde_json::from_str(
            &db.ok(&[
                "service-kinds",
                "create",
                "sip_trunk",
                "--name",
                "SIP trunk",
                "--price",
                "yearly:EUR:1200.00",
                "monthly:EUR:100.00",
            ])
            .stdout,
        )
        .unwrap();
        assert_eq!(terms(&k).len(), 2, "{k}");
        let p: Value = serde_json::from_str(
            &db.ok(&[
                "packages",
                "create",
                "Ten",
                "--allowance",
                "10",
                "--price",
                "monthly:EUR:5.00,yearly:EUR:50.00",
            ])
            .stdout,
        )
        .unwrap();
        assert_eq!(terms(&p).len(), 2, "{p}");
        let p: Value = serde_json::from_str(
            &db.ok(&[
                "packages",
                "update",
                "Ten",
                "--price",
                "monthly:EUR:6.00",
                "--price",
                "yearly:EUR:60.00",
            ])
            .stdout,
        )
        .unwrap();
        let t = terms(&p);
        assert_eq!(t.len(), 2, "{p}");
        assert!(t.iter().any(|t| t.contains("60")), "{t:?}");
        let r = db.run(&[
            "packages",
            "create",
            "Bad",
            "--allowance",
            "1",
            "--price",
            "monthly:EUR:1.00,weekly",
        ]);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(r.stderr.contains("'weekly'"), "{}", r.stderr);
    });
}
