//! Orders over HTTP: quote → order → submit → register → complete, porting with documents
//! awaited, numbers rejected one by one and a moved date, the partner's scope, and the
//! operations lists.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::common::{self, TestApp};

async fn send(app: &TestApp, r: reqwest::RequestBuilder) -> (u16, Value) {
    let _ = app;
    let r = r.send().await.expect("request");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn act(app: &TestApp, id: &str, action: &str, body: Value) -> (u16, Value) {
    send(
        app,
        app.post(&format!("/api/v1/orders/{id}/{action}"))
            .json(&body),
    )
    .await
}

async fn act_empty(app: &TestApp, id: &str, action: &str) -> (u16, Value) {
    send(app, app.post(&format!("/api/v1/orders/{id}/{action}"))).await
}

fn fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(String::from))
        .collect()
}

fn states(timeline: &Value) -> Vec<String> {
    timeline
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["to_state"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A customer without a license (so: quotes first) and its client package.
async fn customer(app: &TestApp, name: &str) -> (String, String) {
    let (c, cp) = common::customer_with_package(&app.store, name, 100).await;
    (c.to_string(), cp.to_string())
}

/// A 1×1 PNG (an invoice's scan).
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\
    \rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

const ADDRESS: &str =
    r#"{"street": "10 Downing Street", "city": "London", "postcode": "SW1A 2AA"}"#;

async fn new_dids_from_quote_to_completion(app: &TestApp) {
    let (customer, cp) = customer(app, "Quote Ltd").await;
    let (s, o) = send(
        app,
        app.post("/api/v1/orders")
            .json(&json!({"customer_id": customer, "country": "GB",
            "service": "new_dids", "range_size": 1, "quantity": 2})),
    )
    .await;
    assert_eq!((s, o["state"].as_str()), (201, Some("quote")), "{o}");
    let id = o["id"].as_str().unwrap().to_string();
    let missing: Vec<&str> = o["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["field"].as_str())
        .collect();
    assert!(
        missing.contains(&"address.street") && missing.contains(&"area_code"),
        "{o}"
    );
    // A quote cannot be registered, nor submitted while its fields are missing.
    assert_eq!(act(app, &id, "register", json!({})).await.0, 409);
    let (s, c) = act_empty(app, &id, "confirm").await;
    assert_eq!((s, c["state"].as_str()), (200, Some("draft")), "{c}");
    let (s, e) = act_empty(app, &id, "submit").await;
    assert_eq!(s, 422, "{e}");
    assert!(fields(&e).contains(&"address.city".to_string()), "{e}");
    // Finalise: the fields by merge patch.
    let patch =
        json!({"area_code": "20", "address": serde_json::from_str::<Value>(ADDRESS).unwrap()});
    let (s, d) = send(app, app.patch(&format!("/api/v1/orders/{id}")).json(&patch)).await;
    assert_eq!(
        (s, d["problems"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{d}"
    );
    let (s, sub) = act_empty(app, &id, "submit").await;
    assert_eq!(
        (s, sub["state"].as_str()),
        (200, Some("submitted")),
        "{sub}"
    );
    let promised: NaiveDate = sub["promised_by"].as_str().unwrap().parse().unwrap();
    assert!(promised > Utc::now().date_naive(), "{sub}");
    // Its fields are fixed once submitted.
    let (s, _) = send(
        app,
        app.patch(&format!("/api/v1/orders/{id}"))
            .json(&json!({"quantity": 3})),
    )
    .await;
    assert_eq!(s, 409);
    // No stock yet: the order waits, saying what is missing.
    let reg = json!({"client_package_id": cp, "destination": "sip:pbx@example.com"});
    let (s, w) = act(app, &id, "register", reg.clone()).await;
    assert_eq!(
        (s, w["state"].as_str()),
        (200, Some("awaiting_stock")),
        "{w}"
    );
    assert!(w["missing"].as_str().unwrap().contains("+4420"), "{w}");
    let op = app.operator("Acme").await;
    app.create(&op, &["+442079460100", "+442079460101", "+441614960000"])
        .await;
    let (s, r) = act(app, &id, "register", reg).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("registered")), "{r}");
    let numbers: Vec<&str> = r["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["+442079460100", "+442079460101"], "{r}");
    let (_, did) = app.get_json("/api/v1/dids?prefix=%2B442079460100").await;
    assert_eq!(did["items"][0]["status"], "assigned", "{did}");
    let (s, done) = act(app, &id, "complete", json!({})).await;
    assert_eq!(
        (s, done["state"].as_str()),
        (200, Some("completed")),
        "{done}"
    );
    assert_eq!(act(app, &id, "cancel", json!({})).await.0, 409);
    let (_, t) = app.get_json(&format!("/api/v1/orders/{id}/timeline")).await;
    assert_eq!(
        states(&t),
        [
            "quote",
            "draft",
            "submitted",
            "awaiting_stock",
            "registered",
            "completed"
        ],
        "{t}"
    );
    assert!(t[0]["actor"].as_str().unwrap().starts_with("user:"), "{t}");
    let (_, audit) = app.get_json(&format!("/api/v1/audit?entity_id={id}")).await;
    assert!(audit["items"].as_array().unwrap().len() >= 6, "{audit}");
}
both_backends!(
    new_dids_from_quote_to_completion,
    new_dids_from_quote_to_completion
);

/// A porting order `lead` days ahead, confirmed to a draft.
async fn porting_draft(app: &TestApp, customer: &str, numbers: &[&str]) -> String {
    let date = Utc::now().date_naive() + Duration::days(30);
    let (s, o) = send(
        app,
        app.post("/api/v1/orders")
            .json(&json!({"customer_id": customer, "country": "GB",
            "service": "full_porting", "numbers": numbers, "preferred_date": date.to_string(),
            "contact_email": "port@example.com",
            "address": serde_json::from_str::<Value>(ADDRESS).unwrap()})),
    )
    .await;
    assert_eq!(s, 201, "{o}");
    let id = o["id"].as_str().unwrap().to_string();
    assert_eq!(act_empty(app, &id, "confirm").await.0, 200);
    id
}

async fn route(app: &TestApp, number: &str) -> Value {
    app.get_json(&format!("/api/v1/routing/{}", number.replace('+', "%2B")))
        .await
        .1
}

async fn porting_waits_for_documents_and_rejects_numbers_one_by_one(app: &TestApp) {
    let (customer, cp) = customer(app, "Port Ltd").await;
    let op = app.operator("Gaining").await;
    let numbers = ["+442079460200", "+442079460201", "+442079460202"];
    let id = porting_draft(app, &customer, &numbers).await;
    let (s, o) = act_empty(app, &id, "submit").await;
    assert_eq!(
        (s, o["state"].as_str()),
        (200, Some("awaiting_documents")),
        "{o}"
    );
    assert_eq!(o["numbers"].as_array().unwrap().len(), 3, "{o}");
    // The letter to sign comes pre-filled with every number; signed, it is uploaded back
    // with the last invoice, and the order goes on.
    let r = app
        .get(&format!("/api/v1/orders/{id}/loa.pdf"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let letter = r.bytes().await.unwrap().to_vec();
    assert!(letter.starts_with(b"%PDF"), "a PDF");
    let partner = o["partner_id"].as_str().unwrap().to_string();
    for (kind, name, bytes) in [
        ("loa", "loa.pdf", letter),
        ("invoice", "invoice.png", PNG.to_vec()),
    ] {
        let form = reqwest::multipart::Form::new()
            .text("kind", kind)
            .text("partner_id", partner.clone())
            .text("subject_kind", "order")
            .text("subject_id", id.clone())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
        let r = app
            .post("/api/v1/documents")
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            201,
            "{}",
            r.text().await.unwrap_or_default()
        );
    }
    let (s, o) = act_empty(app, &id, "submit").await;
    assert_eq!((s, o["state"].as_str()), (200, Some("submitted")), "{o}");
    assert_eq!(o["documents"].as_array().map(Vec::len), Some(2), "{o}");
    assert_eq!(o["promised_by"], o["body"]["preferred_date"], "{o}");
    let (s, e) = act(app, &id, "register", json!({})).await;
    assert_eq!(
        (s, fields(&e)),
        (422, vec!["operator_id".to_string()]),
        "{e}"
    );
    let (s, o) = act(app, &id, "register", json!({"operator_id": op})).await;
    assert_eq!((s, o["state"].as_str()), (200, Some("registered")), "{o}");
    // In the inventory as porting: outbound calls at once, no inbound (no IVP), no emergency.
    let (_, d) = app.get_json("/api/v1/dids?prefix=%2B44207946020").await;
    let statuses: Vec<&str> = d["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["porting", "porting", "porting"], "{d}");
    let r = route(app, "+442079460200").await;
    assert_eq!(
        (
            r["reachable"].as_bool(),
            r["reason"].as_str(),
            r["outbound"].as_bool(),
            r["emergency"].as_bool()
        ),
        (Some(false), Some("porting"), Some(true), Some(false)),
        "{r}"
    );
    // One number refused by the losing operator: the others go on.
    let (s, o) = act(
        app,
        &id,
        "reject",
        json!({"code": "number_not_portable", "numbers": ["0044 20 7946 0201"]}),
    )
    .await;
    assert_eq!((s, o["state"].as_str()), (200, Some("registered")), "{o}");
    let rejected: Vec<&Value> = o["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["state"] == "rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{o}");
    assert_eq!(rejected[0]["reject_code"], "number_not_portable");
    // Its DID leaves service.
    let (_, d) = app.get_json("/api/v1/dids?prefix=%2B442079460201").await;
    assert_eq!(d["items"][0]["status"], "archive", "{d}");
    // A number not in the order is refused, and nothing changes.
    let (s, _) = act(
        app,
        &id,
        "reject",
        json!({"code": "other", "numbers": ["+442079460999"]}),
    )
    .await;
    assert_eq!(s, 422);
    // Dates: set, then moved only with a reason, which the timeline keeps.
    let first = Utc::now().date_naive() + Duration::days(31);
    let (s, o) = act(app, &id, "schedule", json!({"date": first})).await;
    assert_eq!((s, o["state"].as_str()), (200, Some("scheduled")), "{o}");
    let later = first + Duration::days(7);
    let (s, e) = act(app, &id, "schedule", json!({"date": later})).await;
    assert_eq!((s, fields(&e)), (422, vec!["reason".to_string()]), "{e}");
    let (s, o) = act(
        app,
        &id,
        "schedule",
        json!({"date": later, "reason": "losing operator asked"}),
    )
    .await;
    assert_eq!(
        (s, o["promised_by"].as_str()),
        (200, Some(later.to_string().as_str())),
        "{o}"
    );
    // Completion assigns the ported numbers to the customer: they need a package.
    let (s, e) = act(app, &id, "complete", json!({})).await;
    assert_eq!(s, 422, "{e}");
    let done = json!({"client_package_id": cp, "destination": "sip:pbx@port.example.com"});
    let (s, o) = act(app, &id, "complete", done).await;
    assert_eq!(s, 200, "{o}");
    let r = route(app, "+442079460202").await;
    assert_eq!(
        (
            r["reachable"].as_bool(),
            r["destination"].as_str(),
            r["emergency"].as_bool()
        ),
        (Some(true), Some("sip:pbx@port.example.com"), Some(true)),
        "{r}"
    );
    let completed = o["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["state"] == "completed")
        .count();
    assert_eq!(completed, 2, "{o}");
    // Every change of state mailed the order's contact, through the outbox.
    let (_, outbox) = app.get_json("/api/v1/outbox?limit=100").await;
    let mut subjects: Vec<&str> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["about"]["id"] == o["id"] && m["to"] == json!(["port@example.com"]))
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    subjects.reverse();
    let n = o["ref"].as_i64().unwrap();
    let expected: Vec<String> = [
        "awaiting documents",
        "submitted",
        "registered",
        "registered",
        "scheduled",
        "scheduled",
        "completed",
    ]
    .iter()
    .map(|s| format!("Order #{n}: {s}"))
    .collect();
    assert!(
        subjects.ends_with(&expected.iter().map(String::as_str).collect::<Vec<_>>()),
        "{subjects:?}"
    );
    let (_, t) = app.get_json(&format!("/api/v1/orders/{id}/timeline")).await;
    let moved = t
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["reason"] == "losing operator asked");
    assert!(moved, "{t}");
}
both_backends!(
    porting_waits_for_documents_and_rejects_numbers_one_by_one,
    porting_waits_for_documents_and_rejects_numbers_one_by_one
);

async fn rejecting_every_number_rejects_the_order(app: &TestApp) {
    let (customer, _) = customer(app, "Gone Ltd").await;
    let id = porting_draft(app, &customer, &["+442079460300"]).await;
    send(
        app,
        app.patch(&format!("/api/v1/orders/{id}"))
            .json(&json!({"documents": ["loa", "invoice"]})),
    )
    .await;
    assert_eq!(act_empty(app, &id, "submit").await.0, 200);
    let (s, o) = act(
        app,
        &id,
        "reject",
        json!({"code": "details_mismatch", "numbers": ["+442079460300"], "reason": "name differs"}),
    )
    .await;
    assert_eq!((s, o["state"].as_str()), (200, Some("rejected")), "{o}");
    assert_eq!(o["reject_code"], "details_mismatch");
    // Final: nothing leaves it.
    assert_eq!(act(app, &id, "complete", json!({})).await.0, 409);
}
both_backends!(
    rejecting_every_number_rejects_the_order,
    rejecting_every_number_rejects_the_order
);

async fn a_stale_version_is_refused(app: &TestApp) {
    let (customer, _) = customer(app, "Race Ltd").await;
    let id = porting_draft(app, &customer, &["+442079460400"]).await;
    let r = app
        .patch(&format!("/api/v1/orders/{id}"))
        .header("If-Match", "\"1\"")
        .json(&json!({"comments": "late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 412);
    let (_, o) = app.get_json(&format!("/api/v1/orders/{id}")).await;
    assert!(o["body"]["comments"].is_null(), "{o}");
}
both_backends!(a_stale_version_is_refused, a_stale_version_is_refused);

async fn bad_orders_are_refused_whole(app: &TestApp) {
    let (customer, _) = customer(app, "Bad Ltd").await;
    let (s, e) = send(
        app,
        app.post("/api/v1/orders")
            .json(&json!({"customer_id": customer, "country": "GB",
            "service": "fax", "colour": "red"})),
    )
    .await;
    assert_eq!(s, 422, "{e}");
    let mut f = fields(&e);
    f.sort();
    assert_eq!(f, ["colour", "service"], "{e}");
    let (s, e) = send(
        app,
        app.post("/api/v1/orders")
            .json(&json!({"customer_id": uuid::Uuid::now_v7(),
            "country": "GB", "service": "new_dids"})),
    )
    .await;
    assert_eq!(
        (s, fields(&e)),
        (422, vec!["customer_id".to_string()]),
        "{e}"
    );
    let (_, list) = app.get_json("/api/v1/orders").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
    let (s, e) = app.get_json("/api/v1/orders?state=done").await;
    assert_eq!((s, fields(&e)), (422, vec!["state".to_string()]), "{e}");
}
both_backends!(bad_orders_are_refused_whole, bad_orders_are_refused_whole);

/// An order in Saudi Arabia signed on `signed`: promised 3 working days later.
async fn signed_sa_order(app: &TestApp, customer: &str, signed: NaiveDate) -> Value {
    let (s, o) = send(
        app,
        app.post("/api/v1/orders")
            .json(&json!({"customer_id": customer, "country": "SA",
            "service": "new_dids", "range_size": 1, "quantity": 1, "area_code": "11",
            "contact_email": "it@example.com",
            "address": {"street": "King Fahd Road 5", "city": "Riyadh", "postcode": "12211"}})),
    )
    .await;
    assert_eq!(s, 201, "{o}");
    let id = o["id"].as_str().unwrap().to_string();
    act_empty(app, &id, "confirm").await;
    let (s, o) = act_empty(app, &id, "submit").await;
    assert_eq!(
        (s, o["state"].as_str()),
        (200, Some("awaiting_signature")),
        "{o}"
    );
    assert!(o["promised_by"].is_null(), "{o}");
    let at = format!("{signed}T10:00:00Z");
    let (s, o) = act(app, &id, "sign", json!({"signed_at": at})).await;
    assert_eq!((s, o["state"].as_str()), (200, Some("submitted")), "{o}");
    o
}

async fn operations_see_overdue_and_at_risk_orders(app: &TestApp) {
    let (customer, _) = customer(app, "Riyadh Ltd").await;
    let cal = didhub_core::calendar::Calendar::for_country("SA").expect("SA calendar");
    let today = Utc::now().date_naive();
    let o = signed_sa_order(app, &customer, today - Duration::days(20)).await;
    let late = o["id"].as_str().unwrap().to_string();
    assert_eq!(
        o["promised_by"].as_str().unwrap(),
        cal.add_working_days(today - Duration::days(20), 3)
            .unwrap()
            .to_string()
    );
    // A signing day whose promise falls today or on the next working day.
    let next = cal.add_working_days(today, 1).unwrap();
    let day = (1..15)
        .map(|k| today - Duration::days(k))
        .find(|d| {
            let p = cal.add_working_days(*d, 3).unwrap();
            p >= today && p <= next
        })
        .expect("a signing day");
    let risky = signed_sa_order(app, &customer, day).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    signed_sa_order(app, &customer, today).await;
    let (s, over) = app.get_json("/api/v1/orders?attention=overdue").await;
    assert_eq!(s, 200, "{over}");
    let ids: Vec<&str> = over["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [late.as_str()], "{over}");
    let (_, risk) = app.get_json("/api/v1/orders?attention=at_risk").await;
    let ids: Vec<&str> = risk["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [risky.as_str()], "{risk}");
    assert_eq!(risk["items"][0]["attention"], "at_risk");
}
both_backends!(
    operations_see_overdue_and_at_risk_orders,
    operations_see_overdue_and_at_risk_orders
);

/// Moves an order's IVP promise (the lists are about today; orders are submitted today).
async fn set_ivp_by(app: &TestApp, id: &str, day: NaiveDate) {
    let id: uuid::Uuid = id.parse().unwrap();
    let q = "UPDATE orders SET ivp_by = $1 WHERE id = $2";
    match &app.store.backend {
        didhub_store::Backend::Postgres(p) => {
            sqlx::query(q).bind(day).bind(id).execute(p).await.unwrap();
        }
        didhub_store::Backend::Sqlite(p) => {
            sqlx::query(q).bind(day).bind(id).execute(p).await.unwrap();
        }
    }
}

async fn instant_virtual_porting_forwards_inbound_calls_before_completion(app: &TestApp) {
    let (customer, _) = customer(app, "Ivp Ltd").await;
    let op = app.operator("Gaining").await;
    let id = porting_draft(app, &customer, &["+442079460500"]).await;
    let patch = json!({"documents": ["loa", "invoice"], "ivp": true});
    assert_eq!(
        send(app, app.patch(&format!("/api/v1/orders/{id}")).json(&patch))
            .await
            .0,
        200
    );
    let (s, sub) = act_empty(app, &id, "submit").await;
    assert_eq!(s, 200, "{sub}");
    // Inbound calls are promised 2 GB working days from submission, before the porting date.
    let today = Utc::now().date_naive();
    let gb = app.store.calendar().calendar("GB").await.unwrap();
    let ivp_by = gb.add_working_days(today, 2).unwrap();
    assert_eq!(sub["ivp_by"], json!(ivp_by), "{sub}");
    let promised: NaiveDate = sub["promised_by"].as_str().unwrap().parse().unwrap();
    assert!(promised > ivp_by, "{sub}");
    // Still unregistered once that day has passed, the order is overdue.
    set_ivp_by(app, &id, today - Duration::days(1)).await;
    let (_, late) = app.get_json("/api/v1/orders?attention=overdue").await;
    assert!(
        late["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == json!(id)),
        "{late}"
    );
    let (s, e) = act(app, &id, "register", json!({"operator_id": op})).await;
    assert_eq!(
        (s, fields(&e)),
        (422, vec!["destination".to_string()]),
        "{e}"
    );
    let reg = json!({"operator_id": op, "destination": "sip:ivp@example.com"});
    assert_eq!(act(app, &id, "register", reg).await.0, 200);
    // Registered, inbound calls work: the IVP promise is kept; the porting date remains.
    let (_, late) = app.get_json("/api/v1/orders?attention=overdue").await;
    assert!(
        !late["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == json!(id)),
        "{late}"
    );
    let r = route(app, "+442079460500").await;
    assert_eq!(
        (
            r["reachable"].as_bool(),
            r["destination"].as_str(),
            r["outbound"].as_bool(),
            r["emergency"].as_bool()
        ),
        (
            Some(true),
            Some("sip:ivp@example.com"),
            Some(true),
            Some(false)
        ),
        "{r}"
    );
    // Cancelled by operations: the number leaves service.
    let (s, o) = act(app, &id, "cancel", json!({"reason": "customer withdrew"})).await;
    assert_eq!((s, o["state"].as_str()), (200, Some("cancelled")), "{o}");
    let r = route(app, "+442079460500").await;
    assert_eq!(r["reachable"], false, "{r}");
    let (_, d) = app.get_json("/api/v1/dids?prefix=%2B442079460500").await;
    assert_eq!(d["items"][0]["status"], "archive", "{d}");
}
both_backends!(
    instant_virtual_porting_forwards_inbound_calls_before_completion,
    instant_virtual_porting_forwards_inbound_calls_before_completion
);

async fn outbound_only_registers_numbers_and_a_virtual_did(app: &TestApp) {
    let (customer, cp) = customer(app, "Out Ltd").await;
    let (s, o) = send(
        app,
        app.post("/api/v1/orders")
            .json(&json!({"customer_id": customer, "country": "GB",
            "service": "outbound_only", "numbers": ["+442079460600"], "virtual_number": true})),
    )
    .await;
    assert_eq!(s, 201, "{o}");
    let id = o["id"].as_str().unwrap().to_string();
    act_empty(app, &id, "confirm").await;
    let (s, o) = act_empty(app, &id, "submit").await;
    assert_eq!((s, o["state"].as_str()), (200, Some("submitted")), "{o}");
    let op = app.operator("Acme").await;
    app.create(&op, &["+442079460700"]).await;
    let reg = json!({"client_package_id": cp, "destination": "sip:v@example.com"});
    let (s, o) = act(app, &id, "register", reg).await;
    assert_eq!((s, o["state"].as_str()), (200, Some("registered")), "{o}");
    let numbers: Vec<(&str, &str)> = o["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["number"].as_str().unwrap(), n["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        numbers,
        [
            ("+442079460600", "registered"),
            ("+442079460700", "registered")
        ],
        "{o}"
    );
    // The presented number stays with the customer's operator: not in the inventory.
    let (_, d) = app.get_json("/api/v1/dids?prefix=%2B442079460600").await;
    assert_eq!(d["items"].as_array().map(Vec::len), Some(0), "{d}");
    let (_, d) = app.get_json("/api/v1/dids?prefix=%2B442079460700").await;
    assert_eq!(d["items"][0]["status"], "assigned", "{d}");
}
both_backends!(
    outbound_only_registers_numbers_and_a_virtual_did,
    outbound_only_registers_numbers_and_a_virtual_did
);

/// A partner user's token.
async fn partner_token(app: &TestApp, partner: uuid::Uuid, email: &str) -> String {
    let sys = didhub_store::Actor::system();
    let u = app
        .store
        .accounts()
        .create_user(
            &sys,
            None,
            email,
            didhub_core::access::Role::PartnerMember,
            Some(partner),
            None,
        )
        .await
        .unwrap();
    app.store
        .accounts()
        .create_token(&sys, u.id, "t", None)
        .await
        .unwrap()
        .1
}

async fn partners_order_for_their_own_customers_only(app: &TestApp) {
    use didhub_store::accounts::orgs::Scope;
    let sys = didhub_store::Actor::system();
    let s = &app.store;
    let pa = s
        .accounts()
        .create_partner(&sys, "Partner A")
        .await
        .unwrap()
        .id;
    let pb = s
        .accounts()
        .create_partner(&sys, "Partner B")
        .await
        .unwrap()
        .id;
    let ca = s
        .accounts()
        .create_customer(&sys, Scope::All, pa, "A's customer")
        .await
        .unwrap()
        .id;
    let cb = s
        .accounts()
        .create_customer(&sys, Scope::All, pb, "B's customer")
        .await
        .unwrap()
        .id;
    let a = partner_token(app, pa, "a@a.example").await;
    let b = partner_token(app, pb, "b@b.example").await;
    let order = |c: uuid::Uuid| {
        json!({"customer_id": c, "country": "GB", "service": "outbound_only",
        "numbers": ["+442079460800"]})
    };
    let post = |t: &str, body: Value| {
        app.client
            .post(app.url("/api/v1/orders"))
            .bearer_auth(t.to_string())
            .json(&body)
    };
    let (s1, o) = send(app, post(&a, order(ca))).await;
    assert_eq!(
        (s1, o["partner_id"].as_str()),
        (201, Some(pa.to_string().as_str())),
        "{o}"
    );
    // Another partner's customer is no customer of theirs.
    let (s2, e) = send(app, post(&a, order(cb))).await;
    assert_eq!(
        (s2, fields(&e)),
        (422, vec!["customer_id".to_string()]),
        "{e}"
    );
    let id = o["id"].as_str().unwrap();
    let get = |t: &str, path: String| app.client.get(app.url(&path)).bearer_auth(t.to_string());
    let (s3, _) = send(app, get(&b, format!("/api/v1/orders/{id}"))).await;
    assert_eq!(s3, 404);
    let (s4, _) = send(app, get(&b, format!("/api/v1/orders/{id}/timeline"))).await;
    assert_eq!(s4, 404);
    let (_, list) = send(app, get(&b, "/api/v1/orders".into())).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
    let (_, list) = send(app, get(&a, "/api/v1/orders".into())).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    // Operations' steps are not theirs: 404, as any route they may not use.
    let r = app
        .client
        .post(app.url(&format!("/api/v1/orders/{id}/register")))
        .bearer_auth(&a)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}
both_backends!(
    partners_order_for_their_own_customers_only,
    partners_order_for_their_own_customers_only
);

async fn ranges_come_from_the_area_ordered(app: &TestApp) {
    let (customer, cp) = customer(app, "Range Ltd").await;
    let order = json!({"customer_id": customer, "country": "GB", "service": "new_dids",
        "range_size": 10, "quantity": 1, "area_code": "020",
        "address": serde_json::from_str::<Value>(ADDRESS).unwrap()});
    let (s, o) = send(app, app.post("/api/v1/orders").json(&order)).await;
    assert_eq!(s, 201, "{o}");
    let id = o["id"].as_str().unwrap().to_string();
    assert_eq!(act_empty(app, &id, "confirm").await.0, 200);
    assert_eq!(act_empty(app, &id, "submit").await.0, 200);
    // A whole free block of 10 in Manchester (+44161…), first in number order, and one in
    // London (+4420…); another London ten is one number short.
    let op = app.operator("Acme").await;
    let block = |p: &str, n: u32| (0..n).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
    let mut numbers = block("+44161496000", 10);
    numbers.extend(block("+44207946030", 9));
    numbers.extend(block("+44207946020", 10));
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    app.create(&op, &refs).await;
    let reg = json!({"client_package_id": cp, "destination": "sip:pbx@example.com"});
    let (s, r) = act(app, &id, "register", reg).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("registered")), "{r}");
    let got: Vec<&str> = r["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["number"].as_str().unwrap())
        .collect();
    assert_eq!(got, block("+44207946020", 10), "{r}");
    // Asked of the API directly, a block outside any stock of the area is refused, naming
    // what there is; a prefix that is no prefix names the field.
    let body = |within: &str| {
        json!({"size": 10, "country": "GB", "number_type": "fixed_line", "within": within,
            "destination": "sip:pbx@example.com"})
    };
    let path = format!("/api/v1/client-packages/{cp}/blocks");
    let (s, e) = send(app, app.post(&path).json(&body("+4420"))).await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["detail"].as_str().unwrap().contains("9 free numbers"),
        "{e}"
    );
    let (s, e) = send(app, app.post(&path).json(&body("4420x"))).await;
    assert_eq!((s, fields(&e)), (422, vec!["within".to_string()]), "{e}");
    let (s, a) = send(app, app.post(&path).json(&body("+44161"))).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["block"]["first"], "+441614960000", "{a}");
}
both_backends!(
    ranges_come_from_the_area_ordered,
    ranges_come_from_the_area_ordered
);
