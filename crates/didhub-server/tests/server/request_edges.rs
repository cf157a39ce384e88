//! Hostile and careless requests at the edges (issue 18, points 3 to 5): terminal escapes sent
//! as a login, a token used across its expiry, query strings, HEAD, over-long URLs, dates
//! beyond four-digit years, currencies that are no money and negative zero.

use crate::common;

use std::io::{Read, Write};

use crate::common::TestApp;
use didhub_core::access::Role;
use didhub_store::accounts::orgs::Scope;
use didhub_store::Actor;
use serde_json::{json, Value};

/// What must never reach a terminal raw (an oracle of its own, not the rule under test).
fn is_unsafe_to_show(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The probe: an escape sequence that clears the screen, a bell, a newline that would start a
/// forged line, a tab that would make a column, a right-to-left override.
const PROBE: &str = "evil\u{1b}[2J\u{7}\nforged\tcolumn\u{202e}@x.example";

/// A login as a stranger types it is kept escaped in the audit log, and still recorded.
async fn login_probe_story(app: &TestApp) {
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": PROBE, "password": "wrong password, surely"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (s, a) = app.get_json("/api/v1/audit?action=auth.login_failed").await;
    assert_eq!(s, 200, "{a}");
    let items = a["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the failure is recorded: {a}");
    let subject = items[0]["subject"].as_str().unwrap();
    assert!(!subject.chars().any(is_unsafe_to_show), "{subject:?}");
    assert_eq!(
        subject,
        "evil\\u{1b}[2j\\u{7}\\nforged\\tcolumn\\u{202e}@x.example"
    );
    // Failures of that address still count towards its throttle (the same escaped key).
    for _ in 0..12 {
        let _ = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": PROBE, "password": "wrong password, surely"}))
            .send()
            .await
            .unwrap();
    }
    let (_, a) = app
        .get_json("/api/v1/audit?action=auth.login_throttled")
        .await;
    let subjects: Vec<&str> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["subject"].as_str())
        .collect();
    assert!(!subjects.is_empty(), "throttled: {a}");
    assert!(subjects.iter().all(|s| !s.chars().any(is_unsafe_to_show)));
    // An account cannot be made with such an address either (the e-mail rule).
    let (s, p) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "a\u{202e}b@x.example", "role": "support"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "email", "{p}");
}
both_backends!(login_probe, login_probe_story);

/// A token used before its expiry is cached; after it, it is refused at once, not when the
/// cache entry ages out.
async fn expiry_story(app: &TestApp) {
    let expires = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (s, t) = app
        .post_json(
            "/api/v1/tokens",
            &json!({"name": "short", "expires_at": expires.to_rfc3339()}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let secret = t["secret"].as_str().unwrap().to_string();
    let me = || {
        app.client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(&secret)
            .send()
    };
    assert_eq!(me().await.unwrap().status(), 200);
    assert_eq!(me().await.unwrap().status(), 200, "and from the cache");
    let wait = expires - chrono::Utc::now() + chrono::Duration::milliseconds(200);
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    let r = me().await.unwrap();
    assert_eq!(r.status(), 401, "expired at {expires}");
}
both_backends!(expiry, expiry_story);

/// A partner member with a token, for the "404 before anything else" checks.
async fn partner_token(app: &TestApp) -> String {
    let sys = Actor::system();
    let s = &app.store;
    let p = s
        .accounts()
        .create_partner(&sys, "Edge Partner")
        .await
        .unwrap()
        .id;
    let u = s
        .accounts()
        .create_user(
            &sys,
            None,
            "member@edge.example",
            Role::PartnerMember,
            Some(p),
            None,
        )
        .await
        .unwrap();
    s.accounts()
        .create_token(&sys, u.id, "member", None)
        .await
        .unwrap()
        .1
}

/// A stray query string is a 422 only for a caller who may use the route: an outsider gets
/// 401, a partner user 404 for what is beyond it.
async fn query_after_credentials_story(app: &TestApp) {
    let partner = partner_token(app).await;
    for path in ["/api/v1/operators?name=x", "/api/v1/auth/me?x=1"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let r = app
            .client
            .get(app.url(path))
            .bearer_auth("dh_not_a_token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = app
        .client
        .get(app.url("/api/v1/operators?name=x"))
        .bearer_auth(&partner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "beyond a partner user");
    // A route the caller may use: the query string is refused, naming it.
    for token in [&app.token, &partner] {
        let r = app
            .client
            .get(app.url("/api/v1/auth/me?x=1"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], "x", "{p}");
    }
    // The login (the one public route) refuses it at once: there are no credentials to wait for.
    let r = app
        .client
        .post(app.url("/api/v1/auth/login?x=1"))
        .json(&json!({"email": "a@b.example", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}
both_backends!(query_after_credentials, query_after_credentials_story);

/// HEAD is GET without the body, under GET's policy.
async fn head_story(app: &TestApp) {
    app.operator("Head Op").await;
    let get = app.get("/api/v1/operators").send().await.unwrap();
    let get_len = get.bytes().await.unwrap().len();
    let r = app
        .client
        .head(app.url("/api/v1/operators"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        r.headers()["content-length"].to_str().unwrap(),
        get_len.to_string()
    );
    assert!(r.bytes().await.unwrap().is_empty());
    // With a query, on a route that takes one; and refused like GET.
    let r = app
        .client
        .head(app.url("/api/v1/dids/count?status=in_stock"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .head(app.url("/api/v1/operators"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .head(app.url("/api/v1/operators"))
        .bearer_auth(partner_token(app).await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A route without GET has no HEAD; `Allow` names HEAD where GET is.
    let r = app
        .client
        .head(app.url("/api/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = app
        .client
        .put(app.url("/api/v1/operators"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST, HEAD");
}
both_backends!(head, head_story);

/// Sends raw bytes and returns (status, headers, body) of the answer.
fn raw(app: &TestApp, request: &[u8]) -> (u16, String, String) {
    let addr = app.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    // The server may answer and close before all of an over-long request is sent.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// An over-long URL is a 414 problem, whether didhub or the HTTP layer below it refuses it.
async fn long_url_story(app: &TestApp) {
    let long = format!("/api/v1/dids?tag={}", "a".repeat(9000));
    let r = app.get(&long).send().await.unwrap();
    assert_eq!(r.status(), 414);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:didhub:problem:uri-too-long", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("8192"), "{p}");
    // Unsigned too: the URL is refused before anything reads it.
    let r = app.client.get(app.url(&long)).send().await.unwrap();
    assert_eq!(r.status(), 414);
    // Over 64 KiB hyper answers itself; over its buffer, 431. Both as problems.
    for (len, status, kind) in [
        (70_000, 414, "uri-too-long"),
        (600_000, 431, "head-too-large"),
    ] {
        let request = format!(
            "GET /api/v1/dids?tag={} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(len)
        );
        let (s, head, body) = tokio::task::block_in_place(|| raw(app, request.as_bytes()));
        assert_eq!(s, status, "{len}: {head}");
        assert!(
            head.contains("content-type: application/problem+json"),
            "{head}"
        );
        let p: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        assert_eq!(p["type"], format!("urn:didhub:problem:{kind}"), "{p}");
        assert_eq!(p["status"], status);
    }
    // Not HTTP at all: 400, as a problem too.
    let (s, head, body) = tokio::task::block_in_place(|| raw(app, b"\x16\x03\x01 hello\r\n\r\n"));
    assert_eq!(s, 400, "{head}");
    assert!(body.contains("urn:didhub:problem:bad-request"), "{body}");
    // The server serves on.
    let (s, _) = app.get_json("/api/v1/operators").await;
    assert_eq!(s, 200);
}
both_backends!(long_url, long_url_story);

/// A PBX with a license-less start, through the store.
async fn pbx(app: &TestApp, serial: &str) -> String {
    let sys = Actor::system();
    let s = &app.store;
    let p = match s.accounts().find_partner("Dates").await {
        Ok(p) => p.id,
        Err(_) => s.accounts().create_partner(&sys, "Dates").await.unwrap().id,
    };
    let c = s
        .accounts()
        .create_customer(&sys, Scope::All, p, serial)
        .await
        .unwrap()
        .id;
    let (st, v) = app
        .post_json(
            "/api/v1/pbxs",
            &json!({"customer_id": c, "name": serial, "serial_number": serial}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn put_license(app: &TestApp, pbx: &str, term: &str, start: &str) -> (u16, Value) {
    let r = app
        .client
        .put(app.url(&format!("/api/v1/pbxs/{pbx}/license")))
        .bearer_auth(&app.token)
        .json(&json!({"term_kind": term, "period_start": start}))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn is_yyyy_mm_dd(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 10
            && s.chars().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            })
    })
}

/// Dates stay within 1900–9999 and are always written YYYY-MM-DD, computed expiries included.
async fn dates_story(app: &TestApp) {
    let id = pbx(app, "SN-DATES").await;
    for (term, start, field) in [
        ("yearly", "-0001-01-01", "period_start"),
        ("yearly", "0000-01-01", "period_start"),
        ("yearly", "1899-12-31", "period_start"),
        ("yearly", "+10004-12-31", "period_start"),
        ("five_year", "9999-12-31", "period_start"),
        ("monthly", "9999-12-15", "period_start"),
    ] {
        let (s, p) = put_license(app, &id, term, start).await;
        assert_eq!(s, 422, "{term} {start}: {p}");
        assert_eq!(p["errors"][0]["field"], field, "{start}: {p}");
    }
    let (s, l) = app.get_json(&format!("/api/v1/pbxs/{id}/license")).await;
    assert_eq!((s, &l), (200, &Value::Null), "nothing was set");
    // The edges themselves are kept, and written as four-digit years.
    let (s, l) = put_license(app, &id, "monthly", "9999-11-30").await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["expires"], "9999-12-30");
    let (s, l) = put_license(app, &id, "yearly", "1900-01-01").await;
    assert_eq!(s, 200, "{l}");
    assert!(
        is_yyyy_mm_dd(&l["period_start"]) && is_yyyy_mm_dd(&l["expires"]),
        "{l}"
    );
    // A renewal that would end after 9999 is refused, and changes nothing.
    let (s, l) = put_license(app, &id, "yearly", "9998-06-01").await;
    assert_eq!(s, 200, "{l}");
    let (s, p) = app
        .post_json(&format!("/api/v1/pbxs/{id}/license/renew"), &json!({}))
        .await;
    assert_eq!(s, 422, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("9999-12-31"), "{p}");
    let (_, l) = app.get_json(&format!("/api/v1/pbxs/{id}/license")).await;
    assert_eq!(l["expires"], "9999-06-01");
    // Service starts and the quote take the same rule.
    let (s, _) = app
        .post_json(
            "/api/v1/service-kinds",
            &json!({"code": "trunk", "name": "Trunk",
        "prices": [{"term_kind": "yearly", "currency": "EUR", "amount": "100.00"}]}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, p) = app
        .post_json(
            &format!("/api/v1/pbxs/{id}/services/preview"),
            &json!({"kind": "trunk", "currency": "EUR", "service_start": "+10000-01-01"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "service_start", "{p}");
    for (body, field) in [
        (
            json!({"term_kind": "yearly", "period_start": "-0001-01-01", "service_start": "2020-01-01",
                "price": "1.00"}),
            "period_start",
        ),
        (
            json!({"term_kind": "yearly", "period_start": "2020-01-01", "service_start": "1000-01-01",
                "price": "1.00"}),
            "service_start",
        ),
        (
            json!({"term_kind": "five_year", "period_start": "9999-01-01", "service_start": "9999-01-02",
                "price": "1.00"}),
            "period_start",
        ),
    ] {
        let (s, p) = app.post_json("/api/v1/licenses/quote", &body).await;
        assert_eq!(s, 422, "{body}: {p}");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    // A client package's start too.
    let (customer, _) = common::customer_with_package(&app.store, "Dated", 1).await;
    let pkg = app
        .store
        .assignment()
        .list_packages()
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
        .id;
    let (s, p) = app
        .post_json(
            "/api/v1/client-packages",
            &json!({"customer_id": customer, "package_id": pkg, "start_date": "+12000-01-01"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "start_date", "{p}");
}
both_backends!(dates, dates_story);

/// Codes ISO 4217 keeps for what is no money, and negative zero, are refused wherever money is
/// given; nothing is written.
async fn money_story(app: &TestApp) {
    let price = |currency: &str, amount: Value| {
        json!({"code": "k", "name": "K",
        "prices": [{"term_kind": "yearly", "currency": currency, "amount": amount}]})
    };
    for (body, field) in [
        (price("XXX", json!("1.00")), "prices[0].currency"),
        (price("xts", json!("1.00")), "prices[0].currency"),
        (price("XAU", json!("1.00")), "prices[0].currency"),
        (price("XDR", json!("1.00")), "prices[0].currency"),
        (price("EUR", json!("-0.00")), "prices[0].amount"),
        (price("EUR", json!(-0.0)), "prices[0].amount"),
        (price("EUR", json!("-1.00")), "prices[0].amount"),
    ] {
        let (s, p) = app.post_json("/api/v1/service-kinds", &body).await;
        assert_eq!(s, 422, "{body}: {p}");
        assert_eq!(p["errors"][0]["field"], field, "{body}: {p}");
    }
    let (_, kinds) = app.get_json("/api/v1/service-kinds").await;
    assert_eq!(kinds, json!([]), "nothing was created");
    let (s, p) = app
        .post_json(
            "/api/v1/packages",
            &json!({"name": "P", "did_allowance": 1, "prices": [{"term_kind": "monthly", "currency": "XPT",
                "amount": "1"}]}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "prices[0].currency", "{p}");
    let (s, p) = app
        .post_json(
            "/api/v1/packages",
            &json!({"name": "P", "did_allowance": 1, "prices": [{"term_kind": "monthly", "currency": "EUR",
                "amount": "-0"}]}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "prices[0].amount", "{p}");
    let quote = |currency: &str, price: Value| {
        json!({"term_kind": "yearly", "period_start": "2020-01-01",
        "service_start": "2020-06-01", "price": price, "currency": currency})
    };
    for (body, field) in [
        (quote("XXX", json!("10.00")), "currency"),
        (quote("EUR", json!("-0.00")), "price"),
    ] {
        let (s, p) = app.post_json("/api/v1/licenses/quote", &body).await;
        assert_eq!(s, 422, "{body}: {p}");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    // Money that is money still works, X-codes that are currencies included.
    let (s, p) = app
        .post_json("/api/v1/service-kinds", &price("XOF", json!("1000")))
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, q) = app
        .post_json("/api/v1/licenses/quote", &quote("EUR", json!("0.00")))
        .await;
    assert_eq!(s, 200, "a zero price is a price: {q}");
}
both_backends!(money, money_story);

/// A date the parser cannot read at all is explained as a date.
async fn unreadable_date_story(app: &TestApp) {
    let id = pbx(app, "SN-UNREADABLE").await;
    let (s, p) = put_license(app, &id, "yearly", "10000-01-01").await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "period_start", "{p}");
    let m = p["errors"][0]["message"].as_str().unwrap();
    assert!(m.contains("YYYY-MM-DD"), "{m}");
}
both_backends!(unreadable_date, unreadable_date_story);
