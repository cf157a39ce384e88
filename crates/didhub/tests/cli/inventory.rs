//! `didhub token create`, `operators`, `dids create|list|history`, and the audit trail of an
//! import.

use crate::common;

use crate::common::{each_backend, Run};
use serde_json::Value;

#[test]
fn token_create_prints_a_token() {
    each_backend(|db| {
        let a = db.ok(&["token", "create", "--name", "ci"]);
        let lines: Vec<&str> = a.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "exactly the token on stdout: {:?}",
            a.stdout
        );
        let token = lines[0];
        assert!(
            token.len() >= 20,
            "token too short to be a secret: {token:?}"
        );
        assert!(
            token.chars().all(|c| c.is_ascii_graphic()),
            "a token is pasteable into a header: {token:?}"
        );
        let b = db.ok(&["token", "create", "--name", "ci2", "--expires-days", "30"]);
        assert_ne!(b.stdout.trim(), token, "every token is new");

        let r = db.run(&["token", "create"]);
        assert!(!r.success(), "--name is required");
        // An expiry past any date is a usage error, not an overflow.
        let r = db.run(&[
            "token",
            "create",
            "--name",
            "far",
            "--expires-days",
            "100000000",
        ]);
        assert_eq!(r.code, Some(64), "{}", r.stderr);
        assert!(r.stderr.contains("expires-days"), "{}", r.stderr);
    });
}

#[test]
fn operators_create_list_rename_delete() {
    each_backend(|db| {
        assert!(db.operators().is_empty());
        let r = db.ok(&["operators", "create", "Acme Telecom"]);
        assert!(r.stdout.contains("Acme Telecom"), "{}", r.stdout);
        db.ok(&["operators", "create", "Other"]);
        let mut ops = db.operators();
        ops.sort();
        assert_eq!(ops, vec!["Acme Telecom", "Other"]);

        let r = db.run(&["operators", "create", "Acme Telecom"]);
        assert!(!r.success(), "operator names are unique");
        assert!(r.stderr.contains("error"), "stderr: {}", r.stderr);
        assert_eq!(db.operators().len(), 2);

        db.ok(&["operators", "rename", "Other", "Renamed"]);
        let mut ops = db.operators();
        ops.sort();
        assert_eq!(ops, vec!["Acme Telecom", "Renamed"]);

        db.ok(&[
            "dids",
            "create",
            "+442079464000",
            "--operator",
            "Acme Telecom",
        ]);
        let list = db.ok(&["operators", "list"]).stdout;
        let acme = list
            .lines()
            .find(|l| l.contains("Acme Telecom"))
            .expect("listed");
        assert_eq!(acme.split('\t').nth(2), Some("1"), "{acme}");
        assert_eq!(list.lines().next(), Some("ID\tNAME\tDIDS"), "{list}");

        let r = db.run(&["operators", "delete", "Acme Telecom"]);
        assert!(!r.success(), "an operator with DIDs cannot be deleted");
        assert!(!r.stderr.trim().is_empty());
        assert!(db.operators().contains(&"Acme Telecom".to_string()));

        db.ok(&["operators", "delete", "Renamed"]);
        assert_eq!(db.operators(), vec!["Acme Telecom"]);
        let r = db.run(&["operators", "delete", "Renamed"]);
        assert!(!r.success());
        assert!(r.stderr.contains("Renamed"), "stderr: {}", r.stderr);
    });
}

/// `dids create` takes the short range form: `+442079465100-109` is ten numbers.
#[test]
fn dids_create_takes_the_short_range_form() {
    each_backend(|db| {
        db.ok(&["operators", "create", "Op"]);
        let r = db.ok(&[
            "dids",
            "create",
            "+442079465100-109",
            "+44 20 7946 5200-5204",
            "--operator",
            "Op",
        ]);
        assert!(r.stdout.contains("created 15"), "{}", r.stdout);
        let r = db.run(&[
            "dids",
            "create",
            "+442079465300-+4420794653999",
            "--operator",
            "Op",
        ]);
        assert!(
            !r.success() && r.stderr.contains("more digits"),
            "{}",
            r.stderr
        );
    });
}

#[test]
fn dids_create_single_several_and_range() {
    each_backend(|db| {
        db.ok(&["operators", "create", "Op"]);
        let r = db.ok(&["dids", "create", "+44 20 7946 5000", "--operator", "Op"]);
        assert!(r.stdout.contains("created 1"), "{}", r.stdout);
        let r = db.ok(&[
            "dids",
            "create",
            "+442079465001",
            "020 7946 5002",
            "+442079465010-+442079465019",
            "--operator",
            "Op",
            "--country",
            "GB",
            "--status",
            "reserved",
            "--tag",
            "t",
            "--notes",
            "n",
        ]);
        assert!(r.stdout.contains("created 12"), "{}", r.stdout);

        let list = db.ok(&["dids", "list", "--json"]).stdout;
        let items: Vec<Value> = list
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(items.len(), 13);
        assert_eq!(items[0]["number"], "+442079465000");
        assert_eq!(items[0]["status"], "in_stock");
        let d = items
            .iter()
            .find(|d| d["number"] == "+442079465002")
            .expect("national number read with --country");
        assert_eq!(d["status"], "reserved");
        assert_eq!(d["tag"], "t");
        assert_eq!(d["country"], "GB");

        let text = db.ok(&["dids", "list", "--prefix", "+44207946501"]).stdout;
        assert_eq!(text.lines().count(), 11, "a header and 10 DIDs: {text}");
        assert!(text
            .lines()
            .next()
            .is_some_and(|h| h.starts_with("NUMBER\tCOUNTRY")));
        assert!(text.lines().skip(1).all(|l| l.starts_with("+44207946501")));

        // Refusals change nothing and say why.
        let r = db.run(&["dids", "create", "+442079465000", "--operator", "Op"]);
        assert!(!r.success(), "a number is unique");
        assert!(r.stderr.contains("+442079465000"), "stderr: {}", r.stderr);
        let r = db.run(&[
            "dids",
            "create",
            "+442079465100",
            "--operator",
            "Op",
            "--status",
            "assigned",
        ]);
        assert!(
            !r.success(),
            "new DIDs start in stock, reserved or archived"
        );
        assert!(r.stderr.contains("status"), "stderr: {}", r.stderr);
        let r = db.run(&["dids", "create", "+442079465100", "--operator", "Nope"]);
        assert!(!r.success());
        assert!(r.stderr.contains("Nope"), "stderr: {}", r.stderr);
        let r = db.run(&[
            "dids",
            "create",
            "+442079400000-+442079599999",
            "--operator",
            "Op",
        ]);
        assert!(!r.success(), "more than 100,000 numbers in one request");
        assert!(
            r.stderr.contains("100000")
                || r.stderr.contains("100,000")
                || r.stderr.contains("split"),
            "stderr: {}",
            r.stderr
        );
        let r = db.run(&["dids", "create", "banana", "--operator", "Op"]);
        assert!(!r.success());
        assert!(r.stderr.contains("banana"), "stderr: {}", r.stderr);
        assert_eq!(db.count(), 13);
    });
}

#[test]
fn dids_history_shows_create_and_import() {
    each_backend(|db| {
        db.ok(&["operators", "create", "Op"]);
        db.ok(&["dids", "create", "+442079466000", "--operator", "Op"]);
        let h = db.ok(&["dids", "history", "+442079466000"]).stdout;
        let lines: Vec<&str> = h.lines().collect();
        assert_eq!(lines.len(), 1, "{h}");
        assert!(lines[0].contains("did.create"), "{h}");

        let f = db.write(
            "history-import.csv",
            "number\n+442079466100-+442079466599\n+442079466600\n",
        );
        let report = db.import_ok(&f, &["--operator", "Op", "--reason", "stock from supplier"]);
        assert_eq!(report["imported"], 501);
        assert!(report["batch_id"].is_string(), "{report}");
        for n in [
            "+442079466100",
            "+442079466350",
            "+442079466600",
            "+44 20 7946 6599",
        ] {
            let h = db.ok(&["dids", "history", n]).stdout;
            let lines: Vec<&str> = h.lines().collect();
            assert_eq!(lines.len(), 1, "one entry for an imported DID: {h}");
            assert!(lines[0].contains("did.import"), "{h}");
            assert!(
                lines[0].contains("history-import.csv"),
                "names the file: {h}"
            );
            assert!(
                lines[0].contains("stock from supplier"),
                "carries the reason: {h}"
            );
        }
        // One audit entry for the whole import, not one per DID.
        let audit = db.ok(&["audit", "--action", "did.import"]).stdout;
        assert_eq!(audit.lines().count(), 1, "{audit}");
        // at, actor, action, subject, changes (JSON), reason, tab-separated.
        let fields: Vec<&str> = audit.trim_end_matches('\n').split('\t').collect();
        assert_eq!(fields.len(), 6, "{audit}");
        assert_eq!(fields[2], "did.import", "{audit}");
        let changes: serde_json::Value = serde_json::from_str(fields[4]).expect("changes as JSON");
        assert_eq!(changes["imported"], 501, "{audit}");
        assert_eq!(fields[5], "stock from supplier", "{audit}");

        let r = db.run(&["dids", "history", "+442079469999"]);
        assert!(!r.success(), "history of an unknown number");
        assert!(r.stderr.contains("+442079469999"), "stderr: {}", r.stderr);
    });
}

#[test]
fn database_flags_work_after_the_subcommand_and_from_the_environment() {
    each_backend(|db| {
        // Flags after the subcommand.
        let mut c = db.bare_command();
        c.args(["operators", "create", "AfterFlags"])
            .args(db.global_args());
        let r = Run::from_output("operators create (flags after)", c.output().unwrap());
        assert!(r.success(), "{}", r.stderr);

        // The environment instead of flags.
        let mut c = db.bare_command();
        c.args(["operators", "create", "FromEnv"])
            .envs(db.global_env());
        let r = Run::from_output("operators create (environment)", c.output().unwrap());
        assert!(r.success(), "{}", r.stderr);

        let mut ops = db.operators();
        ops.sort();
        assert_eq!(
            ops,
            vec!["AfterFlags", "FromEnv"],
            "all three ways reach one database"
        );
    });
}

/// A database URL of another scheme (a typo of `postgres://`, say) is refused, never opened
/// as an SQLite file of that name; `sqlite:PATH` opens that file.
#[test]
fn an_unknown_database_url_is_refused() {
    let db = common::Db::new(common::Backend::Sqlite);
    for url in [
        "postgress://didhub@localhost/didhub",
        "mysql://x",
        "didhub.db",
    ] {
        let mut c = db.bare_command();
        c.current_dir(db.dir())
            .args(["--data-dir", &db.path("data").to_string_lossy()])
            .args(["--database-url", url, "migrate"]);
        let r = Run::from_output("migrate", c.output().unwrap());
        assert!(!r.success(), "{url} must be refused");
        assert!(
            r.stderr.contains("unsupported database URL"),
            "{url}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("localhost"), "only the scheme is named");
    }
    let files: Vec<_> = std::fs::read_dir(db.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files
            .iter()
            .all(|f| !f.contains("postgress") && !f.contains("mysql") && f != "didhub.db"),
        "nothing was created: {files:?}"
    );
    let file = db.path("elsewhere.sqlite3");
    let url = format!("sqlite:{}?mode=rwc", file.display());
    let mut c = db.bare_command();
    c.args(["--database-url", &url, "migrate"]);
    let r = Run::from_output("migrate sqlite:", c.output().unwrap());
    assert!(r.success(), "{}", r.stderr);
    assert!(file.exists());
}

#[test]
fn zero_http_threads_is_a_clear_error() {
    let db = common::Db::new(common::Backend::Sqlite);
    let r = db.run(&["serve", "--listen", "127.0.0.1:0", "--http-threads", "0"]);
    assert!(!r.success(), "serve with no HTTP threads must not start");
    assert!(r.stderr.contains("--http-threads"), "stderr: {}", r.stderr);
}

/// The TOML file (`--config` or `DIDHUB_CONFIG`) sets what flags and the environment do not;
/// a flag wins over it; an unknown key or a bad value is an error naming the file.
#[test]
fn config_file_sets_defaults_that_flags_override() {
    let db = common::Db::new(common::Backend::Sqlite);
    let from_file = db.dir().join("from-file");
    let cfg = db.write(
        "didhub.toml",
        format!(
            "data_dir = {:?}\npool_size = 2\n",
            from_file.display().to_string()
        ),
    );
    let run = |args: &[&str], env: &[(&str, &std::path::Path)]| {
        let mut c = db.bare_command();
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from_output(&args.join(" "), c.output().unwrap())
    };
    let cfg_s = cfg.display().to_string();
    let r = run(
        &["--config", &cfg_s, "operators", "create", "FromFile"],
        &[],
    );
    assert!(r.success(), "{}", r.stderr);
    assert!(
        from_file.join("didhub.sqlite3").is_file(),
        "the file's data_dir is used"
    );
    // The environment variable names the file just as well.
    let r = run(&["operators", "list"], &[("DIDHUB_CONFIG", cfg.as_path())]);
    assert!(r.success() && r.stdout.contains("FromFile"), "{}", r.stderr);
    // A flag wins over the file.
    let from_flag = db.dir().join("from-flag");
    let flag_s = from_flag.display().to_string();
    let r = run(
        &[
            "--config",
            &cfg_s,
            "--data-dir",
            &flag_s,
            "operators",
            "list",
        ],
        &[],
    );
    assert!(r.success(), "{}", r.stderr);
    assert!(!r.stdout.contains("FromFile"), "{}", r.stdout);
    assert!(from_flag.join("didhub.sqlite3").is_file());
    // Mistakes are named, not ignored.
    let bad = db.write("bad.toml", "data_dri = \"x\"\n");
    let r = run(
        &["--config", &bad.display().to_string(), "operators", "list"],
        &[],
    );
    assert!(!r.success());
    assert!(
        r.stderr.contains("bad.toml") && r.stderr.contains("data_dri"),
        "{}",
        r.stderr
    );
    let bad = db.write("worse.toml", "pool_size = \"many\"\n");
    let r = run(
        &["--config", &bad.display().to_string(), "operators", "list"],
        &[],
    );
    assert!(!r.success());
    assert!(
        r.stderr.contains("worse.toml") && r.stderr.contains("pool_size"),
        "{}",
        r.stderr
    );
    r.assert_no_panic("bad config");
    // A mistake on the database URL's line names the place, never the line (its password).
    let bad = db.write(
        "secret.toml",
        "database-url = \"postgres://u:hunter2@db.example/x\"\n",
    );
    let r = run(
        &["--config", &bad.display().to_string(), "operators", "list"],
        &[],
    );
    assert!(!r.success());
    assert!(
        r.stderr.contains("secret.toml") && r.stderr.contains("line 1"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    let bad = db.write(
        "unclosed.toml",
        "database_url = \"postgres://u:hunter2@db.example/x\n",
    );
    let r = run(
        &["--config", &bad.display().to_string(), "operators", "list"],
        &[],
    );
    assert!(!r.success());
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    let r = run(
        &[
            "--config",
            &db.dir().join("missing.toml").display().to_string(),
            "operators",
            "list",
        ],
        &[],
    );
    assert!(
        !r.success() && r.stderr.contains("missing.toml"),
        "{}",
        r.stderr
    );
}

/// The audit entries (tab-separated fields) of `action` about `subject`, newest first.
fn audit_of(db: &common::Db, subject: &str, action: &str) -> Vec<Vec<String>> {
    db.ok(&["audit", "--subject", subject, "--action", action])
        .stdout
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn dids_edit_changes_one_did_and_is_audited() {
    each_backend(|db| {
        db.ok(&["operators", "create", "Acme"]);
        db.ok(&["dids", "create", "+442079465000", "--operator", "Acme"]);
        let r = db.ok(&[
            "dids",
            "edit",
            "+44 20 7946 5000",
            "--status",
            "In Stock",
            "--after-hold",
            "reserved",
            "--tag",
            "vip",
            "--notes",
            "for the demo",
            "--reason",
            "set up the demo",
        ]);
        assert!(r.stdout.contains("vip"), "{}", r.stdout);
        let d = db.ok(&["dids", "list", "--json", "--prefix", "+442079465000"]);
        let d: Value = serde_json::from_str(d.stdout.trim()).expect("one DID");
        assert_eq!(d["after_hold"], "reserved");
        assert_eq!(d["tag"], "vip");
        assert_eq!(d["notes"], "for the demo");
        let version = d["version"].as_i64().expect("version");

        let audit = audit_of(db, "+442079465000", "did.update");
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0][5], "set up the demo", "{audit:?}");
        assert!(audit[0][4].contains("vip"), "{audit:?}");

        // A stale version changes nothing.
        let r = db.run(&[
            "dids",
            "edit",
            "+442079465000",
            "--tag",
            "other",
            "--if-version",
            &(version - 1).to_string(),
        ]);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(r.stderr.contains("version"), "{}", r.stderr);
        // An empty tag clears it, at the current version.
        db.ok(&[
            "dids",
            "edit",
            "+442079465000",
            "--tag",
            "",
            "--if-version",
            &version.to_string(),
        ]);
        let d = db.ok(&["dids", "list", "--json", "--prefix", "+442079465000"]);
        let d: Value = serde_json::from_str(d.stdout.trim()).expect("one DID");
        assert_eq!(d["tag"], Value::Null);
        // A status set by assignment is refused, naming the flag's value.
        let r = db.run(&["dids", "edit", "+442079465000", "--status", "assigned"]);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(r.stderr.contains("assigned"), "{}", r.stderr);
        let r = db.run(&["dids", "edit", "+442079469999", "--tag", "x"]);
        assert_eq!(r.code, Some(1), "an unknown number: {}", r.stderr);
    });
}

#[test]
fn dids_bulk_edit_needs_yes_and_changes_what_the_filter_selects() {
    each_backend(|db| {
        db.ok(&["operators", "create", "Acme"]);
        db.ok(&[
            "dids",
            "create",
            "+442079465100-+442079465102",
            "--operator",
            "Acme",
            "--tag",
            "old",
        ]);
        db.ok(&["dids", "create", "+442079465200", "--operator", "Acme"]);

        let r = db.run(&[
            "dids",
            "bulk-edit",
            "--tag",
            "old",
            "--set-status",
            "reserved",
        ]);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(r.stderr.contains("selects 3 DIDs"), "{}", r.stderr);
        assert!(r.stderr.contains("--yes"), "{}", r.stderr);
        assert!(
            db.export_text(&["--status", "reserved"]).lines().count() <= 1,
            "nothing changed without --yes"
        );

        let r = db.ok(&[
            "dids",
            "bulk-edit",
            "--tag",
            "old",
            "--set-status",
            "IN-STOCK",
            "--set-after-hold",
            "archive",
            "--set-tag",
            "new",
            "--reason",
            "retagged",
            "--yes",
        ]);
        assert!(r.stdout.contains("changed 3 DIDs"), "{}", r.stdout);
        let new = db.export_text(&["--tag", "new"]);
        assert_eq!(new.lines().count(), 4, "a header and 3 DIDs: {new}");
        assert!(!new.contains("+442079465200"), "{new}");
        let audit = audit_of(db, "+442079465101", "did.update");
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0][5], "retagged", "{audit:?}");

        // One DID: singular.
        let r = db.run(&[
            "dids",
            "bulk-edit",
            "--prefix",
            "+442079465200",
            "--set-tag",
            "x",
        ]);
        assert!(r.stderr.contains("selects 1 DID;"), "{}", r.stderr);
        // An empty filter is refused rather than read as "all".
        let r = db.run(&["dids", "bulk-edit", "--set-tag", "x", "--yes"]);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert_eq!(db.export_text(&["--tag", "x"]).lines().count(), 1);
    });
}

#[test]
fn dids_delete_removes_the_numbers_with_a_reason() {
    each_backend(|db| {
        db.ok(&["operators", "create", "Acme"]);
        db.ok(&[
            "dids",
            "create",
            "+442079465300-+442079465302",
            "--operator",
            "Acme",
        ]);
        let r = db.run(&["dids", "delete", "+442079465300"]);
        assert_eq!(r.code, Some(64), "--reason is required: {}", r.stderr);

        let r = db.ok(&[
            "dids",
            "delete",
            "+442079465300",
            "+44 20 7946 5301",
            "--reason",
            "returned to the operator",
        ]);
        assert!(r.stdout.contains("deleted 2 DIDs"), "{}", r.stdout);
        let left = db.export_text(&["--prefix", "+4420794653"]);
        assert_eq!(left.lines().count(), 2, "{left}");
        assert!(left.contains("+442079465302"), "{left}");
        let audit = audit_of(db, "+442079465301", "did.delete");
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0][5], "returned to the operator", "{audit:?}");

        let r = db.ok(&["dids", "delete", "+442079465302", "--reason", "gone"]);
        assert!(r.stdout.contains("deleted 1 DID\n"), "{}", r.stdout);
        // An unknown number deletes nothing.
        db.ok(&["dids", "create", "+442079465303", "--operator", "Acme"]);
        let r = db.run(&[
            "dids",
            "delete",
            "+442079465303",
            "+442079469998",
            "--reason",
            "x",
        ]);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert_eq!(
            db.export_text(&["--prefix", "+442079465303"])
                .lines()
                .count(),
            2
        );
    });
}
