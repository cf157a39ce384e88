//! The support desk on the command line: `mail ingest`, `tickets list/show`, `support
//! centres/set-centre`, `secrets new-key/rotate`, on a ticket opened through the store.

use didhub_core::secret::{Keyring, SecretKey};
use didhub_store::accounts::orgs::Scope;
use didhub_store::support::{tickets::NewTicket, Author};
use didhub_store::{Actor, Store};
use serde_json::json;

use crate::common::{each_backend, Db};

const KEY1: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY2: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
const PASSWORD: &str = "hunter2-but-longer";

/// Opens ticket #1 for partner "Desk P" (its user anna@p.example), with a sealed password.
fn open_ticket(db: &Db) {
    db.ok(&["partners", "create", "Desk P"]);
    db.ok(&[
        "users",
        "create",
        "--email",
        "anna@p.example",
        "--role",
        "partner_member",
        "--partner",
        "Desk P",
    ]);
    let cfg = crate::common::store_config(db);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = Store::open(&cfg).await.expect("store");
        let partner = store.accounts().find_partner("Desk P").await.unwrap();
        let new: NewTicket = serde_json::from_value(json!({"subject": "Calls drop",
            "message": "Since 9:00", "type": "non_technical", "topic": "billing",
            "remote_access": {"address": "10.1.2.3", "login": "admin", "password": PASSWORD}}))
        .unwrap();
        let author = Author {
            name: "anna@p.example".into(),
            side: didhub_core::ticket::Side::Partner,
        };
        let keys = Keyring::new(Some(SecretKey::parse(KEY1).unwrap()), vec![]);
        let t = store
            .support()
            .create_ticket(
                &Actor::system(),
                &author,
                Scope::Partner(partner.id),
                &new,
                &keys,
            )
            .await
            .expect("ticket");
        assert_eq!(t.ticket.number, 1);
        store.close().await;
    });
}

#[test]
fn the_desk_on_the_command_line() {
    each_backend(|db| {
        let key = db.ok(&["secrets", "new-key"]).stdout;
        assert!(SecretKey::parse(key.trim()).is_ok(), "{key}");
        // Rotation needs a key, and a bad key is refused without being shown.
        let r = db.run(&["secrets", "rotate"]);
        assert_eq!(r.code, Some(1));
        assert!(r.stderr.contains("DIDHUB_SECRET_KEY"), "{}", r.stderr);
        let r = db.run(&["--secret-key", "0123-not-a-key", "secrets", "rotate"]);
        assert_eq!(r.code, Some(1));
        assert!(
            !r.all_output().contains("0123-not-a-key"),
            "{}",
            r.all_output()
        );

        open_ticket(db);
        let mail = "From: anna@p.example\r\nSubject: Re: [#1] Calls drop\r\n\
            Message-ID: <cli-1@p.example>\r\n\r\nStill dropping.\r\n";
        let r = db.run_stdin(&["mail", "ingest"], mail);
        assert!(r.success(), "{}", r.stderr);
        let v = r.json();
        assert_eq!(
            (&v["outcome"], &v["duplicate"]),
            (&json!("appended"), &json!(false))
        );
        let file = db.write("again.eml", mail);
        let r = db.ok(&["mail", "ingest", file.to_str().unwrap()]);
        assert_eq!(r.json()["duplicate"], true);

        let list = db.ok(&["tickets", "list", "--json"]).stdout;
        let rows: Vec<serde_json::Value> = list
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 1, "{list}");
        assert_eq!(rows[0]["number"], 1);
        let shown = db.ok(&["tickets", "show", "#1"]);
        assert_eq!(shown.json()["messages"].as_array().unwrap().len(), 2);
        assert!(!shown.stdout.contains(PASSWORD) && !list.contains(PASSWORD));
        let risk = db.ok(&["tickets", "list", "--at-risk"]).stdout;
        assert_eq!(risk.lines().count(), 1, "header only: {risk}");
        assert!(!db.run(&["tickets", "show", "7"]).success());

        let centres = db.ok(&["support", "centres"]).stdout;
        assert!(centres.contains("Europe/Rome") && centres.contains("America/New_York"));
        db.ok(&[
            "support",
            "set-centre",
            "--partner",
            "Desk P",
            "--centre",
            "americas",
        ]);
        assert!(!db
            .run(&[
                "support",
                "set-centre",
                "--partner",
                "Desk P",
                "--centre",
                "mars"
            ])
            .success());

        // Rotate from KEY1 to KEY2; then KEY2 alone suffices, and KEY1 alone opens nothing.
        let rotate = |current: &str, old: &str| {
            db.command()
                .args(["secrets", "rotate"])
                .env("DIDHUB_SECRET_KEY", current)
                .env("DIDHUB_SECRET_OLD_KEYS", old)
                .output()
                .expect("run didhub")
        };
        let o = rotate(KEY2, KEY1);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(out.starts_with("1 secret sealed again"), "{out}");
        let o = rotate(KEY2, "");
        assert!(String::from_utf8_lossy(&o.stdout).contains("0 secrets sealed again"));
        assert!(String::from_utf8_lossy(&o.stdout).contains("1 already"));
        let o = rotate(KEY1, "");
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("ticket #1"));
    });
}
