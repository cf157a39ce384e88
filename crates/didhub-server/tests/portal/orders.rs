//! The ordering pages over plain HTTP: the list of orders (filters, count, pages, a partner's
//! scope), the new order form built from the catalog (fields by country and service, the
//! check's problems beside their fields, what was typed kept), a draft saved, edited and
//! submitted, documents uploaded, and the changes of state with the version read.

use chrono::{Duration, Utc};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::attention::signed_order;
use crate::common::TestApp;
use crate::support::*;

/// Numbers of London's drama range that the seed's inventory does not hold.
const PORT_A: &str = "+442079461001";
const PORT_B: &str = "+442079461002";

/// An order created through the API: a quote (the seed's customers have no license).
async fn api_order(app: &TestApp, customer: uuid::Uuid, country: &str) -> String {
    let (s, o) = app
        .post_json(
            "/api/v1/orders",
            &json!({"customer_id": customer, "country": country, "service": "new_toll_free"}),
        )
        .await;
    assert_eq!(s, 201, "{o}");
    o["id"].as_str().expect("id").to_string()
}

/// The text of the error beside `field` (its `e-` paragraph), if any.
fn error_beside(html: &str, field: &str) -> Option<String> {
    let at = html.find(&format!("<p class=\"error\" id=\"e-{field}\">"))?;
    let rest = &html[at..];
    let start = rest.find('>')? + 1;
    let end = rest.find("</p>")?;
    Some(rest[start..end].to_string())
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn upload(s: &Session, id: &str, csrf: Option<&str>, kind: &str) -> (u16, String) {
    upload_bytes(s, id, csrf, kind, b"%PDF-1.4\n%signed\n%%EOF\n").await
}

async fn upload_bytes(
    s: &Session,
    id: &str,
    csrf: Option<&str>,
    kind: &str,
    content: &[u8],
) -> (u16, String) {
    let mut form = Form::new();
    if let Some(c) = csrf {
        form = form.text("csrf", c.to_string());
    }
    let form = form.text("kind", kind.to_string()).part(
        "file",
        Part::bytes(content.to_vec()).file_name(format!("{kind}.pdf")),
    );
    let r = s
        .http
        .post(format!("{}/orders/{id}/documents", s.base))
        .header("cookie", &s.cookie)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn the_order_list_filters_counts_and_pages_within_a_partners_scope() {
    for db in [crate::common::Db::Sqlite, crate::common::Db::Postgres] {
        let Some(app) = start_on(db, false).await else {
            continue;
        };
        list_on(&app).await;
        app.stop().await;
    }
}

/// The list's filters, count, pages and scope, on one engine.
async fn list_on(app: &TestApp) {
    let seed = seed(app).await;
    let late = signed_order(app, seed.customer_a, 20).await;
    for _ in 0..51 {
        api_order(app, seed.customer_a, "GB").await;
    }
    let other = api_order(app, seed.customer_b, "DE").await;
    let s = login(app, ADMIN).await;
    let (status, html) = s.page("/orders").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"count\">53 orders match."), "{html}");
    assert_eq!(html.matches("<tr><td><a href=\"/orders/").count(), 50);
    assert!(html.contains(&escaped(EVIL_CUSTOMER)), "{html}");
    // The next page holds the rest, the oldest (the signed order) last.
    let next = html
        .split("href=\"")
        .find_map(|p| p.strip_prefix("/orders?cursor="))
        .map(|p| format!("/orders?cursor={}", &p[..p.find('"').expect("end")]))
        .expect("a next page");
    let (status, more) = s.page(&next.replace("&#38;", "&")).await;
    assert_eq!(status, 200, "{more}");
    assert_eq!(more.matches("<tr><td><a href=\"/orders/").count(), 3);
    assert!(more.contains(&format!("/orders/{late}")), "{more}");
    assert!(more.contains("First page"), "{more}");
    // Filters: a customer, a state, operations' overdue list.
    let (_, html) = s
        .page(&format!("/orders?customer_id={}", seed.customer_b))
        .await;
    assert!(html.contains("id=\"count\">1 order matches."), "{html}");
    assert!(html.contains(&format!("/orders/{other}")), "{html}");
    let (_, html) = s.page("/orders?state=submitted").await;
    assert!(html.contains("id=\"count\">1 order matches."), "{html}");
    let (_, html) = s.page("/orders?attention=overdue").await;
    assert!(html.contains("Orders past their promised date"), "{html}");
    assert!(html.contains("id=\"count\">1 order matches."), "{html}");
    assert!(html.contains(&format!("/orders/{late}")), "{html}");
    assert!(html.contains("<td>overdue</td>"), "{html}");
    let (_, html) = s.page("/orders?attention=at_risk").await;
    assert!(html.contains("id=\"count\">0 orders match."), "{html}");
    // The dashboard links the whole lists; the navigation the list.
    let (_, dash) = s.page("/dashboard").await;
    assert!(
        dash.contains("href=\"/orders?attention=overdue\""),
        "{dash}"
    );
    assert!(dash.contains("href=\"/orders\">Orders</a>"), "{dash}");
    // A refused filter: beside its field, nothing listed.
    let (status, html) = s.page("/orders?state=lost&attention=late").await;
    assert_eq!(status, 422, "{html}");
    assert!(
        error_beside(&html, "state").is_some_and(|e| e.contains("unknown order state")),
        "{html}"
    );
    assert!(html.contains("Correct the filter"), "{html}");
    let (status, html) = s.page("/orders?sort=ref").await;
    assert_eq!(status, 422, "{html}");
    assert!(
        error_beside(&html, "sort").is_some_and(|e| e.contains("expected newest or oldest")),
        "{html}"
    );
    let (status, html) = s.page("/orders?order=ref").await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("order: not a filter of orders"), "{html}");
    // Oldest first: the signed order (made first) leads; the next page ends with the last made.
    let (status, html) = s.page("/orders?sort=oldest").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Oldest first."), "{html}");
    let first = html.find("<tr><td><a href=\"/orders/").expect("a row");
    assert!(
        html[first..].starts_with(&format!("<tr><td><a href=\"/orders/{late}\"")),
        "{html}"
    );
    let next = html
        .split("href=\"")
        .find_map(|p| {
            let p = &p[..p.find('"')?];
            (p.starts_with("/orders?") && p.contains("cursor=")).then(|| p.replace("&#38;", "&"))
        })
        .expect("a next page, oldest first");
    assert!(next.contains("sort=oldest"), "{next}");
    let (_, more) = s.page(&next).await;
    assert_eq!(more.matches("<tr><td><a href=\"/orders/").count(), 3);
    let last = more.rfind("<tr><td><a href=\"/orders/").expect("a row");
    assert!(
        more[last..].starts_with(&format!("<tr><td><a href=\"/orders/{other}\"")),
        "{more}"
    );
    // A partner's user: its own orders only, whatever the filter.
    let p = login(app, PARTNER_USER).await;
    let (status, html) = p.page("/orders").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"count\">52 orders match."), "{html}");
    assert!(!html.contains("Bravo Ltd"), "{html}");
    let (_, html) = p
        .page(&format!("/orders?customer_id={}", seed.customer_b))
        .await;
    assert!(html.contains("id=\"count\">0 orders match."), "{html}");
}

#[tokio::test]
async fn the_new_order_form_shows_the_fields_of_the_country_and_service() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, PARTNER_USER).await;
    let (status, html) = s.page("/orders/new").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("name=\"customer_id\""), "{html}");
    assert!(!html.contains("Bravo Ltd"), "another partner's customer");
    assert!(!html.contains("id=\"f-range_size\""), "{html}");
    let csrf = s.csrf().await;
    let customer = seed.customer_a.to_string();
    let show = |country: &'static str, service: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("customer_id", customer.clone()),
            ("country", country.to_string()),
            ("service", service.to_string()),
            ("action", "show".to_string()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let s = &s;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = s.post("/orders/new", &f).await;
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
    };
    // France, new DIDs: sizes, an area code, the SIRET the catalog asks for; no numbers.
    let (status, html) = post(show("FR", "new_dids")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"f-range_size\""), "{html}");
    assert!(html.contains("id=\"f-area_code\""), "{html}");
    assert!(html.contains("Identifier: SIRET (required)"), "{html}");
    assert!(html.contains("Mobile (+339)"), "{html}");
    assert!(!html.contains("id=\"f-numbers\""), "{html}");
    // Mobile: one at a time, no area code.
    let mut mobile = show("FR", "new_dids");
    mobile.push(("did_option", "mobile".into()));
    let (_, html) = post(mobile).await;
    assert!(html.contains("Mobile DIDs come one at a time."), "{html}");
    assert!(!html.contains("id=\"f-area_code\""), "{html}");
    // Britain, full porting: numbers, the porting date, IVP, the address; no sizes.
    let (_, html) = post(show("GB", "full_porting")).await;
    assert!(html.contains("id=\"f-numbers\""), "{html}");
    assert!(html.contains("id=\"f-preferred_date\""), "{html}");
    assert!(html.contains("id=\"f-ivp\""), "{html}");
    assert!(
        html.contains("Street and house number (required)"),
        "{html}"
    );
    assert!(!html.contains("id=\"f-range_size\""), "{html}");
    // Brazil offers no porting: only the services it offers are choices.
    let (_, html) = post(show("BR", "")).await;
    assert!(html.contains("value=\"outbound_only\""), "{html}");
    assert!(!html.contains("value=\"full_porting\""), "{html}");
}

#[tokio::test]
async fn the_check_says_every_problem_beside_its_field_and_keeps_what_was_typed() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, PARTNER_USER).await;
    let csrf = s.csrf().await;
    let customer = seed.customer_a.to_string();
    let typed = [
        ("csrf", csrf.as_str()),
        ("customer_id", customer.as_str()),
        ("country", "GB"),
        ("service", "full_porting"),
        ("numbers", "2079461001\n+33123456789\n<b>x</b>"),
        ("preferred_date", "2020-01-01"),
        ("address.street", "High \"Street\""),
        ("address.city", "London"),
        ("quantity", "ten"),
        ("action", "check"),
    ];
    let r = s.post("/orders/new", &typed).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    let numbers = error_beside(&html, "numbers").expect("numbers' error");
    assert!(numbers.contains("line 1: "), "{numbers}");
    assert!(numbers.contains("line 2: "), "{numbers}");
    assert!(numbers.contains("line 3: "), "{numbers}");
    assert!(error_beside(&html, "preferred_date").is_some(), "{html}");
    assert!(error_beside(&html, "address.street").is_some(), "{html}");
    assert!(error_beside(&html, "address.postcode").is_some(), "{html}");
    assert!(
        error_beside(&html, "quantity").is_some_and(|e| e.contains("not a whole number")),
        "{html}"
    );
    assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"e-numbers h-numbers\""));
    // Everything typed is back, as text.
    assert!(
        html.contains(&escaped("2079461001\n+33123456789\n<b>x</b>")),
        "{html}"
    );
    assert_eq!(
        input_value(&html, "address.street").as_deref(),
        Some(escaped("High \"Street\"").as_str())
    );
    assert_eq!(input_value(&html, "quantity").as_deref(), Some("ten"));
    assert_eq!(
        input_value(&html, "preferred_date").as_deref(),
        Some("2020-01-01")
    );
    // Saving what is no order at all (a service the country does not offer) is refused
    // beside the service, and nothing is created.
    let r = s
        .post(
            "/orders/new",
            &[
                ("csrf", csrf.as_str()),
                ("customer_id", customer.as_str()),
                ("country", "BR"),
                ("service", "full_porting"),
                ("comments", "keep me"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(
        error_beside(&html, "service").is_some_and(|e| e.contains("not offered")),
        "{html}"
    );
    assert!(html.contains(">keep me</textarea>"), "{html}");
    // Another partner's customer is refused beside the customer.
    let b = seed.customer_b.to_string();
    let r = s
        .post(
            "/orders/new",
            &[
                ("csrf", csrf.as_str()),
                ("customer_id", b.as_str()),
                ("country", "GB"),
                ("service", "outbound_only"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(error_beside(&html, "customer_id").is_some(), "{html}");
    // A complete order: the check says so, with the date it would be promised by.
    let r = s
        .post(
            "/orders/new",
            &[
                ("csrf", csrf.as_str()),
                ("customer_id", customer.as_str()),
                ("country", "GB"),
                ("service", "new_toll_free"),
                ("range_size", "10"),
                ("quantity", "2"),
                ("address.street", "10 Downing Street"),
                ("address.city", "London"),
                ("address.postcode", "SW1A 2AA"),
                ("action", "check"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(
        html.contains("The order is complete: submitted today, it is promised by"),
        "{html}"
    );
    let (_, list) = app.get_json("/api/v1/orders").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
}

#[tokio::test]
async fn a_draft_is_saved_edited_submitted_and_registered_with_its_documents() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, PARTNER_USER).await;
    let csrf = s.csrf().await;
    let customer = seed.customer_a.to_string();
    let numbers = format!("{PORT_A}\n{PORT_B}");
    // A draft, part filled: saved, and its page says what is left, beside each field.
    let r = s
        .post(
            "/orders/new",
            &[
                ("csrf", csrf.as_str()),
                ("customer_id", customer.as_str()),
                ("country", "GB"),
                ("service", "full_porting"),
                ("numbers", numbers.as_str()),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let at = location(&r);
    let id = at.trim_start_matches("/orders/").to_string();
    let (status, html) = s.page(&at).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<dd id=\"state\">quote</dd>"), "{html}");
    assert!(html.contains("id=\"problems\""), "{html}");
    assert!(error_beside(&html, "address.street").is_some(), "{html}");
    assert!(html.contains(&format!("href=\"/api/v1/orders/{id}/loa.pdf\"")));
    // The quote confirmed, with the version read.
    let version = input_value(&html, "version").expect("version");
    let r = s
        .post(
            &format!("/orders/{id}/confirm"),
            &[("csrf", &csrf), ("version", &version)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("<dd id=\"state\">draft</dd>"), "{html}");
    // Submitting it now: refused, every problem beside its field, nothing changed.
    let version = input_value(&html, "version").expect("version");
    let r = s
        .post(
            &format!("/orders/{id}/submit"),
            &[("csrf", &csrf), ("version", &version)],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("<dd id=\"state\">draft</dd>"), "{html}");
    assert!(error_beside(&html, "preferred_date").is_some(), "{html}");
    assert!(error_beside(&html, "address.city").is_some(), "{html}");
    assert!(html.contains(PORT_B), "{html}");
    // The fields completed on the order's page (a stale version refused first).
    let date = (Utc::now() + Duration::days(40)).date_naive().to_string();
    let fields = |v: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("version", v.to_string()),
            ("country", "GB".into()),
            ("service", "full_porting".into()),
            ("numbers", numbers.clone()),
            ("preferred_date", date.clone()),
            ("address.street", "10 Downing Street".into()),
            ("address.city", "London".into()),
            ("address.postcode", "SW1A 2AA".into()),
            ("contact_email", "it@example.com".into()),
            ("action", "save".into()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let s = &s;
        let id = id.clone();
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.post(&format!("/orders/{id}"), &f).await
        }
    };
    let r = send(fields("1")).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("SW1A 2AA"), "kept: {html}");
    let r = send(fields(&version)).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("The order is saved."), "{html}");
    assert!(error_beside(&html, "address.street").is_none(), "{html}");
    assert!(
        html.contains("needs the documents loa and invoice"),
        "{html}"
    );
    // Submitted without its documents: it awaits them.
    let version = input_value(&html, "version").expect("version");
    let r = s
        .post(
            &format!("/orders/{id}/submit"),
            &[("csrf", &csrf), ("version", &version)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(
        html.contains("<dd id=\"state\">awaiting documents</dd>"),
        "{html}"
    );
    // Uploads: the CSRF token is required; a wrong kind is said beside it; then the LOA and
    // the invoice are attached and listed, each a download.
    assert_eq!(upload(&s, &id, None, "loa").await.0, 403);
    let (status, html) = upload(&s, &id, Some(&csrf), "attachment").await;
    assert_eq!(status, 422, "{html}");
    assert!(error_beside(&html, "kind").is_some(), "{html}");
    let (status, html) = upload_bytes(&s, &id, Some(&csrf), "loa", b"<html>not a PDF").await;
    assert_eq!(status, 422, "{html}");
    assert!(error_beside(&html, "file").is_some(), "{html}");
    assert!(
        html.contains("id=\"no-documents\""),
        "nothing attached: {html}"
    );
    let (status, html) = upload(&s, &id, Some(&csrf), "loa").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("loa.pdf is attached"), "{html}");
    let (status, html) = upload(&s, &id, Some(&csrf), "invoice").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(html.matches("/api/v1/documents/").count(), 2, "{html}");
    let r = s
        .get(&format!("/api/v1/orders/{id}/loa.pdf"))
        .await
        .bytes()
        .await
        .expect("LOA");
    assert!(r.starts_with(b"%PDF"), "the LOA is a PDF");
    let version = input_value(&html, "version").expect("version");
    let r = s
        .post(
            &format!("/orders/{id}/submit"),
            &[("csrf", &csrf), ("version", &version)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("<dd id=\"state\">submitted</dd>"), "{html}");
    assert!(
        !html.contains("/register\""),
        "no operations' form for a partner"
    );
    // Operations register it (the numbers enter the inventory as porting) and complete it.
    let ops = login(&app, ADMIN).await;
    let ops_csrf = ops.csrf().await;
    let (_, html) = ops.page(&at).await;
    assert!(
        html.contains(&format!("action=\"/orders/{id}/register\"")),
        "{html}"
    );
    let version = input_value(&html, "version").expect("version");
    let operator = seed.operator.to_string();
    let r = ops
        .post(
            &format!("/orders/{id}/register"),
            &[
                ("csrf", ops_csrf.as_str()),
                ("version", version.as_str()),
                ("register-operator_id", operator.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("<dd id=\"state\">registered</dd>"), "{html}");
    let version = input_value(&html, "version").expect("version");
    let r = ops
        .post(
            &format!("/orders/{id}/schedule"),
            &[
                ("csrf", ops_csrf.as_str()),
                ("version", version.as_str()),
                ("schedule-date", "next week"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(error_beside(&html, "schedule-date").is_some(), "{html}");
    assert_eq!(
        input_value(&html, "schedule-date").as_deref(),
        Some("next week")
    );
    let (_, timeline) = app.get_json(&format!("/api/v1/orders/{id}/timeline")).await;
    let states: Vec<&str> = timeline
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["to_state"].as_str())
        .collect();
    assert_eq!(
        states,
        [
            "quote",
            "draft",
            "submitted",
            "awaiting_documents",
            "submitted",
            "registered"
        ]
    );
}

#[tokio::test]
async fn operations_reject_with_the_version_read_and_partners_cancel_their_own() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let order = signed_order(&app, seed.customer_a, 0).await;
    let ops = login(&app, ADMIN).await;
    let csrf = ops.csrf().await;
    let (_, html) = ops.page(&format!("/orders/{order}")).await;
    let version = input_value(&html, "version").expect("version");
    // No reason code: beside the code. A stale version: beside the buttons. Nothing changed.
    let r = ops
        .post(
            &format!("/orders/{order}/reject"),
            &[
                ("csrf", csrf.as_str()),
                ("version", version.as_str()),
                ("reject-reason", "<i>no</i> stock"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(error_beside(&html, "reject-code").is_some(), "{html}");
    assert_eq!(
        input_value(&html, "reject-reason"),
        Some(escaped("<i>no</i> stock"))
    );
    let r = ops
        .post(
            &format!("/orders/{order}/reject"),
            &[
                ("csrf", csrf.as_str()),
                ("version", "1"),
                ("reject-code", "not_available"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-reject\""), "{html}");
    assert!(html.contains("<dd id=\"state\">submitted</dd>"), "{html}");
    let r = ops
        .post(
            &format!("/orders/{order}/reject"),
            &[
                ("csrf", csrf.as_str()),
                ("version", version.as_str()),
                ("reject-code", "not_available"),
                ("reject-reason", "<i>no</i> stock"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("<dd id=\"state\">rejected</dd>"), "{html}");
    assert!(html.contains(&escaped("<i>no</i> stock")), "{html}");
    assert!(
        !html.contains("action=\"/orders/"),
        "a final order has no forms"
    );
    // A partner's user cancels its own quote; operations' actions are not its own (404).
    let quote = api_order(&app, seed.customer_a, "GB").await;
    let p = login(&app, PARTNER_USER).await;
    let pcsrf = p.csrf().await;
    let (_, html) = p.page(&format!("/orders/{quote}")).await;
    assert!(html.contains(&format!("action=\"/orders/{quote}/cancel\"")));
    assert!(!html.contains(&format!("action=\"/orders/{quote}/reject\"")));
    let version = input_value(&html, "version").expect("version");
    let r = p
        .post(
            &format!("/orders/{quote}/reject"),
            &[("csrf", pcsrf.as_str()), ("reject-code", "other")],
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = p
        .post(
            &format!("/orders/{quote}/cancel"),
            &[
                ("csrf", pcsrf.as_str()),
                ("version", version.as_str()),
                ("cancel-reason", "ordered twice"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("<dd id=\"state\">cancelled</dd>"), "{html}");
    assert!(html.contains("ordered twice"), "{html}");
}

#[tokio::test]
async fn another_partners_order_is_not_found_and_support_may_not_order() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let theirs = api_order(&app, seed.customer_b, "DE").await;
    let p = login(&app, PARTNER_USER).await;
    let csrf = p.csrf().await;
    assert_eq!(p.page(&format!("/orders/{theirs}")).await.0, 404);
    assert_eq!(p.page("/orders/not-an-order").await.0, 404);
    for action in ["cancel", "submit", "confirm"] {
        let r = p
            .post(&format!("/orders/{theirs}/{action}"), &[("csrf", &csrf)])
            .await;
        assert_eq!(r.status(), 404, "{action}");
    }
    let r = p
        .post(
            &format!("/orders/{theirs}"),
            &[
                ("csrf", csrf.as_str()),
                ("action", "save"),
                ("country", "DE"),
            ],
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(upload(&p, &theirs, Some(&csrf), "loa").await.0, 404);
    let (_, v): (u16, Value) = app.get_json(&format!("/api/v1/orders/{theirs}")).await;
    assert_eq!(v["state"], "quote", "{v}");
    assert_eq!(v["documents"].as_array().map(Vec::len), Some(0), "{v}");
    // Support reads orders but does not order.
    let desk = login(&app, SUPPORT).await;
    assert_eq!(desk.page("/orders").await.0, 200);
    assert_eq!(desk.page("/orders/new").await.0, 403);
    let (_, html) = desk.page(&format!("/orders/{theirs}")).await;
    assert!(!html.contains("action=\"/orders/"), "{html}");
}

#[tokio::test]
async fn an_agreement_signed_on_the_page_fixes_the_promised_date() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let (s, o) = app
        .post_json(
            "/api/v1/orders",
            &json!({"customer_id": seed.customer_a, "country": "SA",
            "service": "new_dids", "range_size": 1, "quantity": 1, "area_code": "11",
            "contact_email": "it@example.com",
            "address": {"street": "King Fahd Road 5", "city": "Riyadh", "postcode": "12211"}}),
        )
        .await;
    assert_eq!(s, 201, "{o}");
    let id = o["id"].as_str().expect("id").to_string();
    let p = login(&app, PARTNER_USER).await;
    let csrf = p.csrf().await;
    for step in ["confirm", "submit"] {
        let (_, html) = p.page(&format!("/orders/{id}")).await;
        let version = input_value(&html, "version").expect("version");
        let r = p
            .post(
                &format!("/orders/{id}/{step}"),
                &[("csrf", &csrf), ("version", &version)],
            )
            .await;
        assert_eq!(r.status(), 200, "{step}");
    }
    let (_, html) = p.page(&format!("/orders/{id}")).await;
    assert!(
        html.contains("<dd id=\"state\">awaiting signature</dd>"),
        "{html}"
    );
    assert!(html.contains("Promised by</dt><dd>not yet known"), "{html}");
    let version = input_value(&html, "version").expect("version");
    let r = p
        .post(
            &format!("/orders/{id}/sign"),
            &[("csrf", &csrf), ("version", &version)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("<dd id=\"state\">submitted</dd>"), "{html}");
    assert!(!html.contains("not yet known"), "a promise: {html}");
    assert!(html.contains("agreement signed"), "{html}");
}
