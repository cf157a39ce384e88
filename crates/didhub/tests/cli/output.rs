//! What the command line prints: control and bidirectional characters in any field reach the
//! operator's terminal as visible escapes, whoever put them there (issue 18, point 3).

use crate::common::{each_backend, runtime, store_config, Db};
use serde_json::{json, Value};

/// An escape sequence that clears the screen, a bell, a newline that would start a forged line,
/// a tab that would make a column, a right-to-left override.
const PROBE: &str = "evil\u{1b}[2J\u{7}\nforged\tcolumn\u{202e}@x.example";

/// A character that must not reach a terminal raw (an oracle of its own, not the rule under
/// test). Newlines and tabs are checked apart: the output's own lines and columns use them.
fn raw_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn assert_inert(what: &str, out: &str, tabs_per_line: usize) {
    assert!(!out.chars().any(raw_control), "{what}: {out:?}");
    for line in out.lines() {
        assert_eq!(
            line.matches('\t').count(),
            tabs_per_line,
            "{what}: {line:?}"
        );
        assert!(!line.starts_with("forged"), "{what}: a forged line {out:?}");
    }
}

/// Serves the API on this database for one login attempt; returns its HTTP status.
fn login_via_api(db: &Db, email: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    runtime().block_on(async {
        let store = didhub_store::Store::open(&store_config(db))
            .await
            .expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut state = didhub_server::AppState::new(store.clone());
        state.hold_worker_every = None;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(didhub_server::serve(listener, state, 1, async {
            let _ = stopped.await;
        }));
        let body = json!({"email": email, "password": "not the password at all"}).to_string();
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: \
                application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.expect("answer");
        let _ = stop.send(());
        let _ = server.await;
        store.close().await;
        answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    })
}

#[test]
fn a_login_probe_reaches_the_audit_command_escaped() {
    each_backend(|db| {
        db.ok(&["migrate"]);
        assert_eq!(login_via_api(db, PROBE), 401);
        let out = db.ok(&["audit", "--action", "auth.login_failed"]).stdout;
        assert_eq!(out.lines().count(), 1, "one entry, one line: {out:?}");
        assert_inert("audit", &out, 5);
        let subject = out.trim_end().split('\t').nth(3).unwrap_or_default();
        assert_eq!(
            subject,
            "evil\\u{1b}[2j\\u{7}\\nforged\\tcolumn\\u{202e}@x.example"
        );
    });
}

/// Rows written before today's rules (or by hand) may hold anything: every printer escapes.
fn write_legacy(db: &Db, operator: &str, number: &str) {
    use sqlx::Connection;
    runtime().block_on(async {
        let cfg = store_config(db);
        let sql = "UPDATE operators SET name = $1 WHERE name = 'Legacy'";
        let n = match &cfg.database_url {
            Some(url) => {
                let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
                sqlx::query(sql)
                    .bind(operator)
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
            None => {
                let file = cfg.data_dir.join("didhub.sqlite3");
                let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(file);
                let mut c = sqlx::SqliteConnection::connect_with(&opts)
                    .await
                    .expect("connect");
                sqlx::query(sql)
                    .bind(operator)
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
        };
        assert_eq!(n.expect("update"), 1);
        // Entries as any writer could have made them: nothing on this path checks them.
        let store = didhub_store::Store::open(&cfg).await.expect("open store");
        let actor = didhub_store::Actor(format!("cli:{PROBE}"));
        store
            .audit()
            .audit_event(
                &actor,
                "did.note",
                "did",
                Some(number.to_string()),
                json!({"note": PROBE, "c1": "\u{9b}2J", "del": "\u{7f}"}),
            )
            .await
            .expect("audit entry");
        store.close().await;
    });
}

#[test]
fn every_printer_escapes_what_older_rows_hold() {
    each_backend(|db| {
        db.ok(&["operators", "create", "Legacy"]);
        db.ok(&["dids", "create", "+442079460001", "--operator", "Legacy"]);
        let name = "Leg\u{1b}]0;owned\u{7}acy\u{202e}\tx\ny";
        write_legacy(db, name, "+442079460001");
        let escaped = "Leg\\u{1b}]0;owned\\u{7}acy\\u{202e}\\tx\\ny";

        let out = db.ok(&["operators", "list"]).stdout;
        assert_inert("operators list", &out, 2);
        assert!(out.contains(escaped), "{out}");

        let out = db.ok(&["dids", "list"]).stdout;
        assert_inert("dids list", &out, 8);
        assert!(out.contains(escaped), "{out}");

        // JSON keeps its meaning: the same text comes back when it is read.
        let out = db.ok(&["dids", "list", "--json"]).stdout;
        assert!(!out.chars().any(raw_control), "{out:?}");
        let d: Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(d["operator"], name);

        let out = db.ok(&["audit", "--action", "did.note"]).stdout;
        assert_eq!(out.lines().count(), 1, "{out:?}");
        assert_inert("audit", &out, 5);
        let out = db.ok(&["dids", "history", "+442079460001"]).stdout;
        assert_inert("dids history", &out, 4);
        assert!(out.contains("cli:evil\\u{1b}[2J"), "{out}");

        // Messages too: an error naming what was typed.
        let r = db.run(&["operators", "rename", "no\u{1b}[2Jsuch", "x"]);
        assert!(!r.success());
        assert!(!r.stderr.chars().any(raw_control), "{:?}", r.stderr);
        assert!(r.stderr.contains("no\\u{1b}[2Jsuch"), "{}", r.stderr);
    });
}

/// The command line keeps the same date and money rules as the API (one core rule).
#[test]
fn dates_and_money_on_the_command_line() {
    each_backend(|db| {
        for (args, says) in [
            (
                vec![
                    "license",
                    "quote",
                    "--term",
                    "yearly",
                    "--period-start",
                    "9999-06-01",
                    "--service-start",
                    "9999-07-01",
                    "--price",
                    "10.00",
                ],
                "9999-12-31",
            ),
            (
                vec![
                    "license",
                    "quote",
                    "--term",
                    "yearly",
                    "--period-start",
                    "2020-01-01",
                    "--service-start",
                    "2020-02-01",
                    "--price=-0.00",
                ],
                "negative",
            ),
            (
                vec![
                    "service-kinds",
                    "create",
                    "k",
                    "--name",
                    "K",
                    "--price",
                    "yearly:XXX:1.00",
                ],
                "XXX",
            ),
            (
                vec![
                    "service-kinds",
                    "create",
                    "k",
                    "--name",
                    "K",
                    "--price",
                    "yearly:EUR:-0.00",
                ],
                "negative",
            ),
        ] {
            let r = db.run(&args);
            assert!(!r.success(), "{args:?}: {}", r.stdout);
            assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        }
        assert_eq!(db.ok(&["service-kinds", "list"]).stdout.trim(), "[]");
        db.ok(&["partners", "create", "P"]);
        let customer = db
            .ok(&["customers", "create", "--partner", "P", "C"])
            .stdout;
        let customer = customer.split('\t').next().unwrap_or_default().to_string();
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
        let r = db.run(&[
            "pbxs",
            "set-license",
            "SN-1",
            "--term",
            "yearly",
            "--period-start",
            "1899-12-31",
        ]);
        assert!(!r.success());
        assert!(r.stderr.contains("period_start"), "{}", r.stderr);
        assert!(
            r.stderr.contains("1900-01-01 to 9999-12-31"),
            "{}",
            r.stderr
        );
    });
}
