//! Outgoing mail from the command line, and the reliability bar of the outbox (issue 19 §9):
//! an SMTP server down for a while during a burst of changes, the server process killed with
//! SIGKILL once while it delivers, and afterwards every mail at the SMTP server exactly once.

#[path = "../../../didhub-server/tests/server/common/smtp.rs"]
mod smtp;

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use smtp::{free_port, Sink};

use crate::common::{each_backend, Db};

fn outbox(db: &Db, state: &str) -> Vec<Value> {
    db.ok(&[
        "outbox", "list", "--state", state, "--limit", "1000", "--json",
    ])
    .stdout
    .lines()
    .map(|l| serde_json::from_str(l).expect("a JSON line"))
    .collect()
}

#[test]
fn test_mails_as_files_and_the_outbox_list() {
    each_backend(|db| {
        let r = db.ok(&["mail", "test", "--to", "Ops@Example.com", "--count", "2"]);
        let ids: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(ids.len(), 2);
        assert!(ids
            .iter()
            .all(|i| i.starts_with('<') && i.ends_with("@localhost>")));
        let list = db.ok(&["outbox", "list"]).stdout;
        assert!(
            list.starts_with("created\tstate\tattempts\tmessage_id"),
            "{list}"
        );
        assert_eq!(list.lines().count(), 3, "{list}");
        assert!(list.contains("\tpending\t0\t"), "{list}");

        // No SMTP server configured: files in DATA_DIR/outbox, one per mail.
        let r = db.ok(&["mail", "send-pending", "--json"]);
        let d: Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert_eq!(d["sent"], 2, "{d}");
        for id in &ids {
            let bare = id.trim_start_matches('<').trim_end_matches('>');
            let eml = db.path("data").join("outbox").join(format!("{bare}.eml"));
            let text = std::fs::read_to_string(&eml).expect("the .eml file");
            assert!(text.contains(&format!("Message-ID: {id}\r\n")), "{text}");
            assert!(text.contains("To: ops@example.com\r\n"), "{text}");
        }
        let sent = outbox(db, "sent");
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0]["attempts"], 1);
        let r = db.ok(&["mail", "send-pending"]);
        assert!(r.stdout.starts_with("0 mails sent"), "{}", r.stdout);

        // Refusals name what is wrong, and change nothing.
        let r = db.run(&["mail", "test", "--to", "not-an-address"]);
        assert_eq!(r.code, Some(1));
        assert!(
            r.stderr
                .contains("to: 'not-an-address' is not an e-mail address"),
            "{}",
            r.stderr
        );
        let r = db.run(&["outbox", "list", "--state", "lost"]);
        assert!(!r.success() && r.stderr.contains("--state"), "{}", r.stderr);
        let r = db.run(&["outbox", "retry", "--message-id", ids[0]]);
        assert!(
            !r.success() && r.stderr.contains("not failed"),
            "{}",
            r.stderr
        );
        let r = db.run(&[
            "--smtp-url",
            "smtp://user:secret@mail.example",
            "outbox",
            "list",
        ]);
        assert!(
            !r.success() && r.stderr.contains("DIDHUB_SMTP_USER"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("secret"), "{}", r.stderr);
        let r = db.run(&[
            "--mail-retry-min",
            "10",
            "--mail-retry-max",
            "5",
            "outbox",
            "list",
        ]);
        assert!(
            !r.success() && r.stderr.contains("mail_retry_max"),
            "{}",
            r.stderr
        );
        assert_eq!(outbox(db, "pending").len(), 0);
    });
}

#[test]
fn templates_replaced_from_a_directory() {
    each_backend(|db| {
        let dir = db.path("templates");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("test.txt"),
            "Subject: Hello from {{ requested_by }}\n\nOur own words.\n",
        )
        .unwrap();
        std::fs::write(dir.join("README"), "not a template").unwrap();
        let t = dir.to_str().unwrap();
        let from = ["--smtp-from", "NOC <noc@carrier.example>"];
        let mut args = vec!["--mail-templates", t];
        args.extend(from);
        args.extend(["mail", "test", "--to", "a@example.com"]);
        let id = db.ok(&args).stdout.trim().to_string();
        assert!(id.ends_with("@carrier.example>"), "{id}");
        let m = &outbox(db, "pending")[0];
        assert!(
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Hello from cli:"),
            "{m}"
        );
        assert_eq!(m["body"], "Our own words.\n");
        assert_eq!(m["from"], "NOC <noc@carrier.example>");

        // A file that names no template, or does not render, stops the command.
        std::fs::write(dir.join("tickets_new.txt"), "Subject: x\n\ny\n").unwrap();
        let r = db.run(&["--mail-templates", t, "outbox", "list"]);
        assert!(
            !r.success() && r.stderr.contains("tickets_new"),
            "{}",
            r.stderr
        );
        std::fs::remove_file(dir.join("tickets_new.txt")).unwrap();
        std::fs::write(dir.join("order_status.txt"), "Subject: {{ nope }}\n\nx\n").unwrap();
        let r = db.run(&["--mail-templates", t, "outbox", "list"]);
        assert!(
            !r.success() && r.stderr.contains("order_status"),
            "{}",
            r.stderr
        );
    });
}

/// `didhub serve` with its outbox worker sending to `sink`, quick retries and a short lease.
fn serve(db: &Db, sink: &Sink, port: u16, log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let child = db
        .std_command()
        .args(["--smtp-url", &sink.url()])
        .args(["--mail-retry-min", "1", "--mail-retry-max", "2"])
        .args(["--mail-lease", "4", "--mail-concurrency", "4"])
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DIDHUB_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start didhub serve");
    let end = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < end,
            "didhub serve did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// `count` test mails queued by one `didhub mail test` process (each its own transaction).
fn burst(db: &Db, count: usize) -> Child {
    db.std_command()
        .args(["mail", "test", "--to", "noc@partner.example", "--count"])
        .arg(count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start didhub mail test")
}

fn ids_of(c: Child) -> Vec<String> {
    let o = c.wait_with_output().expect("didhub mail test");
    assert!(o.status.success(), "didhub mail test failed");
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < end, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[ignore = "heavy tier: cargo test -- --ignored (about 20 s per engine)"]
#[test]
fn every_mail_exactly_once_through_an_outage_and_a_kill() {
    each_backend(|db| {
        let mut sink = Sink::down(free_port());
        let port = free_port();
        let log = db.path("serve.log");
        let mut server = serve(db, &sink, port, &log);

        // A burst of changes while the SMTP server is down: the worker fails, backs off.
        let first = ids_of(burst(db, 120));
        let second = burst(db, 120);
        wait_until(
            "every mail of the first burst tried",
            Duration::from_secs(30),
            || {
                let p = outbox(db, "pending");
                p.len() >= first.len()
                    && p.iter()
                        .filter(|m| m["attempts"].as_i64() > Some(0))
                        .count()
                        >= first.len()
            },
        );
        // Up again while the second burst is still being queued.
        sink.up();
        let mut ids = first;
        ids.extend(ids_of(second));
        let n = ids.len();

        // Delivering: hold the SMTP server at RCPT (nothing in flight accepted), let the
        // acceptances already made be recorded, and kill the worker's process mid-delivery.
        sink.wait_for_blocking(n / 3, Duration::from_secs(60));
        sink.stall();
        wait_until("a delivery held", Duration::from_secs(10), || {
            sink.holding()
        });
        std::thread::sleep(Duration::from_millis(500));
        let before_kill = sink.received().len();
        assert!(before_kill < n, "everything was delivered before the kill");
        server.kill().expect("SIGKILL");
        server.wait().expect("reap didhub serve");
        sink.release();

        // Its claimed mails wait for their lease; a new process sends them and the rest.
        let mut server = serve(db, &sink, port, &log);
        let got = sink.wait_for_blocking(n, Duration::from_secs(90));
        wait_until("the outbox empty", Duration::from_secs(30), || {
            outbox(db, "pending").is_empty()
        });
        // Nothing is left to send twice; give a late duplicate the time to show anyway.
        std::thread::sleep(Duration::from_secs(2));
        let got = if sink.received().len() > got.len() {
            sink.received()
        } else {
            got
        };
        server.kill().expect("stop didhub serve");
        server.wait().expect("reap didhub serve");

        let mut seen: HashMap<String, usize> = HashMap::new();
        for r in &got {
            *seen.entry(r.message_id()).or_insert(0) += 1;
            assert_eq!(r.rcpt_tos, ["noc@partner.example"]);
        }
        let twice: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
        assert!(twice.is_empty(), "delivered more than once: {twice:?}");
        let mut want = ids.clone();
        want.sort();
        let mut have: Vec<String> = seen.into_keys().collect();
        have.sort();
        assert_eq!(have, want, "every queued mail, and only those, delivered");
        let sent = outbox(db, "sent");
        assert_eq!(sent.len(), n);
        // Some mails went through the outage (retried) or the kill (claimed again).
        let mut attempts: std::collections::BTreeMap<i64, usize> = Default::default();
        for m in &sent {
            *attempts
                .entry(m["attempts"].as_i64().unwrap_or(0))
                .or_insert(0) += 1;
        }
        eprintln!(
            "{n} mails, {before_kill} delivered before the kill; mails by attempts: {attempts:?}"
        );
        assert!(attempts.keys().any(|a| *a > 1), "{attempts:?}");
        let log = std::fs::read_to_string(db.path("serve.log")).unwrap_or_default();
        assert!(log.contains("outbox worker started"), "{log}");
    });
}
