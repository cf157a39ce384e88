//! The support desk over HTTP: tickets and their conversation, partner scope and internal
//! notes, closed tickets that never reopen, remote access sealed and revealed, the SLA
//! deadlines of both centres, the at-risk and breached lists and the report, and mail that
//! follows up on tickets (real messages: multipart, attachments, other charsets, malformed).

use chrono::{DateTime, Duration, Utc};
use didhub_core::access::Role;
use didhub_core::secret::{Keyring, SecretKey};
use didhub_core::sla::{zone, TicketClass};
use didhub_store::accounts::orgs::{NewPbx, Scope};
use didhub_store::Actor;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{self, TestApp};

/// Two partners, a customer and PBX of A, users of each side with tokens.
struct Desk {
    partner_a: Uuid,
    partner_b: Uuid,
    member_a: String,
    member_a_email: String,
    member_b: String,
    support: String,
    support_id: Uuid,
    /// A's partner admin: a contact of A's tickets too.
    admin_a_email: String,
}

async fn user(app: &TestApp, email: &str, role: Role, partner: Option<Uuid>) -> (Uuid, String) {
    let sys = Actor::system();
    let u = app
        .store
        .accounts()
        .create_user(&sys, None, email, role, partner, None)
        .await
        .unwrap();
    let (_, token) = app
        .store
        .accounts()
        .create_token(&sys, u.id, "t", None)
        .await
        .unwrap();
    (u.id, token)
}

async fn desk(app: &TestApp) -> Desk {
    let sys = Actor::system();
    let acc = app.store.accounts();
    let pa = acc.create_partner(&sys, "Desk A").await.unwrap().id;
    let pb = acc.create_partner(&sys, "Desk B").await.unwrap().id;
    let ca = acc
        .create_customer(&sys, Scope::All, pa, "Cust A")
        .await
        .unwrap()
        .id;
    let pbx = NewPbx {
        name: "pbx".into(),
        serial_number: "SN-DESK-1".into(),
        region: None,
    };
    acc.create_pbx(&sys, Scope::All, ca, &pbx).await.unwrap();
    let (_, member_a) = user(app, "anna@a.example", Role::PartnerMember, Some(pa)).await;
    user(app, "boss@a.example", Role::PartnerAdmin, Some(pa)).await;
    let (_, member_b) = user(app, "bob@b.example", Role::PartnerMember, Some(pb)).await;
    let (support_id, support) = user(app, "sam@desk.example", Role::Support, None).await;
    Desk {
        partner_a: pa,
        partner_b: pb,
        member_a,
        member_a_email: "anna@a.example".into(),
        member_b,
        support,
        support_id,
        admin_a_email: "boss@a.example".into(),
    }
}

async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("request");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(String::from))
        .collect()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().expect("a time").parse().expect("RFC 3339")
}

/// The deadline `didhub sla due` gives, on a centre's zone and its country's calendar.
fn expected_due(tz: &str, country: &str, class: TicketClass, created: DateTime<Utc>) -> String {
    let cal = didhub_core::calendar::Calendar::for_country(country).unwrap();
    let h = didhub_core::ticket::centre_hours(zone(tz).unwrap(), &cal, created);
    h.first_response_due(class, created).unwrap().to_rfc3339()
}

fn technical(subject: &str) -> Value {
    json!({"subject": subject, "message": "Every call drops after 30 seconds.",
        "type": "technical", "pbx_serial": "SN-DESK-1"})
}

/// Opens a ticket as `token`; returns its body.
async fn open(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, t) = call(app, token, "POST", "/api/v1/tickets", Some(body)).await;
    assert_eq!(s, 201, "{t}");
    t
}

fn numbers(v: &Value) -> Vec<i64> {
    let list = v.get("items").unwrap_or(v);
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect()
}

async fn tickets_and_their_conversation(app: &TestApp) {
    let d = desk(app).await;
    let mut ask = technical("Calls drop");
    ask["class"] = json!("critical");
    ask["criterion"] = json!("call_drops");
    ask["wms_version"] = json!("6.05.20241001");
    ask["firmware"] = json!(["W-AIR 1.4.2", " "]);
    ask["traces"] = json!([{"caller": "+390212345678", "called": "+390287654321",
        "at": "2026-12-01T10:00:00Z"}]);
    let t = open(app, &d.member_a, ask).await;
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["number"], 1, "{t}");
    assert_eq!(
        (
            &t["state"],
            &t["class"],
            &t["criterion"],
            &t["class_set_by"]
        ),
        (
            &json!("open"),
            &json!("critical"),
            &json!("call_drops"),
            &json!("partner")
        ),
        "{t}"
    );
    assert_eq!(t["centre"], "europe");
    assert_eq!(t["channel"], "portal");
    assert_eq!(
        t["firmware"],
        json!(["W-AIR 1.4.2"]),
        "blank entries dropped: {t}"
    );
    assert_eq!(t["contact_email"], d.member_a_email.as_str());
    assert!(
        t["customer_id"].is_string() && t["pbx_serial"] == "SN-DESK-1",
        "{t}"
    );
    let created = time(&t["created_at"]);
    assert_eq!(
        time(&t["first_response_due"]).to_rfc3339(),
        expected_due("Europe/Rome", "IT", TicketClass::Critical, created)
    );

    // Partner B sees none of it; a partner cannot name another partner's PBX.
    let path = format!("/api/v1/tickets/{id}");
    assert_eq!(call(app, &d.member_b, "GET", &path, None).await.0, 404);
    let (_, list) = call(app, &d.member_b, "GET", "/api/v1/tickets", None).await;
    assert_eq!(numbers(&list), Vec::<i64>::new());
    let (s, e) = call(
        app,
        &d.member_b,
        "POST",
        "/api/v1/tickets",
        Some(technical("x")),
    )
    .await;
    assert_eq!(
        (s, fields(&e)),
        (422, vec!["pbx_serial".to_string()]),
        "{e}"
    );

    // What a ticket must say.
    for (body, field) in [
        (
            json!({"subject": "Invoice", "message": "m", "type": "non_technical"}),
            "topic",
        ),
        (
            json!({"subject": "s", "message": "m", "type": "technical"}),
            "pbx_serial",
        ),
        (
            json!({"subject": " ", "message": "m", "type": "non_technical", "topic": "billing"}),
            "subject",
        ),
        (
            json!({"subject": "s", "message": "m", "type": "non_technical", "topic": "billing",
            "channel": "email"}),
            "channel",
        ),
        (
            json!({"subject": "s", "message": "m", "type": "non_technical", "topic": "billing",
            "channel": "phone"}),
            "channel",
        ),
        (
            json!({"subject": "s", "message": "m", "type": "non_technical", "topic": "billing",
            "class": "critical"}),
            "criterion",
        ),
        (
            json!({"subject": "s", "message": "m", "type": "non_technical", "topic": "billing",
            "remote_access": {"address": "not a host!"}}),
            "remote_access.address",
        ),
    ] {
        let (s, e) = call(
            app,
            &d.member_a,
            "POST",
            "/api/v1/tickets",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, 422, "{body}: {e}");
        assert!(fields(&e).contains(&field.to_string()), "{body}: {e}");
    }
    // Support staff name the partner (or its customer or PBX).
    let (s, e) = call(
        app,
        &d.support,
        "POST",
        "/api/v1/tickets",
        Some(json!({"subject": "s", "message": "m", "type": "non_technical", "topic": "billing"})),
    )
    .await;
    assert_eq!(
        (s, fields(&e)),
        (422, vec!["partner_id".to_string()]),
        "{e}"
    );

    // Internal notes: support staff only, never shown to the partner.
    let msgs = format!("{path}/messages");
    let (s, e) = call(
        app,
        &d.member_a,
        "POST",
        &msgs,
        Some(json!({"body": "psst", "visibility": "internal"})),
    )
    .await;
    assert_eq!(
        (s, fields(&e)),
        (422, vec!["visibility".to_string()]),
        "{e}"
    );
    let (s, _) = call(
        app,
        &d.support,
        "POST",
        &msgs,
        Some(json!({"body": "Looks like the SBC", "visibility": "internal"})),
    )
    .await;
    assert_eq!(s, 201);
    let (_, t1) = call(app, &d.support, "GET", &path, None).await;
    assert!(
        t1["first_response_at"].is_null(),
        "a note is no response: {t1}"
    );
    let (_, seen) = call(app, &d.member_a, "GET", &msgs, None).await;
    assert_eq!(seen.as_array().unwrap().len(), 1, "{seen}");
    assert!(!seen.to_string().contains("SBC"));
    let (_, all) = call(app, &d.support, "GET", &msgs, None).await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");

    // The first public reply by staff is the first response; it leaves the ticket pending.
    let (s, r) = call(
        app,
        &d.support,
        "POST",
        &msgs,
        Some(json!({"body": "Please send a trace", "state": "pending"})),
    )
    .await;
    assert_eq!((s, &r["side"]), (201, &json!("staff")), "{r}");
    let (_, t2) = call(app, &d.support, "GET", &path, None).await;
    assert_eq!(
        (&t2["state"], &t2["sla"]),
        (&json!("pending"), &json!("met")),
        "{t2}"
    );
    assert_eq!(time(&t2["first_response_at"]), time(&r["at"]));
    // A partner sets no state with a message; its answer opens the ticket again.
    let (s, _) = call(
        app,
        &d.member_a,
        "POST",
        &msgs,
        Some(json!({"body": "x", "state": "solved"})),
    )
    .await;
    assert_eq!(s, 422);
    let (s, _) = call(
        app,
        &d.member_a,
        "POST",
        &msgs,
        Some(json!({"body": "Trace attached"})),
    )
    .await;
    assert_eq!(s, 201);
    let (_, t3) = call(app, &d.member_a, "GET", &path, None).await;
    assert_eq!(t3["state"], "open", "{t3}");
    // A partner does not solve its own ticket nor set the class.
    let (s, _) = call(
        app,
        &d.member_a,
        "POST",
        &format!("{path}/state"),
        Some(json!({"state": "solved"})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = call(
        app,
        &d.member_a,
        "POST",
        &format!("{path}/class"),
        Some(json!({"class": "standard"})),
    )
    .await;
    assert_eq!(s, 404);

    // Staff set the class: the deadline follows, from the ticket's creation.
    let (s, c) = call(
        app,
        &d.support,
        "POST",
        &format!("{path}/class"),
        Some(json!({"class": "standard", "reason": "a workaround exists"})),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        (&c["class"], &c["class_set_by"]),
        (&json!("standard"), &json!("staff"))
    );
    assert!(c["criterion"].is_null());
    assert_eq!(
        time(&c["first_response_due"]).to_rfc3339(),
        expected_due("Europe/Rome", "IT", TicketClass::Standard, created)
    );
    let (s, e) = call(
        app,
        &d.support,
        "POST",
        &format!("{path}/class"),
        Some(json!({"class": "critical"})),
    )
    .await;
    assert_eq!((s, fields(&e)), (422, vec!["criterion".to_string()]));

    // Assignment: support or admin users only; a stale version is refused.
    let assign = format!("{path}/assign");
    let (s, a) = call(
        app,
        &d.support,
        "POST",
        &assign,
        Some(json!({"assignee_id": d.support_id})),
    )
    .await;
    assert_eq!((s, &a["assignee_id"]), (200, &json!(d.support_id)), "{a}");
    let member = app
        .store
        .accounts()
        .find_user(&d.member_a_email)
        .await
        .unwrap()
        .unwrap();
    let (s, _) = call(
        app,
        &d.support,
        "POST",
        &assign,
        Some(json!({"assignee_id": member.id})),
    )
    .await;
    assert_eq!(s, 422);
    let r = app
        .client
        .post(app.url(&assign))
        .bearer_auth(&d.support)
        .header("If-Match", "\"1\"")
        .json(&json!({"assignee_id": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);

    // Field edits by merge: absent stays, null clears.
    let (s, p) = call(
        app,
        &d.member_a,
        "PATCH",
        &path,
        Some(
            json!({"subject": "Calls drop on trunk 2", "wms_version": null,
            "diagnostics": "Rebooted the SBC"}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["subject"], "Calls drop on trunk 2");
    assert!(
        p["wms_version"].is_null() && p["firmware"] == json!(["W-AIR 1.4.2"]),
        "{p}"
    );

    // The timeline.
    let (_, ev) = call(app, &d.member_a, "GET", &format!("{path}/events"), None).await;
    let changes: Vec<(String, String)> = ev
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().into(),
                e["after"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("state", "open"),
            ("state", "pending"),
            ("state", "open"),
            ("class", "standard"),
            ("assignee", d.support_id.to_string().as_str())
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // Lists: partner's own, filters.
    let (_, mine) = call(app, &d.member_a, "GET", "/api/v1/tickets?state=open", None).await;
    assert_eq!(numbers(&mine), [1]);
    let (_, none) = call(
        app,
        &d.support,
        "GET",
        "/api/v1/tickets?class=critical",
        None,
    )
    .await;
    assert_eq!(numbers(&none), Vec::<i64>::new());
    let (s, _) = call(app, &d.support, "GET", "/api/v1/tickets?state=shut", None).await;
    assert_eq!(s, 422);
    // Sorted: oldest first, and by the deadline a page at a time.
    let (_, all) = call(app, &d.support, "GET", "/api/v1/tickets", None).await;
    let mut newest = numbers(&all);
    let (_, oldest) = call(app, &d.support, "GET", "/api/v1/tickets?sort=oldest", None).await;
    newest.reverse();
    assert_eq!(numbers(&oldest), newest);
    let (s, page) = call(
        app,
        &d.support,
        "GET",
        "/api/v1/tickets?sort=due&limit=1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let (s, _) = call(
        app,
        &d.support,
        "GET",
        "/api/v1/tickets?sort=sideways",
        None,
    )
    .await;
    assert_eq!(s, 422);
    let _ = (d.partner_a, d.partner_b, &d.admin_a_email);
}
both_backends!(tickets, tickets_and_their_conversation);

async fn closed_means_closed(app: &TestApp) {
    let d = desk(app).await;
    let t = open(app, &d.member_a, technical("Fax fails")).await;
    let n = t["number"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{}", t["id"].as_str().unwrap());
    let (s, c) = call(
        app,
        &d.support,
        "POST",
        &format!("{path}/state"),
        Some(json!({"state": "closed", "reason": "fixed in 6.06"})),
    )
    .await;
    assert_eq!((s, &c["state"]), (200, &json!("closed")), "{c}");
    assert!(c["closed_at"].is_string());
    let said = format!("open a new case referencing #{n}");
    for (token, method, p, body) in [
        (
            &d.member_a,
            "POST",
            format!("{path}/messages"),
            json!({"body": "still broken"}),
        ),
        (
            &d.support,
            "POST",
            format!("{path}/messages"),
            json!({"body": "reopen?"}),
        ),
        (
            &d.member_a,
            "PATCH",
            path.clone(),
            json!({"subject": "again"}),
        ),
        (
            &d.support,
            "POST",
            format!("{path}/state"),
            json!({"state": "open"}),
        ),
        (
            &d.member_a,
            "POST",
            format!("{path}/state"),
            json!({"state": "closed"}),
        ),
        (
            &d.support,
            "POST",
            format!("{path}/class"),
            json!({"class": "standard"}),
        ),
    ] {
        let (s, e) = call(app, token, method, &p, Some(body)).await;
        assert_eq!(s, 409, "{method} {p}: {e}");
        assert!(e["detail"].as_str().unwrap().contains(&said), "{e}");
    }
    let (_, msgs) = call(app, &d.support, "GET", &format!("{path}/messages"), None).await;
    assert_eq!(
        msgs.as_array().unwrap().len(),
        1,
        "nothing appended: {msgs}"
    );

    // The new case references the closed one; the closed one shows the link back.
    let mut follow = technical("Fax fails again");
    follow["references"] = json!([n]);
    let f = open(app, &d.member_a, follow).await;
    assert_eq!(f["references"][0]["number"], n, "{f}");
    let (_, old) = call(app, &d.member_a, "GET", &path, None).await;
    assert_eq!(old["referenced_by"][0]["number"], f["number"], "{old}");
    // Only the partner's own tickets can be referenced.
    let mut other = json!({"subject": "s", "message": "m", "type": "non_technical",
        "topic": "invoices", "references": [n]});
    let (s, e) = call(
        app,
        &d.member_b,
        "POST",
        "/api/v1/tickets",
        Some(other.take()),
    )
    .await;
    assert_eq!(
        (s, fields(&e)),
        (422, vec!["references[0]".to_string()]),
        "{e}"
    );
}
both_backends!(closed, closed_means_closed);

const PASSWORD: &str = "Tr0ub4dor&3-remote";

async fn remote_access_is_sealed(app: &TestApp) {
    let d = desk(app).await;
    let mut body = technical("Provisioning");
    body["remote_access"] =
        json!({"address": "pbx-42.example.com:8443", "login": "admin", "password": PASSWORD});
    let (s, raw) = {
        let r = app
            .client
            .post(app.url("/api/v1/tickets"))
            .bearer_auth(&d.member_a)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(s, 201, "{raw}");
    assert!(
        !raw.contains(PASSWORD) && !raw.contains("\"admin\""),
        "{raw}"
    );
    let t: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(t["remote_credentials"], true);
    assert_eq!(t["remote_address"], "pbx-42.example.com:8443");
    let id = t["id"].as_str().unwrap();
    // Not in the database in clear, nor in any list, view or the audit log.
    let stored: String = match &app.store.backend {
        didhub_store::Backend::Postgres(p) => {
            sqlx::query_scalar("SELECT remote_secret FROM tickets")
                .fetch_one(p)
                .await
                .unwrap()
        }
        didhub_store::Backend::Sqlite(p) => sqlx::query_scalar("SELECT remote_secret FROM tickets")
            .fetch_one(p)
            .await
            .unwrap(),
    };
    assert!(
        !stored.contains(PASSWORD) && !stored.contains("admin"),
        "{stored}"
    );
    for (token, path) in [
        (&d.member_a, format!("/api/v1/tickets/{id}")),
        (&d.support, format!("/api/v1/tickets/{id}")),
        (&d.support, "/api/v1/tickets".to_string()),
        (&app.token, "/api/v1/audit?limit=1000".to_string()),
    ] {
        let r = app
            .client
            .get(app.url(&path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        assert!(!text.contains(PASSWORD), "{path}: {text}");
    }
    // Revealed to support staff only, on its own route, and audited.
    let reveal = format!("/api/v1/tickets/{id}/remote-access/reveal");
    assert_eq!(call(app, &d.member_a, "POST", &reveal, None).await.0, 404);
    let (s, r) = call(app, &d.support, "POST", &reveal, None).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (&r["login"], &r["password"]),
        (&json!("admin"), &json!(PASSWORD))
    );
    let (_, audit) = app
        .get_json("/api/v1/audit?action=ticket.remote_access.reveal")
        .await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert!(entries[0]["actor"]
        .as_str()
        .unwrap()
        .contains("sam@desk.example"));
    assert!(!audit.to_string().contains(PASSWORD));

    // Replacing and removing the access; the audit says only that it changed.
    let path = format!("/api/v1/tickets/{id}");
    let (s, p) = call(
        app,
        &d.member_a,
        "PATCH",
        &path,
        Some(json!({"remote_access": {"address": "203.0.113.7", "password": "n3w-Secret!"}})),
    )
    .await;
    assert_eq!(
        (s, &p["remote_address"]),
        (200, &json!("203.0.113.7")),
        "{p}"
    );
    let (_, r) = call(app, &d.support, "POST", &reveal, None).await;
    assert_eq!(
        (&r["login"], &r["password"]),
        (&Value::Null, &json!("n3w-Secret!"))
    );
    let (s, p) = call(
        app,
        &d.member_a,
        "PATCH",
        &path,
        Some(json!({"remote_access": null})),
    )
    .await;
    assert_eq!((s, &p["remote_credentials"]), (200, &json!(false)), "{p}");
    assert_eq!(call(app, &d.support, "POST", &reveal, None).await.0, 404);
    let (_, audit) = app.get_json("/api/v1/audit?action=ticket.update").await;
    assert!(audit.to_string().contains("(replaced)"), "{audit}");
    assert!(!audit.to_string().contains("n3w-Secret!"));

    // Rotation: sealed again under a new key; the old key alone no longer opens it.
    let mut body = technical("Rotate me");
    body["remote_access"] = json!({"address": "10.0.0.1", "login": "root", "password": PASSWORD});
    let t = open(app, &d.member_a, body).await;
    let rid: Uuid = t["id"].as_str().unwrap().parse().unwrap();
    let k1 = SecretKey::parse(common::TEST_SECRET_KEY).unwrap();
    let k2 = SecretKey::parse(&SecretKey::generate()).unwrap();
    let desk_store = app.store.support();
    let sys = Actor::system();
    let report = desk_store
        .rotate_secrets(&sys, &Keyring::new(Some(k2.clone()), vec![k1.clone()]))
        .await
        .unwrap();
    assert_eq!((report.rotated, report.failed.len()), (1, 0), "{report:?}");
    let again = desk_store
        .rotate_secrets(&sys, &Keyring::new(Some(k2.clone()), vec![]))
        .await
        .unwrap();
    assert_eq!((again.rotated, again.current), (0, 1));
    let shown = desk_store
        .reveal_remote_access(&sys, rid, &Keyring::new(Some(k2), vec![]))
        .await
        .unwrap();
    assert_eq!(shown.password.as_deref(), Some(PASSWORD));
    let old_only = desk_store
        .reveal_remote_access(&sys, rid, &Keyring::new(Some(k1), vec![]))
        .await;
    assert!(
        matches!(old_only, Err(didhub_store::StoreError::Conflict(_))),
        "{old_only:?}"
    );
}
both_backends!(secrets, remote_access_is_sealed);

/// Without a key, didhub refuses to store a secret, clearly, and stores nothing.
async fn no_key_no_secrets(db: common::Db) {
    let Some(app) = common::spawn_app_tuned(db, |_| {}, |s| s.secrets = Default::default()).await
    else {
        return;
    };
    let d = desk(&app).await;
    let mut body = technical("Locked out");
    body["remote_access"] = json!({"address": "10.0.0.1", "password": "x"});
    let (s, e) = call(&app, &d.member_a, "POST", "/api/v1/tickets", Some(body)).await;
    assert_eq!(
        (s, fields(&e)),
        (422, vec!["remote_access".to_string()]),
        "{e}"
    );
    assert!(
        e["detail"].as_str().unwrap().contains("DIDHUB_SECRET_KEY"),
        "{e}"
    );
    let (_, list) = call(&app, &d.support, "GET", "/api/v1/tickets", None).await;
    assert_eq!(numbers(&list), Vec::<i64>::new());
    // An address alone is no secret.
    let mut body = technical("Address only");
    body["remote_access"] = json!({"address": "10.0.0.1"});
    open(&app, &d.member_a, body).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_key_no_secrets_sqlite() {
    no_key_no_secrets(common::Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_key_no_secrets_postgres() {
    no_key_no_secrets(common::Db::Postgres).await;
}

/// Moves a ticket's deadline (the lists are about now; tickets are made now).
async fn due_at(app: &TestApp, id: &str, due: DateTime<Utc>) {
    let id: Uuid = id.parse().unwrap();
    let due = chrono::SubsecRound::trunc_subsecs(due, 6);
    let q = "UPDATE tickets SET first_response_due = $1 WHERE id = $2";
    match &app.store.backend {
        didhub_store::Backend::Postgres(p) => {
            sqlx::query(q).bind(due).bind(id).execute(p).await.unwrap();
        }
        didhub_store::Backend::Sqlite(p) => {
            sqlx::query(q).bind(due).bind(id).execute(p).await.unwrap();
        }
    }
}

async fn sla_lists_report_and_centres(app: &TestApp) {
    let d = desk(app).await;
    let now = Utc::now();
    let mut ids = Vec::new();
    for (class, offset) in [
        ("critical", Duration::minutes(10)),
        ("standard", Duration::minutes(90)),
        ("standard", Duration::hours(3)),
        ("standard", Duration::minutes(-5)),
        ("critical", Duration::minutes(20)),
    ] {
        let mut b = technical(&format!("{class} {offset}"));
        b["partner_id"] = json!(d.partner_a);
        b["channel"] = json!("phone");
        b["class"] = json!(class);
        if class == "critical" {
            b["criterion"] = json!("cloud_unreachable");
        }
        let t = open(app, &d.support, b).await;
        assert_eq!(t["class_set_by"], "staff");
        due_at(app, t["id"].as_str().unwrap(), now + offset).await;
        ids.push((
            t["id"].as_str().unwrap().to_string(),
            t["number"].as_i64().unwrap(),
        ));
    }
    let n = |i: usize| ids[i].1;
    let (s, risk) = call(app, &d.support, "GET", "/api/v1/support/at-risk", None).await;
    assert_eq!(s, 200, "{risk}");
    assert_eq!(numbers(&risk), [n(0), n(1)], "{risk}");
    assert!(risk
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["sla"] == "at_risk"));
    let (_, late) = call(app, &d.support, "GET", "/api/v1/support/breached", None).await;
    assert_eq!(numbers(&late), [n(3)], "{late}");
    assert_eq!(late["items"][0]["sla"], "breached");
    // Partners have neither list.
    assert_eq!(
        call(app, &d.member_a, "GET", "/api/v1/support/at-risk", None)
            .await
            .0,
        404
    );

    // Answers: the late one stays breached, the critical one is met.
    for i in [3, 0] {
        let p = format!("/api/v1/tickets/{}/messages", ids[i].0);
        assert_eq!(
            call(app, &d.support, "POST", &p, Some(json!({"body": "On it"})))
                .await
                .0,
            201
        );
    }
    let (_, risk) = call(app, &d.support, "GET", "/api/v1/support/at-risk", None).await;
    assert_eq!(numbers(&risk), [n(1)]);
    let (_, late) = call(app, &d.support, "GET", "/api/v1/support/breached", None).await;
    assert_eq!(numbers(&late), Vec::<i64>::new());
    let (_, t3) = call(
        app,
        &d.support,
        "GET",
        &format!("/api/v1/tickets/{}", ids[3].0),
        None,
    )
    .await;
    assert_eq!(t3["sla"], "breached");

    // The report, per month (Rome's clock), centre and class.
    let month = now
        .with_timezone(&chrono_tz::Europe::Rome)
        .format("%Y-%m")
        .to_string();
    let (s, rep) = call(
        app,
        &d.support,
        "GET",
        &format!("/api/v1/support/sla-report?from={month}&to={month}"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{rep}");
    assert_eq!(
        rep,
        json!([
            {"month": month, "centre": "europe", "class": "critical", "tickets": 2, "met": 1,
                "breached": 0, "running": 1, "attainment": 1.0},
            {"month": month, "centre": "europe", "class": "standard", "tickets": 3, "met": 0,
                "breached": 1, "running": 2, "attainment": 0.0},
        ])
    );
    let (s, _) = call(
        app,
        &d.support,
        "GET",
        "/api/v1/support/sla-report?from=2026-13",
        None,
    )
    .await;
    assert_eq!(s, 422);
    let (s, all) = call(app, &d.support, "GET", "/api/v1/support/sla-report", None).await;
    assert_eq!((s, all.as_array().map(Vec::len)), (200, Some(2)), "{all}");

    // Centres: B moves to the Americas; its tickets run on New York's hours and US holidays.
    let (_, centres) = call(app, &d.member_b, "GET", "/api/v1/support/centres", None).await;
    assert_eq!(centres.as_array().unwrap().len(), 2, "{centres}");
    let pc = format!("/api/v1/partners/{}/support-centre", d.partner_b);
    let (_, c) = call(app, &d.member_b, "GET", &pc, None).await;
    assert_eq!(c["code"], "europe");
    let body = Some(json!({"centre": "americas"}));
    assert_eq!(
        call(app, &d.member_b, "PUT", &pc, body.clone()).await.0,
        404
    );
    let (s, e) = call(app, &d.support, "PUT", &pc, Some(json!({"centre": "asia"}))).await;
    assert_eq!((s, fields(&e)), (422, vec!["centre".to_string()]));
    let (s, c) = call(app, &d.support, "PUT", &pc, body).await;
    assert_eq!(
        (s, &c["time_zone"]),
        (200, &json!("America/New_York")),
        "{c}"
    );
    let (_, c) = call(app, &d.member_b, "GET", &pc, None).await;
    assert_eq!(c["code"], "americas");
    // Partner A's centre is not B's to read.
    let pa = format!("/api/v1/partners/{}/support-centre", d.partner_a);
    assert_eq!(call(app, &d.member_b, "GET", &pa, None).await.0, 404);
    let t = open(
        app,
        &d.member_b,
        json!({"subject": "Invoice 42", "message": "Wrong VAT",
        "type": "non_technical", "topic": "invoices"}),
    )
    .await;
    assert_eq!(t["centre"], "americas");
    assert_eq!(
        time(&t["first_response_due"]).to_rfc3339(),
        expected_due(
            "America/New_York",
            "US",
            TicketClass::Standard,
            time(&t["created_at"])
        )
    );
}
both_backends!(sla, sla_lists_report_and_centres);

/// A call logged later starts the clock when it came in, on the centre's calendar with the
/// closures operators added.
async fn received_calls_and_closures(app: &TestApp) {
    let d = desk(app).await;
    // A recent Friday at least two days ago whose Friday, Monday and Tuesday Italy works,
    // 17:45 in Rome.
    let it = didhub_core::calendar::Calendar::for_country("IT").unwrap();
    let works = |d: chrono::NaiveDate| it.is_working_day(d).unwrap();
    let mut day = (Utc::now() - Duration::days(2)).date_naive();
    while chrono::Datelike::weekday(&day) != chrono::Weekday::Fri
        || !works(day)
        || !works(day + Duration::days(3))
        || !works(day + Duration::days(4))
    {
        day = day.pred_opt().unwrap();
    }
    let rome = chrono_tz::Europe::Rome;
    let local = day.and_hms_opt(17, 45, 0).unwrap();
    let at = chrono::TimeZone::from_local_datetime(&rome, &local)
        .unwrap()
        .with_timezone(&Utc);
    // The Monday after is closed.
    let monday = day + Duration::days(3);
    app.store
        .calendar()
        .add_closure(&Actor::system(), "IT", monday, "office move")
        .await
        .unwrap();
    let mut b = technical("Logged call");
    b["partner_id"] = json!(d.partner_a);
    b["channel"] = json!("phone");
    b["class"] = json!("critical");
    b["criterion"] = json!("business_impacted");
    b["received_at"] = json!(at);
    let t = open(app, &d.support, b).await;
    assert_eq!(time(&t["created_at"]), at);
    // 15 minutes on Friday, 15 more when Tuesday opens at 09:00.
    let tuesday = chrono::TimeZone::from_local_datetime(
        &rome,
        &(monday + Duration::days(1)).and_hms_opt(9, 15, 0).unwrap(),
    )
    .unwrap()
    .with_timezone(&Utc);
    assert_eq!(time(&t["first_response_due"]), tuesday, "{t}");
    // Partners log nothing after the fact; nor does anyone a month later.
    let mut b = technical("Backdated");
    b["received_at"] = json!(at);
    let (s, e) = call(app, &d.member_a, "POST", "/api/v1/tickets", Some(b.clone())).await;
    assert_eq!((s, fields(&e)), (422, vec!["received_at".to_string()]));
    b["partner_id"] = json!(d.partner_a);
    b["received_at"] = json!(Utc::now() - Duration::days(31));
    let (s, e) = call(app, &d.support, "POST", "/api/v1/tickets", Some(b)).await;
    assert_eq!((s, fields(&e)), (422, vec!["received_at".to_string()]));
}
both_backends!(received_calls, received_calls_and_closures);
