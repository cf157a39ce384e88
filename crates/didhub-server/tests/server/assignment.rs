//! Packages, assignment, the hold lifecycle, routing and safety under concurrency.

use crate::common;

use std::collections::{BTreeMap, HashMap};

use crate::common::TestApp;
use didhub_store::Actor;
use serde_json::{json, Value};
use uuid::Uuid;

async fn setup(app: &TestApp, numbers: &[&str], tag: Option<&str>) -> (String, Vec<Value>) {
    let op = app.operator(&format!("op {}", Uuid::now_v7())).await;
    let (s, v) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": numbers, "tag": tag}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    (op, v["items"].as_array().unwrap().clone())
}

async fn package(
    app: &TestApp,
    name: &str,
    allowance: i64,
    tag: Option<&str>,
    country: Option<&str>,
) -> String {
    let (s, v) = app
        .post_json(
            "/api/v1/packages",
            &json!({"name": name, "did_allowance": allowance,
        "tag": tag, "country": country, "prices": [{"term_kind": "monthly", "currency": "EUR",
        "amount": "10.00"}]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn client_package(app: &TestApp, customer: Uuid, package: &str) -> String {
    let (s, v) = app
        .post_json(
            "/api/v1/client-packages",
            &json!({"customer_id": customer, "package_id": package, "start_date": "2026-11-01"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["state"], "active");
    v["id"].as_str().unwrap().to_string()
}

/// Holds a row lock (on SQLite, the write lock) from another session, as another instance
/// would: runs `sql` with `$1` = `id` in a transaction, says so on `locked`, and keeps the
/// transaction open until `release` fires (at most 30 s, however slow the host), then rolls it
/// back.
async fn hold_lock(
    store: &didhub_store::Store,
    sql: &str,
    id: Uuid,
    locked: tokio::sync::oneshot::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), sqlx::Error> {
    didhub_store::on!(store, |p| async {
        let mut tx = p.begin().await?;
        sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        let _ = locked.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), release).await;
        tx.rollback().await
    }
    .await)
}

async fn customer(app: &TestApp, name: &str) -> Uuid {
    let (c, _) = common::customer_with_package(&app.store, name, 0).await;
    c
}

/// DIDs of `range` assigned under a fresh client package that is then made inactive with a
/// hold period already over (due for release): (client package id, the DIDs as created).
async fn due_holds(app: &TestApp, range: &str, name: &str) -> (String, Vec<Value>) {
    let (_, dids) = setup(app, &[range], None).await;
    let pkg = package(app, name, dids.len() as i64, None, None).await;
    let cp = client_package(app, customer(app, &format!("{name} Co")).await, &pkg).await;
    let ids: Vec<&str> = dids.iter().map(|d| d["id"].as_str().unwrap()).collect();
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": ids, "destination": "sip:due@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Made through the store, not the API: the routing table hears of it as it commits.
    app.store
        .assignment()
        .set_client_package_state(
            &Actor::system(),
            Uuid::parse_str(&cp).unwrap(),
            didhub_core::assignment::PackageState::Inactive,
            chrono::Duration::seconds(-1),
        )
        .await
        .unwrap();
    (cp, dids)
}

async fn route(app: &TestApp, number: &str) -> Value {
    let (s, v) = app
        .get_json(&format!("/api/v1/routing/{}", number.replace('+', "%2B")))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// The last audit entry of a DID with this action.
async fn last_entry(app: &TestApp, did: Uuid, action: &str) -> Value {
    let (_, h) = app.get_json(&format!("/api/v1/dids/{did}/history")).await;
    h.as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} entry for {did}: {h}"))
        .clone()
}

/// Every assignment entry, whichever statement writes it (PostgreSQL writes single, batched
/// and block assignments' entries in SQL), is the core diff of the DID before and after it:
/// only the fields that changed. So are the hold and restore entries.
async fn audit_diff_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079463100-+442079463102"], None).await;
    let ids: Vec<Uuid> = dids
        .iter()
        .map(|d| Uuid::parse_str(d["id"].as_str().unwrap()).unwrap())
        .collect();
    let pkg = package(app, "Diffs", 3, None, None).await;
    let cp = client_package(app, customer(app, "Diff Co").await, &pkg).await;
    let mut before = Vec::new();
    for id in &ids {
        before.push(app.store.inventory().get_did(*id).await.unwrap());
    }
    // One by id (batched on PostgreSQL), two by number (one statement).
    for body in [
        json!({"did_ids": [ids[0]], "destination": "sip:d@pbx.example.com"}),
        json!({"numbers": ["+442079463101", "+442079463102"], "destination": "sip:d@pbx.example.com"}),
    ] {
        let (s, v) = app
            .post_json(&format!("/api/v1/client-packages/{cp}/dids"), &body)
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let diff = |b: &didhub_store::Did, a: &didhub_store::Did| {
        didhub_store::assignment::assign::did_diff(
            b,
            a.status,
            a.customer_id,
            a.destination.as_deref(),
            a.hold_until,
        )
    };
    let mut assigned = Vec::new();
    for (id, b) in ids.iter().zip(&before) {
        let a = app.store.inventory().get_did(*id).await.unwrap();
        let e = last_entry(app, *id, "did.assign").await;
        assert_eq!(e["changes"], diff(b, &a), "{}", b.number);
        assigned.push(a);
    }
    // Hold and restore keep customer and destination: their entries do not list them.
    for (to, action) in [("inactive", "did.hold"), ("active", "did.restore")] {
        let r = app
            .patch(&format!("/api/v1/client-packages/{cp}"))
            .json(&json!({"state": to}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        for (id, b) in ids.iter().zip(assigned.iter_mut()) {
            let a = app.store.inventory().get_did(*id).await.unwrap();
            let e = last_entry(app, *id, action).await;
            assert_eq!(e["changes"], diff(b, &a), "{action}");
            let keys: Vec<&String> = e["changes"].as_object().unwrap().keys().collect();
            assert_eq!(keys, ["hold_until", "status"], "{action}");
            *b = a;
        }
    }
}
both_backends!(audit_diff, audit_diff_story);

/// A client package whose start date is to come is `pending`: its DIDs may be assigned (one by
/// one or as a block) and route as unreachable, reason `pending`, from memory and after a
/// reload from the database alike (whose SQL restates the core rule: checked here against
/// it), through hold and back; from the start date on they route.
async fn pending_packages_story(app: &TestApp) {
    use didhub_core::assignment::not_started;
    let today = chrono::Utc::now().date_naive();
    let day = |off: i64| today + chrono::Duration::days(off);
    let starts = [day(-1), day(0), day(1), "2030-01-01".parse().unwrap()];
    let (_, dids) = setup(app, &["+442079464100-+442079464103"], None).await;
    setup(app, &["+442079464200-+442079464209"], None).await;
    let pkg = package(app, "Later", 20, None, None).await;
    let cust = customer(app, "Later Co").await;
    let mut cps = Vec::new();
    for (start, d) in starts.iter().zip(&dids) {
        let (st, cp) = app
            .post_json(
                "/api/v1/client-packages",
                &json!({"customer_id": cust, "package_id": pkg, "start_date": start}),
            )
            .await;
        assert_eq!(st, 201, "{cp}");
        let want = if not_started(*start, today) {
            "pending"
        } else {
            "active"
        };
        assert_eq!(cp["state"], want, "start {start}");
        let cp = cp["id"].as_str().unwrap().to_string();
        assert_eq!(
            app.get_json(&format!("/api/v1/client-packages/{cp}"))
                .await
                .1["state"],
            want
        );
        let (st, v) = app
            .post_json(
                &format!("/api/v1/client-packages/{cp}/dids"),
                &json!({"did_ids": [d["id"]], "destination": "sip:later@pbx.example.com"}),
            )
            .await;
        assert_eq!(st, 200, "assignable while pending: {v}");
        cps.push(cp);
    }
    let later = cps[3].clone();
    let (st, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{later}/blocks"),
            &json!({"size": 10, "country": "GB", "number_type": "fixed_line",
                "destination": "sip:later@pbx.example.com"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    async fn expect(app: &TestApp, starts: &[chrono::NaiveDate], dids: &[Value]) {
        let today = chrono::Utc::now().date_naive();
        for (start, d) in starts.iter().zip(dids) {
            let r = route(app, d["number"].as_str().unwrap()).await;
            if didhub_core::assignment::not_started(*start, today) {
                assert_eq!(
                    (
                        r["reachable"].as_bool(),
                        r["reason"].as_str(),
                        r["destination"].is_null()
                    ),
                    (Some(false), Some("pending"), true),
                    "start {start}: {r}"
                );
            } else {
                assert_eq!(
                    r["destination"], "sip:later@pbx.example.com",
                    "start {start}: {r}"
                );
            }
        }
        let r = route(app, "+442079464205").await;
        assert_eq!(r["reason"], "pending", "the block: {r}");
    }
    expect(app, &starts, &dids).await;
    // The database's answer (a reload, as another instance reads it) agrees with the core rule.
    let rows = app
        .store
        .assignment()
        .routing_changes(None, today)
        .await
        .unwrap();
    let mut checked = 0;
    for (start, d) in starts.iter().zip(&dids) {
        let row = rows
            .iter()
            .find(|r| r.0 == d["number"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            row.4,
            not_started(*start, today).then_some(*start),
            "start {start}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
    app.state.routing.reload(&app.store).await.unwrap();
    expect(app, &starts, &dids).await;
    // Through hold and back, still pending; `pending` itself cannot be set.
    for to in ["inactive", "active"] {
        let r = app
            .patch(&format!("/api/v1/client-packages/{later}"))
            .json(&json!({"state": to}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    expect(app, &starts, &dids).await;
    let r = app
        .patch(&format!("/api/v1/client-packages/{later}"))
        .json(&json!({"state": "pending"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "state", "{p}");
}
both_backends!(pending_packages, pending_packages_story);

/// The server records its hold period when it starts (for the command line to apply); a new
/// value is recorded once, with an audit entry of the change.
async fn hold_days_recorded_story(app: &TestApp) {
    let default = didhub_core::assignment::DEFAULT_HOLD_DAYS;
    assert_eq!(app.store.recorded_hold_days().await.unwrap(), Some(default));
    for _ in 0..2 {
        app.store
            .record_hold_days(&Actor::system(), 7)
            .await
            .unwrap();
    }
    assert_eq!(app.store.recorded_hold_days().await.unwrap(), Some(7));
    let (_, a) = app.get_json("/api/v1/audit?action=setting.update").await;
    let changes: Vec<&Value> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["changes"])
        .collect();
    assert_eq!(
        changes,
        [
            &json!({"value": [default, 7]}),
            &json!({"value": [null, default]})
        ]
    );
}
both_backends!(hold_days_recorded, hold_days_recorded_story);

async fn assignment_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079460100-+442079460104"], Some("uk")).await;
    let (_, other) = setup_more(app).await;
    let pkg = package(app, "UK two", 2, Some("uk"), Some("GB")).await;
    let c = customer(app, "ACME").await;
    let cp = client_package(app, c, &pkg).await;
    let id = |i: usize| dids[i]["id"].as_str().unwrap().to_string();
    // Qualification and allowance.
    let (s, p) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": [other], "destination": "sip:acme@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 422, "untagged DID does not qualify: {p}");
    let (s, p) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": [id(0), id(1), id(2)], "destination": "sip:acme@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("allows 2"), "{p}");
    let (s, p) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": [id(0)], "destination": "http://nope"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(p["errors"][0]["field"], "destination");
    let (s, v) = app.post_json(&format!("/api/v1/client-packages/{cp}/dids"),
        &json!({"numbers": ["+44 20 7946 0100"], "did_ids": [id(1)], "destination": "sip:acme@pbx.example.com",
        "reason": "order 42"})).await;
    assert_eq!(s, 200, "{v}");
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["status"] == "assigned" && d["customer_id"] == c.to_string()));
    // Taken DIDs cannot be taken again; the allowance is used up.
    let c2 = customer(app, "Other").await;
    let pkg2 = package(app, "UK many", 10, Some("uk"), None).await;
    let cp2 = client_package(app, c2, &pkg2).await;
    let (s, _) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp2}/dids"),
            &json!({"did_ids": [id(0)], "destination": "sip:x@y.example"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": [id(2)], "destination": "sip:acme@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 422);
    // Assigned DIDs route; others do not.
    let r = route(app, "+442079460100").await;
    assert_eq!(
        (r["reachable"].as_bool(), r["destination"].as_str()),
        (Some(true), Some("sip:acme@pbx.example.com"))
    );
    assert_eq!(
        route(app, "+442079460102").await["reason"],
        "not_in_service"
    );
    assert_eq!(route(app, "+15550000000").await["reason"], "not_in_service");
    // Written with the UK trunk 0 (or spaces), it is the same number, as the CLI finds it.
    for written in ["+4402079460100", "+44 20 7946 0100"] {
        let r = route(app, written).await;
        assert_eq!(
            (r["reachable"].as_bool(), r["destination"].as_str()),
            (Some(true), Some("sip:acme@pbx.example.com")),
            "{written}: {r}"
        );
    }
    for bad in ["not-a-number", "%2B", "%2B0123", "%2B1234567890123456"] {
        let (s, p) = app.get_json(&format!("/api/v1/routing/{bad}")).await;
        assert_eq!(s, 422, "{bad}: {p}");
        assert_eq!(p["errors"][0]["field"], "number", "{p}");
    }
    // A stock edit cannot move an assigned DID; delete is refused.
    let (s, _) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": {"ids": [{"id": id(0)}]}, "patch": {"status": "archive"}}),
        )
        .await;
    assert_eq!(s, 422);
    // The customer's DIDs.
    let (_, cd) = app.get_json(&format!("/api/v1/customers/{c}/dids")).await;
    assert_eq!(cd.as_array().unwrap().len(), 2);
    // Unassign: to its after-hold status, without customer or routing.
    let r = app
        .delete(&format!("/api/v1/client-packages/{cp}/dids/{}", id(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    assert_eq!(
        (
            d["status"].as_str(),
            d["customer_id"].as_str(),
            d["destination"].as_str()
        ),
        (Some("in_stock"), None, None)
    );
    assert_eq!(route(app, "+442079460101").await["reachable"], false);
    // History tells the story.
    let (_, h) = app
        .get_json(&format!("/api/v1/dids/{}/history", id(1)))
        .await;
    let actions: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["did.create", "did.assign", "did.unassign"]);
    assert_eq!(h[1]["reason"], "order 42");
    assert_eq!(h[1]["changes"]["status"], json!(["in_stock", "assigned"]));
    // Same keys on both engines (the single statement on PostgreSQL writes this entry in SQL).
    let mut keys: Vec<&str> = h[1]["changes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    // Only what changed: an in-stock DID has no hold_until and assigning sets none.
    assert_eq!(keys, ["customer_id", "destination", "status"]);
}

async fn setup_more(app: &TestApp) -> (String, String) {
    let (op, v) = setup(app, &["+442079460900"], None).await;
    (op, v[0]["id"].as_str().unwrap().to_string())
}
both_backends!(assignment, assignment_story);

/// Packages are edited with `If-Match` (prices, name, allowance, rule) and deleted only while
/// no client package refers to them; the allowance cannot drop below what a client holds.
async fn package_edit_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079500000-+442079500009"], None).await;
    let pkg = package(app, "Edit Me", 5, None, None).await;
    let cp = client_package(app, customer(app, "Edit Co").await, &pkg).await;
    let ids: Vec<&str> = dids[..3]
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": ids, "destination": "sip:e@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r = app
        .get(&format!("/api/v1/packages/{pkg}"))
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let cur: Value = r.json().await.unwrap();
    let version = cur["version"].as_i64().unwrap();
    assert_eq!(etag, format!("\"{version}\""));
    // Replacing without saying which version was read is refused.
    let r = app
        .client
        .put(app.url(&format!("/api/v1/packages/{pkg}")))
        .bearer_auth(&app.token)
        .json(&json!({"name": "Blind", "did_allowance": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 428);
    let put = |body: Value, version: i64| {
        let path = format!("/api/v1/packages/{pkg}");
        async move {
            let r = app
                .client
                .put(app.url(&path))
                .bearer_auth(&app.token)
                .header("If-Match", format!("\"{version}\""))
                .json(&body)
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let edited = json!({"name": "Edited", "did_allowance": 4, "prices": [{"term_kind": "monthly",
        "currency": "EUR", "amount": "12.50"}]});
    let (s, p) = put(edited.clone(), version - 1).await;
    assert_eq!(s, 412, "stale version: {p}");
    let (s, p) = put(json!({"name": "Edited", "did_allowance": 2}), version).await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "did_allowance");
    assert!(p["detail"].as_str().unwrap().contains("holds 3"), "{p}");
    let (s, p) = put(edited, version).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        (
            p["name"].as_str(),
            p["did_allowance"].as_i64(),
            p["version"].as_i64()
        ),
        (Some("Edited"), Some(4), Some(version + 1))
    );
    assert_eq!(p["prices"][0]["amount"], "12.50");
    let (_, a) = app
        .get_json(&format!(
            "/api/v1/audit?action=package.update&entity_id={pkg}"
        ))
        .await;
    let changes = &a["items"][0]["changes"];
    assert_eq!(changes["name"], json!(["Edit Me", "Edited"]), "{a}");
    assert_eq!(changes["did_allowance"], json!([5, 4]));
    assert!(
        changes.get("tag").is_none(),
        "unchanged fields are not listed: {a}"
    );
    // The same prices written differently are no change: no new version, no entry.
    let (s, p) = put(
        json!({"name": "Edited", "did_allowance": 4, "prices": [{"term_kind": "monthly",
        "currency": "eur", "amount": "12.5"}]}),
        version + 1,
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["version"].as_i64(), Some(version + 1), "{p}");
    let (_, a) = app
        .get_json(&format!(
            "/api/v1/audit?action=package.update&entity_id={pkg}"
        ))
        .await;
    assert_eq!(a["items"].as_array().map(Vec::len), Some(1), "{a}");
    let (_, c) = app.get_json(&format!("/api/v1/client-packages/{cp}")).await;
    assert_eq!(
        c["did_allowance"], 4,
        "the client package holds the new allowance: {c}"
    );
    // The new allowance holds for the next assignment.
    let more: Vec<&str> = dids[3..5]
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    let (s, p) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": more, "destination": "sip:e@pbx.example.com"}),
        )
        .await;
    assert_ne!(s, 200, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("allows 4"), "{p}");
    // In use: not deleted. Unused: deleted, and gone.
    let r = app
        .delete(&format!("/api/v1/packages/{pkg}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let spare = package(app, "Spare", 1, None, None).await;
    let r = app
        .delete(&format!("/api/v1/packages/{spare}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = app.get_json(&format!("/api/v1/packages/{spare}")).await;
    assert_eq!(s, 404);
    let (_, a) = app.get_json("/api/v1/audit?action=package.delete").await;
    assert_eq!(a["items"][0]["subject"], "Spare");
}
both_backends!(package_edit, package_edit_story);

/// Assignment and block allocation with an `Idempotency-Key`: a retry gets the first answer
/// (nothing assigned twice), another body with the key is refused, concurrent requests with
/// one key run once, and a request that failed leaves the key free for its retry.
async fn idempotent_assignment_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079480000-+442079480099"], None).await;
    let pkg = package(app, "Idem", 1_000, None, None).await;
    let c = customer(app, "Idem Co").await;
    let cp = client_package(app, c, &pkg).await;
    let other = client_package(app, customer(app, "Other Co").await, &pkg).await;
    let id0 = dids[0]["id"].as_str().unwrap().to_string();
    let send = |cp: String, key: &'static str, body: Value| async move {
        let r = app
            .post(&format!("/api/v1/client-packages/{cp}/dids"))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let replayed = r.headers().contains_key("idempotent-replayed");
        (
            r.status().as_u16(),
            replayed,
            r.json::<Value>().await.unwrap(),
        )
    };
    let body = json!({"did_ids": [id0], "destination": "sip:i@pbx.example.com"});
    let (s1, r1, v1) = send(cp.clone(), "assign-1", body.clone()).await;
    assert_eq!((s1, r1), (200, false), "{v1}");
    let (s2, r2, v2) = send(cp.clone(), "assign-1", body.clone()).await;
    assert_eq!((s2, r2), (200, true), "{v2}");
    assert_eq!(v1, v2);
    let (_, h) = app.get_json(&format!("/api/v1/dids/{id0}/history")).await;
    let assigns = h
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "did.assign")
        .count();
    assert_eq!(assigns, 1, "{h}");
    // The same key for another package (another path) is another request.
    let (s, _, p) = send(other.clone(), "assign-1", body.clone()).await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["type"], "urn:didhub:problem:idempotency-key-reused");
    // A failed request frees its key: the DID is held, so another customer's assign fails...
    let (s, _, p) = send(other.clone(), "assign-2", body.clone()).await;
    assert_eq!(s, 409, "{p}");
    // ...and once it is free again, the retry with the same key runs.
    let r = app
        .delete(&format!(
            "/api/v1/client-packages/{cp}/dids/{id0}?reason=moved%20to%20Other%20Co"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, h) = app.get_json(&format!("/api/v1/dids/{id0}/history")).await;
    let unassign = h
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "did.unassign")
        .expect("an unassign entry");
    assert_eq!(unassign["reason"], "moved to Other Co");
    let (s, replayed, v) = send(other.clone(), "assign-2", body.clone()).await;
    assert_eq!((s, replayed), (200, false), "{v}");
    assert_eq!(v[0]["client_package_id"], other.as_str());
    // Concurrent blocks with one key: one allocation, the others replay it or are told to wait.
    let path = format!("/api/v1/client-packages/{cp}/blocks");
    let block = json!({"size": 10, "country": "GB", "number_type": "fixed_line",
        "destination": "sip:i@pbx.example.com"});
    let tries = (0..6).map(|_| {
        app.post(&path)
            .header("Idempotency-Key", "block-1")
            .json(&block)
            .send()
    });
    let answers = futures::future::join_all(tries).await;
    let mut firsts = Vec::new();
    for r in answers {
        let r = r.unwrap();
        let s = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        match s {
            200 => firsts.push(v["block"]["first"].as_str().unwrap().to_string()),
            409 => assert!(
                v["detail"].as_str().unwrap().contains("still in progress"),
                "{v}"
            ),
            _ => panic!("{s} {v}"),
        }
    }
    assert!(!firsts.is_empty());
    assert!(firsts.iter().all(|f| *f == firsts[0]), "{firsts:?}");
    let (_, n) = app
        .get_json("/api/v1/dids/count?status=assigned&prefix=%2B4420794800")
        .await;
    assert_eq!(n["count"], 1 + 10, "one DID and one block of 10");
    // Only the holder of a reservation records its answer or frees the key; one never finished
    // is reported, not taken over.
    use didhub_store::accounts::idempotency::Begin;
    let who = "tester";
    let Begin::Run { token } = app
        .store
        .accounts()
        .idempotent_begin(who, "k", "h")
        .await
        .unwrap()
    else {
        panic!("a fresh key runs")
    };
    assert!(matches!(
        app.store
            .accounts()
            .idempotent_begin(who, "k", "h")
            .await
            .unwrap(),
        Begin::InProgress { .. }
    ));
    app.store
        .accounts()
        .idempotent_abandon(who, "k", "not-the-token")
        .await
        .unwrap();
    app.store
        .accounts()
        .idempotent_finish(who, "k", "not-the-token", 200, "{}")
        .await
        .unwrap();
    assert!(matches!(
        app.store
            .accounts()
            .idempotent_begin(who, "k", "h")
            .await
            .unwrap(),
        Begin::InProgress { .. }
    ));
    app.store
        .accounts()
        .idempotent_finish(who, "k", &token, 201, "{\"ok\":1}")
        .await
        .unwrap();
    match app
        .store
        .accounts()
        .idempotent_begin(who, "k", "h")
        .await
        .unwrap()
    {
        Begin::Done(d) => assert_eq!((d.status, d.body.as_str()), (201, "{\"ok\":1}")),
        _ => panic!("finished"),
    }
    let Begin::Run { .. } = app
        .store
        .accounts()
        .idempotent_begin(who, "k2", "h")
        .await
        .unwrap()
    else {
        panic!("a fresh key runs")
    };
    let long_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    didhub_store::on!(app.store, |p| sqlx::query(
        "UPDATE idempotency_keys SET created_at = $1 WHERE key = 'k2'"
    )
    .bind(long_ago)
    .execute(p)
    .await
    .map(|_| ()))
    .unwrap();
    assert!(matches!(
        app.store
            .accounts()
            .idempotent_begin(who, "k2", "h")
            .await
            .unwrap(),
        Begin::Abandoned { .. }
    ));
    // Through the API: a reservation of the caller's that never finished.
    let me = didhub_store::on!(app.store, |p| sqlx::query_scalar::<_, String>(
        "SELECT principal FROM idempotency_keys WHERE key = 'block-1'"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    let hash = didhub_store::on!(app.store, |p| sqlx::query_scalar::<_, String>(
        "SELECT request_hash FROM idempotency_keys WHERE key = 'block-1'"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    didhub_store::on!(app.store, |p| sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, request_hash, status, body, \
        created_at) VALUES ($1, 'lost', $2, 0, 't', $3)"
    )
    .bind(&me)
    .bind(&hash)
    .bind(long_ago)
    .execute(p)
    .await
    .map(|_| ()))
    .unwrap();
    let r = app
        .post(&path)
        .header("Idempotency-Key", "lost")
        .json(&block)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"].as_str().unwrap().contains("never finished"),
        "{p}"
    );
}
both_backends!(idempotent_assignment, idempotent_assignment_story);

/// A client that goes away mid-request does not strand its `Idempotency-Key`: the create runs
/// to its end and records its answer, and the retry with the key gets that answer.
async fn idempotent_disconnect_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079490000"], None).await;
    let pkg = package(app, "Gone", 10, None, None).await;
    let cp = client_package(app, customer(app, "Gone Co").await, &pkg).await;
    let id0 = dids[0]["id"].as_str().unwrap().to_string();
    let body = json!({"did_ids": [id0], "destination": "sip:g@pbx.example.com"});
    let path = format!("/api/v1/client-packages/{cp}/dids");
    // Another session holds the client package's row (on SQLite, the write lock), so the
    // assignment waits; meanwhile its client gives up and closes the connection.
    let blocker = app.another_store().await;
    let cp_id = Uuid::parse_str(&cp).unwrap();
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let hold = hold_lock(
        &blocker,
        "UPDATE client_packages SET version = version WHERE id = $1",
        cp_id,
        locked_tx,
        release_rx,
    );
    let gone = async {
        locked_rx.await.expect("the lock is held");
        let r = app
            .post(&path)
            .header("Idempotency-Key", "gone-1")
            .json(&body)
            .timeout(std::time::Duration::from_millis(500))
            .send()
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_timeout()), "{r:?}");
        // Time for the server to see the closed connection before the lock goes.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let _ = release_tx.send(());
    };
    let (held, ()) = tokio::join!(hold, gone);
    held.unwrap();
    let mut last = Value::Null;
    for _ in 0..200 {
        let r = app
            .post(&path)
            .header("Idempotency-Key", "gone-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (s, replayed) = (
            r.status().as_u16(),
            r.headers().contains_key("idempotent-replayed"),
        );
        let v: Value = r.json().await.unwrap();
        if s == 409
            && v["detail"]
                .as_str()
                .unwrap_or("")
                .contains("still in progress")
        {
            last = v;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        }
        // On PostgreSQL the key was reserved before the assignment waited for the row, so the
        // retry replays the answer of the request that ran on in its own task. On SQLite the
        // reservation itself waits for the write lock, and SQLite's busy wait is not first
        // come, first served: the retry's reservation may win, and then the retry is the one
        // run (and the first finds the key taken). Either way: one assignment, no stuck key.
        let sqlite = matches!(app.db, common::Db::Sqlite);
        assert_eq!((s, replayed || sqlite), (200, true), "{v}");
        assert_eq!(v[0]["client_package_id"], cp.as_str());
        let (_, h) = app.get_json(&format!("/api/v1/dids/{id0}/history")).await;
        let assigns = h
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "did.assign")
            .count();
        assert_eq!(assigns, 1, "{h}");
        return;
    }
    panic!("the key is still reserved 10 s after the lock went: {last}");
}
both_backends!(idempotent_disconnect, idempotent_disconnect_story);

/// A destination may be one of the customer's PBXs (`pbx:<id>`), never another customer's or
/// one that does not exist; the routing lookup answers it.
async fn pbx_destination_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079490000-+442079490002"], None).await;
    let pkg = package(app, "Pbx", 20, None, None).await;
    let mine = customer(app, "Pbx Co").await;
    let theirs = customer(app, "Elsewhere Co").await;
    let cp = client_package(app, mine, &pkg).await;
    let pbx = |c: Uuid, serial: &'static str| async move {
        let (s, v) = app
            .post_json(
                "/api/v1/pbxs",
                &json!({"customer_id": c, "name": "Main", "serial_number": serial}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    };
    let my_pbx = pbx(mine, "SN-PBX-1").await;
    let their_pbx = pbx(theirs, "SN-PBX-2").await;
    let id = |i: usize| dids[i]["id"].as_str().unwrap().to_string();
    let assign = |did: String, dest: String| {
        let path = format!("/api/v1/client-packages/{cp}/dids");
        async move {
            app.post_json(&path, &json!({"did_ids": [did], "destination": dest}))
                .await
        }
    };
    for (dest, says) in [
        (format!("pbx:{their_pbx}"), "another customer"),
        (format!("pbx:{}", Uuid::now_v7()), "no PBX"),
        ("pbx:not-an-id".to_string(), "pbx:<id>"),
        ("http://example.com".to_string(), ""),
    ] {
        let (s, p) = assign(id(0), dest.clone()).await;
        assert_eq!(s, 422, "{dest}: {p}");
        assert_eq!(p["errors"][0]["field"], "destination", "{p}");
        assert!(
            p["errors"][0]["message"].as_str().unwrap().contains(says),
            "{p}"
        );
    }
    let (_, d) = app.get_json(&format!("/api/v1/dids/{}", id(0))).await;
    assert_eq!(
        d["status"], "in_stock",
        "a refused assignment changes nothing"
    );
    let (s, v) = assign(id(0), format!("pbx:{my_pbx}")).await;
    assert_eq!(s, 200, "{v}");
    let r = route(app, "+442079490000").await;
    assert_eq!(r["reachable"], true);
    assert_eq!(r["destination"], format!("pbx:{my_pbx}"));
    // A block takes the same destinations, by the same rule.
    setup(app, &["+442079491000-+442079491009"], None).await;
    let blocks = format!("/api/v1/client-packages/{cp}/blocks");
    let block = |dest: String| json!({"size": 10, "country": "GB", "number_type": "fixed_line", "destination": dest});
    for (dest, says) in [
        (format!("pbx:{their_pbx}"), "another customer"),
        (format!("pbx:{}", Uuid::now_v7()), "no PBX"),
    ] {
        let (s, p) = app.post_json(&blocks, &block(dest.clone())).await;
        assert_eq!(s, 422, "{dest}: {p}");
        assert_eq!(p["errors"][0]["field"], "destination", "{p}");
        assert!(
            p["errors"][0]["message"].as_str().unwrap().contains(says),
            "{p}"
        );
    }
    let (_, n) = app
        .get_json("/api/v1/dids/count?status=assigned&prefix=%2B44207949100")
        .await;
    assert_eq!(n["count"], 0, "a refused block assigns nothing");
    let (s, v) = app
        .post_json(&blocks, &block(format!("pbx:{my_pbx}")))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["block"]["first"], "+442079491000", "{v}");
    let r = route(app, "+442079491009").await;
    assert_eq!(r["destination"], format!("pbx:{my_pbx}"));
}
both_backends!(pbx_destination, pbx_destination_story);

/// A PBX deleted while a DID is being assigned to it (PostgreSQL, where the two can really
/// interleave; SQLite runs one writer at a time): whichever takes the PBX row first wins, and
/// no DID is ever left routed to a PBX that is gone. Each order is forced by holding the
/// other side's transaction open until the API request is seen waiting for its lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pbx_delete_races_assignment_postgres() {
    let Some(app) = common::spawn_app(common::Db::Postgres).await else {
        eprintln!("{} not set: PostgreSQL run skipped", common::PG_ENV);
        return;
    };
    let (_, dids) = setup(&app, &["+442079493000-+442079493001"], None).await;
    let pkg = package(&app, "Racing PBX", 20, None, None).await;
    let cust = customer(&app, "Racing PBX Co").await;
    let cp = client_package(&app, cust, &pkg).await;
    let new_pbx = |serial: &'static str| {
        let app = &app;
        async move {
            let (s, v) = app
                .post_json(
                    "/api/v1/pbxs",
                    &json!({"customer_id": cust, "name": "Main", "serial_number": serial}),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            Uuid::parse_str(v["id"].as_str().unwrap()).unwrap()
        }
    };
    let other = app.another_store().await;
    let didhub_store::Backend::Postgres(pool) = &other.backend else {
        panic!("a PostgreSQL app has a PostgreSQL store");
    };

    // 1. The deletion holds the PBX row (deleted, not yet committed) when the assignment
    //    comes, after the assignment's own early check has seen the PBX: the assignment waits,
    //    then finds it gone and assigns nothing.
    let gone = new_pbx("SN-RACE-1").await;
    let did0 = dids[0]["id"].as_str().unwrap().to_string();
    let mut tx = pool.begin().await.unwrap();
    let holder = common::backend_pid(&mut tx).await;
    sqlx::query("DELETE FROM pbxs WHERE id = $1")
        .bind(gone)
        .execute(&mut *tx)
        .await
        .unwrap();
    let path = format!("/api/v1/client-packages/{cp}/dids");
    let body = json!({"did_ids": [did0], "destination": format!("pbx:{gone}")});
    let assigning = app.post_json(&path, &body);
    let committing = async {
        common::someone_waits_for(pool, holder).await;
        tx.commit().await.unwrap();
    };
    let ((s, p), ()) = tokio::join!(assigning, committing);
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "destination", "{p}");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no PBX"),
        "{p}"
    );
    let (_, d) = app.get_json(&format!("/api/v1/dids/{did0}")).await;
    assert_eq!(d["status"], "in_stock", "{d}");
    assert_eq!(d["destination"], Value::Null, "{d}");

    // 2. An assignment to the PBX is in flight (row held as an assignment holds it, DID
    //    written, not committed) when the deletion comes: the deletion waits, then sees the
    //    DID routed there and refuses.
    let kept = new_pbx("SN-RACE-2").await;
    let did1 = Uuid::parse_str(dids[1]["id"].as_str().unwrap()).unwrap();
    let cp_id = Uuid::parse_str(&cp).unwrap();
    let mut tx = pool.begin().await.unwrap();
    let holder = common::backend_pid(&mut tx).await;
    sqlx::query("SELECT id FROM pbxs WHERE id = $1 FOR KEY SHARE")
        .bind(kept)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE dids SET status = 'assigned', customer_id = $1, client_package_id = \
        $2, destination = $3 WHERE id = $4",
    )
    .bind(cust)
    .bind(cp_id)
    .bind(format!("pbx:{kept}"))
    .bind(did1)
    .execute(&mut *tx)
    .await
    .unwrap();
    let deleting = app.delete(&format!("/api/v1/pbxs/{kept}")).send();
    let committing = async {
        common::someone_waits_for(pool, holder).await;
        tx.commit().await.unwrap();
    };
    let (r, ()) = tokio::join!(deleting, committing);
    let r = r.unwrap();
    assert_eq!(r.status(), 409);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:didhub:problem:in-use", "{p}");
    let (s, _) = app.get_json(&format!("/api/v1/pbxs/{kept}")).await;
    assert_eq!(s, 200, "the PBX is still there");
    let routed_to_nothing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM dids d WHERE d.destination LIKE 'pbx:%' AND NOT EXISTS \
        (SELECT 1 FROM pbxs p WHERE 'pbx:' || p.id::text = d.destination)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(routed_to_nothing, 0);
    other.close().await;
    app.stop().await;
}

/// A customer with a client package (of any state) cannot be deleted: 409 naming why, not a
/// database error; once it has none, it can.
async fn customer_delete_story(app: &TestApp) {
    let (kept, cp) = common::customer_with_package(&app.store, "Kept Co", 5).await;
    let r = app
        .delete(&format!("/api/v1/customers/{kept}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:didhub:problem:in-use", "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("client packages"),
        "{p}"
    );
    let (s, _) = app.get_json(&format!("/api/v1/customers/{kept}")).await;
    assert_eq!(s, 200, "the customer is still there");
    // A client package is never deleted nor moved to another customer: with that, a DID's
    // customer and client package always exist (PostgreSQL has no foreign keys from dids to
    // them, migration 0010).
    let r = app
        .delete(&format!("/api/v1/client-packages/{cp}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let (other, _) = common::customer_with_package(&app.store, "Other Co", 1).await;
    let _ = app
        .patch(&format!("/api/v1/client-packages/{cp}"))
        .json(&json!({"customer_id": other, "state": "active"}))
        .send()
        .await
        .unwrap();
    let (s, v) = app.get_json(&format!("/api/v1/client-packages/{cp}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["customer_id"], json!(kept), "{v}");
    // Terminated, the package is history and still keeps its customer.
    app.store
        .assignment()
        .set_client_package_state(
            &Actor::system(),
            cp,
            didhub_core::assignment::PackageState::Terminated,
            chrono::Duration::days(30),
        )
        .await
        .unwrap();
    let r = app
        .delete(&format!("/api/v1/customers/{kept}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let partner = app
        .store
        .accounts()
        .find_partner("Test Partner")
        .await
        .unwrap()
        .id;
    let (s, v) = app
        .post_json(
            "/api/v1/customers",
            &json!({"partner_id": partner, "name": "Gone Co"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let gone = v["id"].as_str().unwrap();
    let r = app
        .delete(&format!("/api/v1/customers/{gone}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}
both_backends!(customer_delete, customer_delete_story);

/// A package that takes one number type (and country) refuses DIDs of another, naming why, and
/// takes those that qualify.
async fn package_by_type_story(app: &TestApp) {
    let (_, dids) = setup(
        app,
        &["+447400123456", "+442079520000", "+33612345678"],
        None,
    )
    .await;
    let (s, v) = app
        .post_json(
            "/api/v1/packages",
            &json!({"name": "UK mobile", "did_allowance": 5,
        "country": "GB", "number_type": "mobile"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["number_type"], "mobile");
    let pkg = v["id"].as_str().unwrap().to_string();
    let cp = client_package(app, customer(app, "Mobile Co").await, &pkg).await;
    let by_number = |n: &str| {
        dids.iter()
            .find(|d| d["number"] == n)
            .map(|d| d["id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let id = |i: usize| by_number(["+447400123456", "+442079520000", "+33612345678"][i]);
    let assign = |did: String| {
        let path = format!("/api/v1/client-packages/{cp}/dids");
        async move {
            app.post_json(
                &path,
                &json!({"did_ids": [did], "destination": "sip:m@pbx.example.com"}),
            )
            .await
        }
    };
    let (s, p) = assign(id(1)).await;
    assert_eq!(s, 422, "a London landline is not mobile: {p}");
    assert!(p["detail"].as_str().unwrap().contains("fixed_line"), "{p}");
    assert_eq!(p["errors"][0]["field"], "did_ids[0]", "{p}");
    let (s, p) = assign(id(2)).await;
    assert_eq!(s, 422, "a French mobile is not GB: {p}");
    assert!(p["detail"].as_str().unwrap().contains("FR"), "{p}");
    // Named by number, the refusal names that entry.
    let (s, p) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"numbers": ["+447400123456", "+442079520000"], "destination": "sip:m@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "numbers[1]", "{p}");
    // A block of the wrong type is refused under number_type, of the wrong country under country.
    for (country, number_type, field) in [
        ("GB", "fixed_line", "number_type"),
        ("FR", "mobile", "country"),
    ] {
        let (s, p) = app
            .post_json(
                &format!("/api/v1/client-packages/{cp}/blocks"),
                &json!({"size": 10, "country": country, "number_type": number_type,
                    "destination": "sip:m@pbx.example.com"}),
            )
            .await;
        assert_eq!(s, 422, "{p}");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    let (s, v) = assign(id(0)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[0]["status"], "assigned");
    // Unknown types are refused when the package is made.
    let (s, p) = app
        .post_json(
            "/api/v1/packages",
            &json!({"name": "Bad", "did_allowance": 1, "number_type": "pigeon"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "number_type");
}
both_backends!(package_by_type, package_by_type_story);

async fn hold_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079460200-+442079460202"], None).await;
    let pkg = package(app, "Any", 5, None, None).await;
    let c = customer(app, "Hold Co").await;
    let cp = client_package(app, c, &pkg).await;
    let ids: Vec<String> = dids
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    // The after-hold status decides where a DID goes when it leaves hold.
    let (s, _) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": {"ids": [{"id": ids[1]}]}, "patch": {"after_hold": "archive"}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": ids, "destination": "sip:hold@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // A stale If-Match is refused and changes nothing; the current version goes through.
    let (_, before) = app.get_json(&format!("/api/v1/client-packages/{cp}")).await;
    let version = before["version"].as_i64().unwrap();
    let r = app
        .patch(&format!("/api/v1/client-packages/{cp}"))
        .header("If-Match", format!("\"{}\"", version - 1))
        .json(&json!({"state": "inactive"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let (_, d) = app.get_json(&format!("/api/v1/dids/{}", ids[0])).await;
    assert_eq!(d["status"], "assigned");
    // Inactive: on hold, unreachable.
    let r = app
        .patch(&format!("/api/v1/client-packages/{cp}"))
        .header("If-Match", format!("\"{version}\""))
        .json(&json!({"state": "inactive"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, d) = app.get_json(&format!("/api/v1/dids/{}", ids[0])).await;
    assert_eq!(d["status"], "hold");
    assert!(d["hold_until"].is_string());
    assert_eq!(route(app, "+442079460200").await["reason"], "hold");
    // A DID on hold cannot be deleted (nor in bulk), and nothing changes.
    let r = app
        .delete(&format!("/api/v1/dids/{}", ids[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("hold"), "{p}");
    let (s, p) = app
        .post_json(
            "/api/v1/dids/bulk-delete",
            &json!({"selection": {"ids": [{"id": ids[0]}, {"id": ids[2]}]}}),
        )
        .await;
    assert_eq!(s, 409, "{p}");
    let (_, d) = app.get_json(&format!("/api/v1/dids/{}", ids[2])).await;
    assert_eq!(d["status"], "hold");
    // Active again within the period: back, with the routing.
    app.patch(&format!("/api/v1/client-packages/{cp}"))
        .json(&json!({"state": "active"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        route(app, "+442079460200").await["destination"],
        "sip:hold@pbx.example.com"
    );
    // Inactive with an ended hold period: the worker releases them (idempotently).
    let cpid = Uuid::parse_str(&cp).unwrap();
    app.store
        .assignment()
        .set_client_package_state(
            &Actor::system(),
            cpid,
            didhub_core::assignment::PackageState::Inactive,
            chrono::Duration::seconds(-1),
        )
        .await
        .unwrap();
    assert_eq!(
        app.store
            .assignment()
            .release_expired_holds(2)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.store
            .assignment()
            .release_expired_holds(2)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.store
            .assignment()
            .release_expired_holds(2)
            .await
            .unwrap()
            .len(),
        0
    );
    check_block_counts(app).await;
    let (_, d0) = app.get_json(&format!("/api/v1/dids/{}", ids[0])).await;
    let (_, d1) = app.get_json(&format!("/api/v1/dids/{}", ids[1])).await;
    assert_eq!(
        (
            d0["status"].as_str(),
            d0["customer_id"].as_str(),
            d0["destination"].as_str()
        ),
        (Some("in_stock"), None, None)
    );
    assert_eq!(d1["status"], "archive");
    app.state.routing.refresh(&app.store).await.unwrap();
    assert_eq!(
        route(app, "+442079460200").await["reason"],
        "not_in_service"
    );
    let (_, h) = app
        .get_json(&format!("/api/v1/dids/{}/history", ids[0]))
        .await;
    let actions: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "did.create",
            "did.assign",
            "did.hold",
            "did.restore",
            "did.hold",
            "did.hold_expired"
        ]
    );
    assert_eq!(h[5]["actor"], "worker:hold");
    // Terminated: released at once; a terminated package stays terminated.
    let (_, more) = setup(app, &["+442079460300"], None).await;
    let cp2 = client_package(app, c, &pkg).await;
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp2}/dids"),
            &json!({"did_ids": [more[0]["id"]], "destination": "sip:t@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[0]["status"], "assigned", "{v}");
    let r = app
        .patch(&format!("/api/v1/client-packages/{cp2}"))
        .json(&json!({"state": "terminated"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, d) = app
        .get_json(&format!("/api/v1/dids/{}", more[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(d["status"], "in_stock");
    let r = app
        .patch(&format!("/api/v1/client-packages/{cp2}"))
        .json(&json!({"state": "active"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let (s, _) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp2}/dids"),
            &json!({"did_ids": [more[0]["id"]], "destination": "sip:t@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 422, "no assignment under a terminated package");
}
both_backends!(hold, hold_story);

/// A package reactivated after its DIDs' hold period ended (before the worker got to them)
/// does not get them back: they go to their after-hold status, as the worker would have sent
/// them; DIDs still within their period come back with their routing.
async fn reactivate_after_hold_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079460300-+442079460303"], None).await;
    let pkg = package(app, "Any", 5, None, None).await;
    let c = customer(app, "Late Co").await;
    let cp = client_package(app, c, &pkg).await;
    let ids: Vec<String> = dids
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": ids, "destination": "sip:late@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r = app
        .patch(&format!("/api/v1/client-packages/{cp}"))
        .json(&json!({"state": "inactive"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Two of the four have run out their hold period; the worker has not run.
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    for id in &ids[..2] {
        let id = Uuid::parse_str(id).unwrap();
        didhub_store::on!(app.store, |p| sqlx::query(
            "UPDATE dids SET hold_until = $1 WHERE id = $2"
        )
        .bind(past)
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))
        .unwrap();
    }
    let r = app
        .patch(&format!("/api/v1/client-packages/{cp}"))
        .json(&json!({"state": "active"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (i, id) in ids.iter().enumerate() {
        let (_, d) = app.get_json(&format!("/api/v1/dids/{id}")).await;
        let (_, h) = app.get_json(&format!("/api/v1/dids/{id}/history")).await;
        let last = h
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .next_back();
        let number = d["number"].as_str().unwrap().to_string();
        if i < 2 {
            assert_eq!(d["status"], "in_stock", "{d}");
            assert!(
                d["customer_id"].is_null() && d["destination"].is_null(),
                "{d}"
            );
            assert_eq!(route(app, &number).await["reason"], "not_in_service");
        } else {
            assert_eq!(d["status"], "assigned", "{d}");
            assert_eq!(
                route(app, &number).await["destination"],
                "sip:late@pbx.example.com"
            );
        }
        let want = if i < 2 {
            "did.hold_expired"
        } else {
            "did.restore"
        };
        assert!(
            h.as_array().unwrap().iter().any(|e| e["action"] == want),
            "{number}: {last:?} {h}"
        );
    }
    // The allowance counts only the two that came back.
    let (_, p) = app.get_json(&format!("/api/v1/client-packages/{cp}")).await;
    assert_eq!(p["did_count"], 2, "{p}");
    check_block_counts(app).await;
    // Nothing is left for the worker.
    assert!(app
        .store
        .assignment()
        .release_expired_holds(10)
        .await
        .unwrap()
        .is_empty());
}
both_backends!(reactivate_after_hold, reactivate_after_hold_story);

/// Terminating a package releases its DIDs on hold (and its assigned ones) to their after-hold
/// status at once, without waiting for the hold period; a terminated package stays terminated.
async fn terminate_releases_held_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079530000-+442079530001"], None).await;
    let pkg = package(app, "Ends", 5, None, None).await;
    let cp = client_package(app, customer(app, "Ending Co").await, &pkg).await;
    let ids: Vec<&str> = dids.iter().map(|d| d["id"].as_str().unwrap()).collect();
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": ids, "destination": "sip:t@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let set = |state: &'static str| {
        let path = format!("/api/v1/client-packages/{cp}");
        async move {
            let r = app
                .patch(&path)
                .json(&json!({"state": state}))
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(set("inactive").await.0, 200);
    let (_, d) = app.get_json(&format!("/api/v1/dids/{}", ids[0])).await;
    assert_eq!(d["status"], "hold");
    let (s, cpv) = set("terminated").await;
    assert_eq!(s, 200, "{cpv}");
    assert_eq!(cpv["did_count"], 0);
    for id in &ids {
        let (_, d) = app.get_json(&format!("/api/v1/dids/{id}")).await;
        assert_eq!(d["status"], "in_stock", "{d}");
        assert!(
            d["customer_id"].is_null() && d["hold_until"].is_null(),
            "{d}"
        );
        let (_, h) = app.get_json(&format!("/api/v1/dids/{id}/history")).await;
        assert_eq!(
            h.as_array().unwrap().last().unwrap()["action"],
            "did.release",
            "{h}"
        );
    }
    assert_eq!(
        route(app, "+442079530000").await["reason"],
        "not_in_service"
    );
    let (s, p) = set("active").await;
    assert_eq!(s, 422, "terminated is final: {p}");
    check_block_counts(app).await;
}
both_backends!(terminate_releases_held, terminate_releases_held_story);

/// Hold workers of three instances on one database at once: every due DID is released exactly
/// once (one `did.hold_expired` entry each), and the counters add up.
async fn concurrent_hold_workers_story(app: &TestApp) {
    const PACKAGES: usize = 6;
    const PER: usize = 40;
    let mut numbers = Vec::new();
    for k in 0..PACKAGES {
        let (_, dids) = due_holds(
            app,
            &format!("+4420795{k}0000-+4420795{k}00{}", PER - 1),
            &format!("Workers {k}"),
        )
        .await;
        numbers.extend(
            dids.iter()
                .map(|d| d["number"].as_str().unwrap().to_string()),
        );
    }
    let stores = [
        app.store.clone(),
        app.another_store().await,
        app.another_store().await,
    ];
    let workers = stores.iter().map(|st| async move {
        let mut released = Vec::new();
        loop {
            let moved = st
                .assignment()
                .release_expired_holds(25)
                .await
                .expect("a worker pass");
            if moved.is_empty() {
                // Nothing due that this worker could claim: done when nothing is due at all.
                let due: i64 = didhub_store::on!(st, |p| sqlx::query_scalar(
                    "SELECT count(*) FROM dids WHERE status = 'hold'"
                )
                .fetch_one(p)
                .await)
                .unwrap();
                if due == 0 {
                    break;
                }
                tokio::task::yield_now().await;
                continue;
            }
            released.extend(moved.into_iter().map(|m| m.number));
        }
        released
    });
    let by_worker = futures::future::join_all(workers).await;
    let mut all: Vec<String> = by_worker.iter().flatten().cloned().collect();
    all.sort();
    numbers.sort();
    assert_eq!(all, numbers, "each due DID released once, by one worker");
    let entries: i64 = didhub_store::on!(app.store, |p| sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'did.hold_expired'"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    let (_, n) = app
        .get_json("/api/v1/dids/count?status=in_stock&prefix=%2B4420795")
        .await;
    assert_eq!(n["count"], (PACKAGES * PER) as i64);
    assert_eq!(
        entries,
        (PACKAGES * PER) as i64,
        "one audit entry per release"
    );
    check_block_counts(app).await;
    for st in &stores[1..] {
        st.close().await;
    }
}
both_backends!(concurrent_hold_workers, concurrent_hold_workers_story);

/// The background worker (as `serve` runs it) releases ended holds on its own and takes them
/// out of the routing table.
async fn background_hold_worker_story(app: &TestApp) {
    let (_, dids) = due_holds(app, "+442079540000-+442079540004", "Background").await;
    let ids: Vec<&str> = dids.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(route(app, "+442079540000").await["reason"], "hold");
    didhub_server::jobs::spawn_hold_worker(app.store.clone(), std::time::Duration::from_millis(50));
    let mut released = 0;
    for _ in 0..200 {
        let (_, n) = app
            .get_json("/api/v1/dids/count?status=in_stock&prefix=%2B44207954000")
            .await;
        released = n["count"].as_i64().unwrap();
        if released == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(released, 5, "the worker released every ended hold");
    // And the routing table no longer routes them.
    assert_eq!(
        route(app, "+442079540000").await["reason"],
        "not_in_service"
    );
    let (_, h) = app
        .get_json(&format!("/api/v1/dids/{}/history", ids[0]))
        .await;
    let last = &h.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("did.hold_expired"), Some("worker:hold")),
        "{h}"
    );
}
both_backends!(background_hold_worker, background_hold_worker_story);

/// A hold worker whose database session dies mid-pass (PostgreSQL: its backend is terminated
/// while its release waits on a row lock) leaves everything as it was; the next pass releases
/// every due DID once. PostgreSQL only: SQLite has no second session to kill (there a pass is
/// one transaction just the same).
async fn hold_worker_crash_story(app: &TestApp) {
    let (_, dids) = due_holds(app, "+442079510000-+442079510019", "Crash").await;
    let ids: Vec<&str> = dids.iter().map(|d| d["id"].as_str().unwrap()).collect();
    // Another session holds one of the DIDs, so the worker's release statement waits on it.
    let worker = app.another_store().await;
    let blocker = app.another_store().await;
    let blocked = Uuid::parse_str(ids[7]).unwrap();
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    // Held until the worker has been terminated (or given up on), however slow the host.
    let hold = hold_lock(
        &blocker,
        "SELECT id FROM dids WHERE id = $1 FOR UPDATE",
        blocked,
        locked_tx,
        done_rx,
    );
    let pass = async {
        locked_rx.await.expect("the lock is held");
        worker.assignment().release_expired_holds(100).await
    };
    let kill = async {
        // The worker's session, waiting on the lock: terminate it, as a crash would, and wait
        // until it is gone (its row locks go with it).
        let mut n: i64 = 0;
        for _ in 0..500 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            n = didhub_store::on!(app.store, |p| sqlx::query_scalar(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 10000) FROM \
                pg_stat_activity WHERE datname = current_database() AND wait_event_type = \
                'Lock' AND query LIKE 'UPDATE dids SET status = after_hold%') t"
            )
            .fetch_one(p)
            .await)
            .unwrap();
            if n > 0 {
                break;
            }
        }
        let _ = done_tx.send(());
        n
    };
    let (locked, pass, killed) = tokio::join!(hold, pass, kill);
    locked.unwrap();
    assert!(
        killed > 0,
        "the worker's session was found waiting and terminated"
    );
    assert!(
        pass.is_err(),
        "the interrupted pass reports an error: {pass:?}"
    );
    // Nothing of the interrupted pass remains.
    let (_, n) = app
        .get_json("/api/v1/dids/count?status=hold&prefix=%2B442079510")
        .await;
    assert_eq!(n["count"], 20);
    let entries: i64 = didhub_store::on!(app.store, |p| sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'did.hold_expired'"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(entries, 0);
    // The next pass (another instance, or this one after a restart) does all of it, once.
    let moved = app
        .store
        .assignment()
        .release_expired_holds(100)
        .await
        .unwrap();
    assert_eq!(moved.len(), 20);
    assert!(app
        .store
        .assignment()
        .release_expired_holds(100)
        .await
        .unwrap()
        .is_empty());
    let entries: i64 = didhub_store::on!(app.store, |p| sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'did.hold_expired'"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(entries, 20);
    check_block_counts(app).await;
    worker.close().await;
    blocker.close().await;
}
/// The hold worker counts, audits and routes only the rows its update really wrote: a DID whose
/// hold is extended between the worker's read and its write (PostgreSQL: the worker's update
/// waits for the row, then finds it no longer due) stays on hold, without an entry, and still
/// counts against its client package.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hold_worker_writes_only_what_is_still_due_postgres() {
    let Some(app) = common::spawn_app(common::Db::Postgres).await else {
        eprintln!("{} not set: PostgreSQL run skipped", common::PG_ENV);
        return;
    };
    let (_, dids) = due_holds(&app, "+442079495000-+442079495002", "Extended").await;
    let other = app.another_store().await;
    let didhub_store::Backend::Postgres(pool) = &other.backend else {
        panic!("a PostgreSQL app has a PostgreSQL store");
    };
    let extended = Uuid::parse_str(dids[1]["id"].as_str().unwrap()).unwrap();
    let extended_number = dids[1]["number"].as_str().unwrap().to_string();
    let mut tx = pool.begin().await.unwrap();
    let holder = common::backend_pid(&mut tx).await;
    sqlx::query("UPDATE dids SET hold_until = now() + interval '30 days', version = version + 1 WHERE id = $1")
        .bind(extended)
        .execute(&mut *tx)
        .await
        .unwrap();
    let store = app.store.clone();
    let worker = tokio::spawn(async move { store.assignment().release_expired_holds(100).await });
    common::someone_waits_for(pool, holder).await;
    tx.commit().await.unwrap();
    let moved = worker.await.unwrap().unwrap();
    let mut numbers: Vec<&str> = moved.iter().map(|m| m.number.as_str()).collect();
    numbers.sort();
    assert_eq!(numbers, ["+442079495000", "+442079495002"]);
    let (_, d) = app.get_json(&format!("/api/v1/dids/{extended}")).await;
    assert_eq!(d["status"], "hold", "{d}");
    let subjects: Vec<String> = sqlx::query_scalar(
        "SELECT subject FROM audit_log WHERE action = 'did.hold_expired' ORDER BY subject",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(subjects, ["+442079495000", "+442079495002"]);
    assert!(!subjects.contains(&extended_number));
    check_block_counts(&app).await;
    other.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hold_worker_crash_postgres() {
    let Some(app) = common::spawn_app(common::Db::Postgres).await else {
        eprintln!("{} not set: PostgreSQL run skipped", common::PG_ENV);
        return;
    };
    hold_worker_crash_story(&app).await;
    app.stop().await;
}

async fn no_double_assignment(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079461000-+442079461019"], None).await;
    let pkg = package(app, "Big", 1000, None, None).await;
    let mut cps = Vec::new();
    for i in 0..8 {
        let c = customer(app, &format!("racer {i}")).await;
        cps.push(client_package(app, c, &pkg).await);
    }
    // Eight customers race for each DID: exactly one wins each.
    for d in &dids {
        let id = d["id"].as_str().unwrap();
        let reqs = cps.iter().map(|cp| {
            app.post(&format!("/api/v1/client-packages/{cp}/dids"))
                .json(&json!({"did_ids": [id], "destination": "sip:r@pbx.example.com"}))
                .send()
        });
        let results = futures::future::join_all(reqs).await;
        let ok = results
            .iter()
            .filter(|r| r.as_ref().unwrap().status() == 200)
            .count();
        assert_eq!(ok, 1, "{id}");
        assert!(results
            .iter()
            .all(|r| [200, 409].contains(&r.as_ref().unwrap().status().as_u16())));
    }
}
both_backends!(race, no_double_assignment);

/// Concurrent single-DID requests that PostgreSQL writes together (`assign_batch`): each keeps
/// its own answer when others in the same burst fail (a DID already taken, an allowance reached,
/// a package not active), and only what was answered 200 is written.
async fn batched_answers_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079462000-+442079462059"], None).await;
    let id = |i: usize| dids[i]["id"].as_str().unwrap().to_string();
    let big = package(app, "Roomy", 1000, None, None).await;
    let small = package(app, "Tiny", 1, None, None).await;
    let (ca, cb, cc) = (
        customer(app, "batch a").await,
        customer(app, "batch b").await,
        customer(app, "batch c").await,
    );
    let (cp_a, cp_b, cp_c) = (
        client_package(app, ca, &big).await,
        client_package(app, cb, &small).await,
        client_package(app, cc, &big).await,
    );
    let (s, _) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp_a}/dids"),
            &json!({"did_ids": [id(39)], "destination": "sip:a@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200);
    app.patch(&format!("/api/v1/client-packages/{cp_c}"))
        .json(&json!({"state": "inactive"}))
        .send()
        .await
        .unwrap();
    for round in 0..3 {
        // 10 good requests for A, 3 for B (room for one in the first round, none later), one
        // for C (inactive) and one for a DID A already holds, all at once.
        let mut reqs: Vec<(String, String)> = (0..10)
            .map(|i| (cp_a.clone(), id(round * 10 + i)))
            .collect();
        for i in 0..3 {
            reqs.push((cp_b.clone(), id(30 + round * 3 + i)));
        }
        reqs.push((cp_c.clone(), id(30 + round * 3)));
        reqs.push((cp_a.clone(), id(39)));
        let answers = futures::future::join_all(reqs.iter().map(|(cp, did)| {
            app.post(&format!("/api/v1/client-packages/{cp}/dids"))
                .json(
                    &json!({"did_ids": [did], "destination": "sip:b@pbx.example.com",
                    "reason": format!("round {round}")}),
                )
                .send()
        }))
        .await;
        let status: Vec<u16> = answers
            .iter()
            .map(|r| r.as_ref().unwrap().status().as_u16())
            .collect();
        assert!(status[..10].iter().all(|s| *s == 200), "{status:?}");
        let b_ok = status[10..13].iter().filter(|s| **s == 200).count();
        assert_eq!(b_ok, usize::from(round == 0), "{status:?}");
        assert!(
            status[10..13].iter().all(|s| [200, 409, 422].contains(s)),
            "{status:?}"
        );
        assert_eq!(status[13], 422, "inactive package: {status:?}");
        assert_eq!(status[14], 409, "DID already held: {status:?}");
    }
    // Written: exactly what was answered 200, each with its own audit entry and reason.
    let (_, a) = app
        .get_json(&format!("/api/v1/client-packages/{cp_a}"))
        .await;
    assert_eq!(a["did_count"], 31);
    let (_, b) = app
        .get_json(&format!("/api/v1/client-packages/{cp_b}"))
        .await;
    assert_eq!(b["did_count"], 1);
    let (_, c) = app
        .get_json(&format!("/api/v1/client-packages/{cp_c}"))
        .await;
    assert_eq!(c["did_count"], 0);
    let (_, n) = app.get_json("/api/v1/dids/count?status=assigned").await;
    assert_eq!(n["count"], 32);
    let entries: Vec<(String, Option<String>)> = didhub_store::on!(app.store, |p| sqlx::query_as(
        "SELECT subject, reason FROM audit_log WHERE action = 'did.assign' AND \
        subject >= '+442079462000' AND subject <= '+442079462039' ORDER BY subject"
    )
    .fetch_all(p)
    .await)
    .unwrap();
    assert_eq!(entries.len(), 32);
    assert_eq!(
        entries[0],
        ("+442079462000".to_string(), Some("round 0".to_string()))
    );
    assert_eq!(entries[25].1.as_deref(), Some("round 2"));
    check_block_counts(app).await;
    // A burst of good requests, each its own customer, destination and reason: on PostgreSQL
    // some go out in a batch that is written as one, and each DID gets exactly its own.
    let written = || async {
        app.metric("didhub_assign_batches_total{outcome=\"written\"}")
            .await
            .unwrap_or(0.0)
    };
    let before = written().await;
    let mut cps = Vec::new();
    for i in 0..12 {
        let c = customer(app, &format!("burst {i}")).await;
        cps.push(client_package(app, c, &big).await);
    }
    let answers = futures::future::join_all(cps.iter().enumerate().map(|(i, cp)| {
        app.post(&format!("/api/v1/client-packages/{cp}/dids"))
            .json(
                &json!({"did_ids": [id(40 + i)], "destination": format!("sip:n{i}@pbx.example.com"),
                "reason": format!("burst {i}")}),
            )
            .send()
    }))
    .await;
    for (i, r) in answers.into_iter().enumerate() {
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v[0]["id"], id(40 + i));
        assert_eq!(v[0]["client_package_id"].as_str(), Some(cps[i].as_str()));
        assert_eq!(v[0]["destination"], format!("sip:n{i}@pbx.example.com"));
        let (_, h) = app
            .get_json(&format!("/api/v1/dids/{}/history", id(40 + i)))
            .await;
        let last = h.as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["action"].as_str(), last["reason"].as_str()),
            (Some("did.assign"), Some(format!("burst {i}").as_str()))
        );
        let r = route(app, dids[40 + i]["number"].as_str().unwrap()).await;
        assert_eq!(r["destination"], format!("sip:n{i}@pbx.example.com"));
    }
    check_block_counts(app).await;
    if app.db == common::Db::Postgres {
        assert!(written().await > before, "no batch was written as one");
    }
}
both_backends!(batched_answers, batched_answers_story);

/// Many clients assign and unassign over a shared pool; then the audit log is replayed to prove
/// that no number was ever held by two customers and that the counts add up.
async fn stress(app: &TestApp) {
    let (clients, rounds, pool) = match app.db {
        common::Db::Postgres => (32, 40, 200),
        common::Db::Sqlite => (8, 25, 60),
    };
    let last = 442079470000u64 + pool as u64 - 1;
    let (_, dids) = setup(app, &[&format!("+442079470000-+{last}")], None).await;
    let pkg = package(app, "Stress", 100_000, None, None).await;
    let mut cps = Vec::new();
    for i in 0..clients {
        let c = customer(app, &format!("stress {i}")).await;
        cps.push(client_package(app, c, &pkg).await);
    }
    let ids: Vec<String> = dids
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    let mut tasks = Vec::new();
    for (k, cp) in cps.iter().enumerate() {
        let client = app.client.clone();
        let base = app.base.clone();
        let token = app.token.clone();
        let cp = cp.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let (mut won, mut lost) = (0u32, 0u32);
            for r in 0..rounds {
                let id = &ids[(k * 7 + r * 13) % ids.len()];
                let res = client
                    .post(format!("{base}/api/v1/client-packages/{cp}/dids"))
                    .bearer_auth(&token)
                    .json(&json!({"did_ids": [id], "destination": "sip:s@pbx.example.com"}))
                    .send()
                    .await
                    .unwrap();
                match res.status().as_u16() {
                    200 => {
                        won += 1;
                        let u = client
                            .delete(format!("{base}/api/v1/client-packages/{cp}/dids/{id}"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(u.status(), 200);
                    }
                    409 => lost += 1,
                    s => panic!("unexpected {s}: {}", res.text().await.unwrap_or_default()),
                }
            }
            (won, lost)
        }));
    }
    let mut won = 0;
    for t in tasks {
        let (w, _) = t.await.unwrap();
        won += w;
    }
    assert!(won > 0);
    // Replay: per number, assignments and unassignments must alternate, one holder at a time.
    let mut holder: HashMap<String, Option<String>> = HashMap::new();
    let mut assigns = 0;
    let mut cursor: Option<String> = None;
    let mut entries = Vec::new();
    loop {
        let mut path = "/api/v1/audit?entity=did&limit=1000".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (_, page) = app.get_json(&path).await;
        entries.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    entries.reverse();
    for e in &entries {
        let number = e["subject"].as_str().unwrap().to_string();
        let slot = holder.entry(number.clone()).or_insert(None);
        match e["action"].as_str().unwrap() {
            "did.assign" => {
                assert!(slot.is_none(), "{number} assigned while held by {slot:?}");
                *slot = Some(e["changes"]["customer_id"][1].as_str().unwrap().to_string());
                assigns += 1;
            }
            "did.unassign" => {
                assert!(slot.is_some(), "{number} unassigned while free");
                *slot = None;
            }
            _ => {}
        }
    }
    assert_eq!(
        assigns, won,
        "every successful assignment is in the log once"
    );
    assert!(
        holder.values().all(Option::is_none),
        "everything was unassigned"
    );
    let (_, c) = app.get_json("/api/v1/dids/count?status=in_stock").await;
    assert_eq!(c["count"], pool as i64);
    let mut by_status = BTreeMap::new();
    for st in ["assigned", "hold"] {
        by_status.insert(
            st,
            app.get_json(&format!("/api/v1/dids/count?status={st}"))
                .await
                .1["count"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(by_status.values().sum::<i64>(), 0);
    check_block_counts(app).await;
}
both_backends!(
    #[ignore = "heavy tier: cargo test -- --ignored"]
    stress_test,
    stress
);

type BlockRow = (String, Uuid, String, String, i64);

/// The kept counts (free numbers per block, DIDs per client package) equal a recount from
/// the DIDs.
async fn check_block_counts(app: &TestApp) {
    app.store.assignment().fold_stock().await.unwrap();
    let off: i64 = didhub_store::on!(app.store, |p| {
        sqlx::query_scalar(
            "SELECT count(*) FROM client_packages cp WHERE cp.did_count <> (SELECT \
            count(*) FROM dids d WHERE d.client_package_id = cp.id)",
        )
        .fetch_one(p)
        .await
        .unwrap()
    });
    assert_eq!(off, 0, "client packages whose did_count is not their DIDs");
    for (size, k) in [(100i64, 2i64), (1000, 3), (10000, 4), (100000, 5)] {
        let q = format!(
            "SELECT substr(number, 1, length(number) - {k}) AS p, operator_id, country, \
            number_type, count(*) AS n FROM dids WHERE status = 'in_stock' GROUP BY \
            substr(number, 1, length(number) - {k}), operator_id, country, number_type"
        );
        let kept = "SELECT prefix, operator_id, country, number_type, free FROM stock_blocks \
            WHERE size = $1 AND free <> 0";
        let (mut a, mut b): (Vec<BlockRow>, Vec<BlockRow>) = didhub_store::on!(app.store, |p| (
            sqlx::query_as(&q).fetch_all(p).await.unwrap(),
            sqlx::query_as(kept).bind(size).fetch_all(p).await.unwrap(),
        ));
        a.sort();
        b.sort();
        assert_eq!(a, b, "block counts of size {size}");
    }
}

/// An import records the stock change of all its rows at once; the block counts then match a
/// recount (in-stock rows only; a skipped duplicate adds nothing).
async fn import_stock_story(app: &TestApp) {
    setup(app, &["+442079520005"], None).await;
    let mut csv = String::from("number,status\n");
    for i in 0..250 {
        let status = if i % 10 == 0 { "reserved" } else { "in_stock" };
        csv.push_str(&format!("+4420795{:05},{status}\n", 20_000 + i * 7));
    }
    csv.push_str("+44 20 7952 0005,in_stock\n");
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("stock.csv"),
        )
        .text("operator", "Stock Op")
        .text("skip_invalid", "true");
    let r = app
        .post("/api/v1/dids/import")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["imported"], 250, "{report}");
    assert_eq!(report["duplicates"], 1, "{report}");
    check_block_counts(app).await;
}
both_backends!(import_stock, import_stock_story);

/// A free block of 10 is found however fragmented the stock around it: here 33 blocks of 100
/// with more free numbers than it but no whole ten come first in best-fit order.
async fn fragmented_ten_story(app: &TestApp) {
    let mut ranges = Vec::new();
    for i in 0..34 {
        let (lo, hi) = if i == 33 {
            ("000", "009")
        } else {
            ("000", "008")
        };
        ranges.push(format!("+4420710{i:02}{lo}-+4420710{i:02}{hi}"));
        ranges.push(format!("+4420710{i:02}010-+4420710{i:02}018"));
    }
    let ranges: Vec<&str> = ranges.iter().map(String::as_str).collect();
    setup(app, &ranges, None).await;
    let pkg = package(app, "Tens", 100, None, None).await;
    let cp = client_package(app, customer(app, "Tens Co").await, &pkg).await;
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/blocks"),
            &json!({"size": 10, "country": "GB", "number_type": "fixed_line", "destination": "sip:t@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["block"]["first"], "+442071033000", "{v}");
    assert_eq!(v["block"]["last"], "+442071033009", "{v}");
    // No whole ten is left: a clear refusal.
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/blocks"),
            &json!({"size": 10, "country": "GB", "number_type": "fixed_line", "destination": "sip:t@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
}
both_backends!(fragmented_ten, fragmented_ten_story);

/// Asking for the state a client package is already in changes nothing: same answer, same
/// version, no audit entry. Terminated stays final.
async fn same_state_story(app: &TestApp) {
    let pkg = package(app, "Same", 5, None, None).await;
    let cp = client_package(app, customer(app, "Same Co").await, &pkg).await;
    let path = format!("/api/v1/client-packages/{cp}");
    let set = |state: &'static str| {
        let path = path.clone();
        async move {
            let r = app
                .patch(&path)
                .json(&json!({ "state": state }))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, first) = set("inactive").await;
    assert_eq!(s, 200, "{first}");
    let (s, again) = set("inactive").await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["version"], first["version"]);
    let (s, _) = set("terminated").await;
    assert_eq!(s, 200);
    let (s, again) = set("terminated").await;
    assert_eq!(s, 200, "{again}");
    let (s, p) = set("active").await;
    assert_eq!(s, 422, "{p}");
    let (_, a) = app
        .get_json(&format!(
            "/api/v1/audit?action=client_package.state&entity_id={cp}"
        ))
        .await;
    assert_eq!(a["items"].as_array().unwrap().len(), 2, "{a}");
    assert_eq!(
        a["items"][0]["subject"], "Same Co",
        "named by customer: {a}"
    );
}
both_backends!(same_state, same_state_story);

async fn blocks_story(app: &TestApp) {
    let (_, _) = setup(app, &["+442079460000-+442079469999"], None).await;
    let pkg = package(app, "Blocks", 20_000, None, None).await;
    let c = customer(app, "Block Co").await;
    let cp = client_package(app, c, &pkg).await;
    let path = format!("/api/v1/client-packages/{cp}/blocks");
    let alloc = |size: u32| {
        let body = json!({"size": size, "country": "GB", "number_type": "fixed_line",
            "destination": "sip:b@pbx.example.com", "reason": "order 7"});
        let path = path.clone();
        async move { app.post_json(&path, &body).await }
    };
    check_block_counts(app).await;
    // Break the pristine range with one assignment.
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"numbers": ["+442079465555"], "destination": "sip:b@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Best fit: each block comes from the most used enclosing block.
    let (s, v) = alloc(10).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["block"]["first"].as_str(), v["block"]["last"].as_str()),
        (Some("+442079465500"), Some("+442079465509"))
    );
    let (s, v) = alloc(100).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["block"]["first"], "+442079465000",
        "inside the broken thousand"
    );
    let (s, v) = alloc(1000).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["block"]["first"].as_str(), v["block"]["last"].as_str()),
        (Some("+442079460000"), Some("+442079460999"))
    );
    assert_eq!(v["assigned"], 1000);
    let (_, n) = app.get_json("/api/v1/dids/count?status=assigned").await;
    assert_eq!(n["count"], 1 + 10 + 100 + 1000);
    // Every DID of the block has its own audit entry (with the reason), and routes.
    let n: i64 = didhub_store::on!(app.store, |p| sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'did.assign' AND subject >= \
        '+442079460000' AND subject <= '+442079460999'"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(n, 1000);
    let (_, d) = app.get_json("/api/v1/dids?prefix=%2B442079460777").await;
    let id = d["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(d["items"][0]["status"], "assigned");
    let (_, h) = app.get_json(&format!("/api/v1/dids/{id}/history")).await;
    let last = &h.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "did.assign");
    assert_eq!(last["reason"], "order 7");
    // The whole entry, as both engines write it (PostgreSQL in the statement, SQLite from
    // the store's diff): one expectation keeps the two in step.
    assert_eq!(
        last["changes"],
        json!({
            "status": ["in_stock", "assigned"],
            "customer_id": [null, c.to_string()],
            "destination": [null, "sip:b@pbx.example.com"],
        })
    );
    let r = route(app, "+442079460777").await;
    assert_eq!(
        (r["reachable"].as_bool(), r["destination"].as_str()),
        (Some(true), Some("sip:b@pbx.example.com"))
    );
    // None left of 10,000: a clear answer with what there is.
    let (s, p) = alloc(10000).await;
    assert_eq!(s, 409, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("no free aligned block of 10000")
            && detail.contains("whole blocks of 1000"),
        "{detail}"
    );
    let (s, p) = alloc(50).await;
    assert_eq!(s, 422);
    assert_eq!(p["errors"][0]["field"], "size");
    let (s, a) = app
        .get_json("/api/v1/stock/blocks?country=GB&number_type=fixed_line")
        .await;
    assert_eq!(s, 200);
    assert_eq!(a[0]["free_blocks"], 10000 - 1111);
    check_block_counts(app).await;
    // Releasing returns the numbers to the counts.
    app.patch(&format!("/api/v1/client-packages/{cp}"))
        .json(&json!({"state": "terminated"}))
        .send()
        .await
        .unwrap();
    check_block_counts(app).await;
    let (_, a) = app
        .get_json("/api/v1/stock/blocks?country=GB&number_type=fixed_line")
        .await;
    assert_eq!(a[0]["free_blocks"], 10000);
    assert_eq!(a[3]["free_blocks"], 1, "the 10,000 block is whole again");
}
both_backends!(blocks, blocks_story);

/// A package that takes only DIDs with a tag gets blocks from the tagged stock, best fit among
/// them, and a clear answer naming the tag when there is none.
async fn tagged_blocks_story(app: &TestApp) {
    // Untagged stock first in number order, where the untagged search would look first.
    setup(app, &["+442079470000-+442079470999"], None).await;
    // Tagged: a whole hundred, and a hundred with one number taken (the better fit for 10).
    setup(app, &["+442079471000-+442079471099"], Some("gold")).await;
    setup(app, &["+442079472000-+442079472099"], Some("gold")).await;
    setup(app, &["+442079472100-+442079472199"], Some("silver")).await;
    let pkg = package(app, "Gold", 1_000, Some("gold"), None).await;
    let c = customer(app, "Gold Co").await;
    let cp = client_package(app, c, &pkg).await;
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"numbers": ["+442079472055"], "destination": "sip:g@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let path = format!("/api/v1/client-packages/{cp}/blocks");
    let alloc = |size: u32| {
        let body = json!({"size": size, "country": "GB", "number_type": "fixed_line",
            "destination": "sip:g@pbx.example.com"});
        let path = path.clone();
        async move { app.post_json(&path, &body).await }
    };
    let (s, v) = alloc(10).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["block"]["first"].as_str(), v["block"]["last"].as_str()),
        (Some("+442079472000"), Some("+442079472009")),
        "inside the tagged hundred already broken into"
    );
    let (s, v) = alloc(100).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["block"]["first"], "+442079471000");
    assert_eq!(v["assigned"], 100);
    let (_, d) = app
        .get_json("/api/v1/dids?prefix=%2B44207947100&limit=5")
        .await;
    assert!(d["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["tag"] == "gold" && d["status"] == "assigned"));
    // No whole tagged hundred is left (the untagged and silver ones do not count).
    let (s, p) = alloc(100).await;
    assert_eq!(s, 409, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("tagged 'gold'") && detail.contains("89 free numbers"),
        "{detail}"
    );
    assert!(detail.contains("8 whole blocks of 10,"), "{detail}");
    check_block_counts(app).await;
}
both_backends!(tagged_blocks, tagged_blocks_story);

/// In a plan with numbers of several lengths (Germany), a longer number that sorts inside a
/// block's range is not part of the block and stays in stock.
async fn variable_length_blocks_story(app: &TestApp) {
    setup(
        app,
        &[
            "+493012345600-+493012345609",
            "+4930123456001",
            "+4930123456099",
        ],
        None,
    )
    .await;
    let pkg = package(app, "Berlin", 100, None, None).await;
    let cp = client_package(app, customer(app, "Berlin Co").await, &pkg).await;
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/blocks"),
            &json!({"size": 10, "country": "DE", "number_type": "fixed_line", "destination": "sip:b@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["block"]["first"].as_str(),
            v["block"]["last"].as_str(),
            v["assigned"].as_i64()
        ),
        (Some("+493012345600"), Some("+493012345609"), Some(10))
    );
    for longer in ["%2B4930123456001", "%2B4930123456099"] {
        let (_, d) = app.get_json(&format!("/api/v1/dids?prefix={longer}")).await;
        assert_eq!(d["items"][0]["status"], "in_stock", "{d}");
    }
    check_block_counts(app).await;
}
both_backends!(variable_length_blocks, variable_length_blocks_story);

/// The in-memory routing table follows changes made elsewhere (another instance, straight
/// SQL): by polling recent changes, and by the full reload for a change whose timestamp is
/// older than the polling window (a long transaction that committed late).
async fn routing_follower_story(app: &TestApp) {
    let (_, dids) = setup(app, &["+442079480000-+442079480001"], None).await;
    let pkg = package(app, "Follow", 5, None, None).await;
    let c = customer(app, "Follow Co").await;
    let cp = client_package(app, c, &pkg).await;
    let (a, b) = ("+442079480000", "+442079480001");
    assert_eq!(dids[0]["number"], a);
    // `a` named twice, by number and by id: assigned once, counted once.
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"numbers": [a, b], "did_ids": [dids[0]["id"]], "destination": "sip:f@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    let (_, p) = app.get_json(&format!("/api/v1/client-packages/{cp}")).await;
    assert_eq!(p["did_count"], 2, "{p}");
    // This instance applied its own write at once.
    assert_eq!(route(app, a).await["reachable"], true);
    let table = &app.state.routing;
    table.refresh(&app.store).await.unwrap();
    // Another writer puts both on hold: one just now, one with a timestamp an hour old.
    let now = chrono::Utc::now();
    let old = now - chrono::Duration::hours(1);
    for (number, at) in [(a, now), (b, old)] {
        didhub_store::on!(app.store, |p| sqlx::query(
            "UPDATE dids SET status = 'hold', hold_until = $1, updated_at = $2 WHERE number = $3"
        )
        .bind(now + chrono::Duration::days(30))
        .bind(at)
        .bind(number)
        .execute(p)
        .await
        .unwrap()
        .rows_affected());
    }
    table.refresh(&app.store).await.unwrap();
    assert_eq!(route(app, a).await["reachable"], false, "seen by polling");
    assert_eq!(
        route(app, b).await["reachable"],
        true,
        "older than the polling window"
    );
    table.reload(&app.store).await.unwrap();
    let v = route(app, b).await;
    assert_eq!(v["reachable"], false, "the full reload sees it: {v}");
    assert_eq!(v["reason"], "hold");
}
both_backends!(
    #[ignore = "heavy tier: cargo test -- --ignored"]
    routing_follower,
    routing_follower_story
);

/// A routing change that commits long after its stamp (a transaction held open past the
/// polls' overlap) is still seen by the next poll: the follower's watermark waits for the
/// oldest open write transaction (PostgreSQL; SQLite has one writer at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routing_follower_waits_for_open_transactions_postgres() {
    let Some(app) = common::spawn_app(common::Db::Postgres).await else {
        eprintln!("{} not set: PostgreSQL run skipped", common::PG_ENV);
        return;
    };
    let (_, dids) = setup(&app, &["+442079481000"], None).await;
    let number = "+442079481000";
    let pkg = package(&app, "Slow commit", 10, None, None).await;
    let cp = client_package(&app, customer(&app, "Slow Co").await, &pkg).await;
    let (s, v) = app
        .post_json(
            &format!("/api/v1/client-packages/{cp}/dids"),
            &json!({"did_ids": [dids[0]["id"]], "destination": "sip:slow@pbx.example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let table = &app.state.routing;
    table.refresh(&app.store).await.unwrap();
    assert_eq!(route(&app, number).await["reachable"], true);
    // Another writer puts it on hold in a transaction stamped at its start and committed
    // 3 s later, while this instance keeps polling.
    let other = app.another_store().await;
    let didhub_store::Backend::Postgres(pool) = &other.backend else {
        panic!("a PostgreSQL app has a PostgreSQL store");
    };
    let mut tx = pool.begin().await.unwrap();
    let n = sqlx::query(
        "UPDATE dids SET status = 'hold', hold_until = now() + interval '30 days', \
        updated_at = now(), version = version + 1 WHERE number = $1",
    )
    .bind(number)
    .execute(&mut *tx)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(n, 1);
    for _ in 0..12 {
        table.refresh(&app.store).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(
        route(&app, number).await["reachable"],
        true,
        "not committed yet"
    );
    let horizon = std::time::Duration::from_secs(300);
    let open = app
        .store
        .assignment()
        .oldest_open_write(horizon)
        .await
        .unwrap();
    assert!(
        open.is_some_and(|t| t <= chrono::Utc::now() - chrono::Duration::seconds(2)),
        "the open transaction holds the watermark: {open:?}"
    );
    // An import's transaction (named as one that routes nothing) does not; a session of an
    // instance named otherwise in its URL does.
    let begun = chrono::Utc::now();
    let mut import = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL application_name = 'didhub no-routing'")
        .execute(&mut *import)
        .await
        .unwrap();
    sqlx::query("SELECT txid_current()")
        .execute(&mut *import)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let url = app.database_url().expect("a PostgreSQL app has its URL");
    let mut other_instance = <sqlx::PgConnection as sqlx::Connection>::connect(&format!(
        "{url}?application_name=didhub-b"
    ))
    .await
    .unwrap();
    let b_before = chrono::Utc::now();
    let mut b_tx = sqlx::Connection::begin(&mut other_instance).await.unwrap();
    sqlx::query("SELECT txid_current()")
        .execute(&mut *b_tx)
        .await
        .unwrap();
    let open = app
        .store
        .assignment()
        .oldest_open_write(horizon)
        .await
        .unwrap();
    assert!(
        open.is_some_and(|t| t > begun + chrono::Duration::milliseconds(400)),
        "the other instance's transaction holds it, not the import's: {open:?}, import begun \
         {begun}, the other's {b_before}"
    );
    b_tx.rollback().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let open = app
        .store
        .assignment()
        .oldest_open_write(horizon)
        .await
        .unwrap();
    // (didhub's own short background transactions may be open at this instant: they began
    // after the import.)
    assert!(
        open.is_none_or(|t| t > begun + chrono::Duration::seconds(1)),
        "{open:?}, the import began at {begun}"
    );
    import.rollback().await.unwrap();
    table.refresh(&app.store).await.unwrap();
    let v = route(&app, number).await;
    assert_eq!(v["reachable"], false, "the next poll sees it: {v}");
    assert_eq!(v["reason"], "hold", "{v}");
    other.close().await;
    app.stop().await;
}

/// A single assignment that waits on a package edit applies the edited rule, not the one of
/// its start (PostgreSQL: the edit holds the client package row; the assignment's one
/// statement re-reads that row, with the rule copied onto it, once the edit commits).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rule_edit_race_postgres() {
    let Some(app) = common::spawn_app(common::Db::Postgres).await else {
        eprintln!("{} not set: PostgreSQL run skipped", common::PG_ENV);
        return;
    };
    let (_, dids) = setup(&app, &["+442079540000"], None).await;
    let did = dids[0]["id"].as_str().unwrap().to_string();
    let pkg = package(&app, "Racy", 10, None, None).await;
    let cp = client_package(&app, customer(&app, "Racy Co").await, &pkg).await;
    let cp_id = Uuid::parse_str(&cp).unwrap();
    let r = app
        .get(&format!("/api/v1/packages/{pkg}"))
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let blocker = app.another_store().await;
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    // 1. Another session holds the client package row.
    let hold = hold_lock(
        &blocker,
        "SELECT id FROM client_packages WHERE id = $1 FOR UPDATE",
        cp_id,
        locked_tx,
        release_rx,
    );
    let waiting = |like: &'static str| {
        let store = app.store.clone();
        async move {
            for _ in 0..400 {
                let n: i64 = didhub_store::on!(store, |p| sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                    AND wait_event_type = 'Lock' AND query LIKE $1"
                )
                .bind(like)
                .fetch_one(p)
                .await)
                .unwrap();
                if n > 0 {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            false
        }
    };
    let race = async {
        locked_rx.await.expect("the row is held");
        // 2. The edit (the package now takes tag "gold") waits for the row...
        let edit = app
            .client
            .put(app.url(&format!("/api/v1/packages/{pkg}")))
            .bearer_auth(&app.token)
            .header("If-Match", &etag)
            .json(&json!({"name": "Racy", "did_allowance": 10, "tag": "gold",
                "prices": [{"term_kind": "monthly", "currency": "EUR", "amount": "10.00"}]}))
            .send();
        let edit = tokio::spawn(edit);
        assert!(
            waiting("SELECT id, did_count FROM client_packages%").await,
            "the edit waits"
        );
        // 3. ...then the assignment of an untagged DID, which started under the old rule.
        let assign = app
            .client
            .post(app.url(&format!("/api/v1/client-packages/{cp}/dids")))
            .bearer_auth(&app.token)
            .json(&json!({"did_ids": [did], "destination": "sip:r@pbx.example.com"}))
            .send();
        let assign = tokio::spawn(assign);
        assert!(waiting("WITH cp AS%").await, "the assignment waits");
        // 4. The row goes; the edit commits first, and the assignment applies its rule.
        let _ = release_tx.send(());
        let edit = edit.await.unwrap().unwrap();
        let assign = assign.await.unwrap().unwrap();
        (
            edit.status().as_u16(),
            assign.status().as_u16(),
            assign.json::<Value>().await.unwrap(),
        )
    };
    let (held, (edit, assign, body)) = tokio::join!(hold, race);
    held.unwrap();
    assert_eq!(edit, 200);
    assert_eq!(assign, 422, "the edited rule applies: {body}");
    assert!(body["detail"].as_str().unwrap().contains("tag"), "{body}");
    let (_, d) = app.get_json(&format!("/api/v1/dids/{did}")).await;
    assert_eq!(d["status"], "in_stock");
    blocker.close().await;
    app.stop().await;
}
