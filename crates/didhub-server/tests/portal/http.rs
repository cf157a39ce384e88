//! The portal over plain HTTP: headers, cookies, CSRF, throttling, who sees what, escaping,
//! filters and pages.

use crate::common::Db;
use crate::support::*;

const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

#[tokio::test]
async fn every_portal_answer_carries_the_content_security_policy() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let anon = client();
    for r in [
        anon.get(app.url("/login")).send().await.expect("login"),
        anon.get(app.url("/dids")).send().await.expect("redirect"),
        anon.get(app.url("/static/portal.css"))
            .send()
            .await
            .expect("css"),
        s.get("/dashboard").await,
        s.get("/dids?country=nowhere").await,
        s.get("/dids/not-an-id").await,
    ] {
        let url = r.url().to_string();
        assert_eq!(
            r.headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok()),
            Some(CSP),
            "{url}"
        );
        assert_eq!(
            r.headers()
                .get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{url}"
        );
    }
    let page = s.get("/dids").await;
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // htmx is served from the binary, nothing from elsewhere.
    let (_, html) = s.page("/dids").await;
    assert!(html.contains("src=\"/static/htmx-2.0.11.min.js\""));
    assert!(
        !html.contains("https://"),
        "no address of another site in a page"
    );
    let js = anon
        .get(app.url("/static/htmx-2.0.11.min.js"))
        .send()
        .await
        .expect("htmx");
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-type"], "text/javascript");
    assert_eq!(
        anon.get(app.url("/static/nothing.js"))
            .send()
            .await
            .expect("404")
            .status(),
        404
    );
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_and_secure_when_configured() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    assert!(s.set_cookie.contains("HttpOnly"), "{}", s.set_cookie);
    assert!(s.set_cookie.contains("SameSite=Strict"), "{}", s.set_cookie);
    assert!(
        !s.set_cookie.contains("Secure"),
        "plain HTTP: {}",
        s.set_cookie
    );

    let app = start(true).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    assert!(s.set_cookie.contains("HttpOnly"), "{}", s.set_cookie);
    assert!(s.set_cookie.contains("SameSite=Strict"), "{}", s.set_cookie);
    assert!(s.set_cookie.contains("; Secure"), "{}", s.set_cookie);
}

#[tokio::test]
async fn the_api_and_the_portal_share_one_session() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let me = s.get("/api/v1/auth/me").await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.expect("json");
    assert_eq!(me["email"], ADMIN);
}

#[tokio::test]
async fn a_write_without_the_session_csrf_token_is_refused() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    for form in [vec![], vec![("csrf", "forged")]] {
        let r = s.post("/logout", &form).await;
        assert_eq!(r.status(), 403, "{form:?}");
        let body = r.text().await.unwrap_or_default();
        assert!(
            body.contains("has expired or did not come from didhub"),
            "{body}"
        );
    }
    assert_eq!(s.get("/dashboard").await.status(), 200, "still signed in");
    let csrf = s.csrf().await;
    let out = s.post("/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/login");
    let cleared = set_cookie(&out, "didhub_session").expect("cleared cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The session has ended: the old cookie leads to the login form again.
    let r = s.get("/dashboard").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2Fdashboard");
}

#[tokio::test]
async fn a_sign_in_form_from_elsewhere_is_refused() {
    let app = start(false).await;
    seed(&app).await;
    // No login cookie: the form did not come from this site.
    let r = client()
        .post(app.url("/login"))
        .form(&[("email", ADMIN), ("password", PASSWORD), ("token", "guess")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "didhub_session").is_none());
    // Anyone may send it, so its body is held to the API login's limit.
    let big = "x".repeat(20 * 1024);
    let r = client()
        .post(app.url("/login"))
        .form(&[("email", big.as_str()), ("password", "p"), ("token", "t")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn sign_in_errors_are_shown_beside_the_form_and_keep_the_address() {
    let app = start(false).await;
    seed(&app).await;
    let r = login_answer(&app, "", "").await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-email\""), "{html}");
    assert!(html.contains("id=\"e-password\""), "{html}");
    let r = login_answer(&app, ADMIN, "wrong password entirely").await;
    assert_eq!(r.status(), 401);
    let html = r.text().await.expect("page");
    assert!(html.contains("Wrong e-mail address or password."));
    assert_eq!(
        input_value(&html, "email").as_deref(),
        Some(ADMIN),
        "kept what was typed"
    );
    assert!(
        !html.contains("wrong password entirely"),
        "a password is never sent back"
    );
}

#[tokio::test]
async fn sign_in_is_throttled_as_the_api_login_is() {
    let app = start(false).await;
    seed(&app).await;
    for i in 0..5 {
        let r = login_answer(&app, ADMIN, "not the password at all").await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = login_answer(&app, ADMIN, PASSWORD).await;
    assert_eq!(r.status(), 429, "the good password waits too");
    assert!(r.headers().get("retry-after").is_some());
    assert!(r
        .text()
        .await
        .unwrap_or_default()
        .contains("Too many failed sign-ins"));
}

#[tokio::test]
async fn without_a_session_a_page_leads_to_the_login_form_and_back() {
    let app = start(false).await;
    seed(&app).await;
    let r = client()
        .get(app.url("/dids?status=in_stock"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/login?next=%2Fdids%3Fstatus%3Din_stock"
    );
    let form = client()
        .get(app.url("/login?next=%2Fdids%3Fstatus%3Din_stock"))
        .send()
        .await
        .expect("form");
    let html = form.text().await.expect("page");
    assert_eq!(
        input_value(&html, "next").as_deref(),
        Some("/dids?status=in_stock")
    );
    // Another site is never a destination.
    let html = client()
        .get(app.url("/login?next=%2F%2Fevil.example"))
        .send()
        .await
        .expect("form")
        .text()
        .await
        .expect("page");
    assert_eq!(input_value(&html, "next").as_deref(), Some(""));
}

#[tokio::test]
async fn a_partner_user_sees_its_own_customers_and_gets_404_for_the_rest() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, PARTNER_USER).await;
    let landing = s.get("/").await;
    assert_eq!(landing.headers()["location"], "/customers");
    let (status, html) = s.page("/customers").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("/customers/{}", seed.customer_a)));
    assert!(
        !html.contains("Bravo Ltd"),
        "another partner's customer is not listed"
    );
    assert!(!html.contains("Partner B"), "nor is another partner");
    assert_eq!(
        s.page(&format!("/customers/{}", seed.customer_a)).await.0,
        200
    );
    let (status, html) = s.page(&format!("/customers/{}", seed.customer_b)).await;
    assert_eq!(status, 404, "another partner's customer by URL");
    assert!(!html.contains("Bravo Ltd"));
    // Staff pages answer 404, as the API does to a partner user.
    for page in [
        "/dashboard".to_string(),
        "/dids".to_string(),
        format!("/dids/{}", seed.evil_did),
        "/operators".to_string(),
        "/audit".to_string(),
    ] {
        let (status, html) = s.page(&page).await;
        assert_eq!(status, 404, "{page}");
        assert!(!html.contains(&seed.evil_number), "{page}");
    }
    // The navigation offers only what the role may open.
    let (_, html) = s.page("/customers").await;
    assert!(!html.contains("href=\"/dids\""));
    assert!(!html.contains("href=\"/audit\""));
}

#[tokio::test]
async fn staff_without_the_need_get_403_and_see_no_link_to_it() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, SUPPORT).await;
    assert_eq!(s.page("/dids").await.0, 200, "support reads the inventory");
    let (status, html) = s.page("/audit").await;
    assert_eq!(status, 403, "the audit log is the inventory admins'");
    assert!(html.contains("Not allowed"));
    assert!(!html.contains("href=\"/audit\""));
}

#[tokio::test]
async fn planted_markup_and_quotes_are_shown_as_text() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, ADMIN).await;
    let pages = [
        "/dids?country=FR".to_string(),
        format!("/dids/{}", seed.evil_did),
        "/operators".to_string(),
        "/customers".to_string(),
        format!("/customers/{}", seed.customer_a),
        "/audit".to_string(),
        format!("/dids?tag={}", urlencode(EVIL_TAG)),
        format!("/dids?notes={}", urlencode("\"quoted\" & <img")),
    ];
    for page in &pages {
        let (status, html) = s.page(page).await;
        assert_eq!(status, 200, "{page}");
        // The only script element is htmx's.
        assert_eq!(html.matches("<script").count(), 1, "{page}: {html}");
        for bad in ["<img src=x", "<b>Bold</b>", "<b>trial</b>", "\"><script"] {
            assert!(!html.contains(bad), "{page} holds {bad}");
        }
    }
    let (_, html) = s.page(&format!("/dids/{}", seed.evil_did)).await;
    for planted in [
        EVIL_NOTES,
        EVIL_TAG,
        EVIL_OPERATOR,
        "held for a <b>trial</b>",
    ] {
        assert!(html.contains(&escaped(planted)), "{planted}: {html}");
    }
    let (_, html) = s.page(&format!("/customers/{}", seed.customer_a)).await;
    assert!(html.contains(&escaped(EVIL_CUSTOMER)), "{html}");
    // A filter value comes back into its field escaped, not as markup.
    let (_, html) = s.page(&format!("/dids?tag={}", urlencode(EVIL_TAG))).await;
    assert!(html.contains("1 DID matches."), "{html}");
}

#[tokio::test]
async fn the_did_list_filters_counts_and_pages_by_keyset() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/dids?country=GB").await;
    assert_eq!(status, 200);
    assert!(html.contains("120 DIDs match."), "{html}");
    assert_eq!(html.matches("<td><a href=\"/dids/").count(), 50);
    assert!(
        html.len() < 100_000,
        "a page of 50 DIDs is {} bytes",
        html.len()
    );
    assert!(html.contains("+442079460000"));
    let next = next_link(&html).expect("a next page");
    let (_, html2) = s.page(&next).await;
    assert!(html2.contains("120 DIDs match."));
    assert!(html2.contains("+442079460050") && !html2.contains("+442079460049"));
    assert!(html2.contains("First page"));
    let (_, html3) = s.page(&next_link(&html2).expect("third page")).await;
    assert_eq!(html3.matches("<td><a href=\"/dids/").count(), 20);
    assert!(next_link(&html3).is_none(), "the last page");
    // The other filters, sort and order; the operator by id as the form's select sends it.
    let (_, html) = s
        .page(&format!(
            "/dids?status=reserved&operator_id={}&sort=number&order=desc",
            seed.operator
        ))
        .await;
    assert!(html.contains("1 DID matches."), "{html}");
    assert!(html.contains(&seed.evil_number));
    let (_, html) = s
        .page("/dids?prefix=%2B4420794600&sort=number&order=desc")
        .await;
    assert!(html.contains("100 DIDs match."), "{html}");
    let first_row = html.find("+442079460099").expect("highest first");
    assert!(first_row < html.find("+442079460098").expect("then the next"));
}

fn next_link(html: &str) -> Option<String> {
    let end = html.find("\" rel=\"next\"")?;
    let start = html[..end].rfind("href=\"")? + 6;
    Some(html[start..end].replace("&#38;", "&"))
}

#[tokio::test]
async fn a_bad_filter_is_shown_beside_its_field_with_what_was_typed() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/dids?country=Narnia&tag=kept").await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"e-country\""), "{html}");
    assert!(html.contains("aria-describedby=\"e-country\""));
    assert_eq!(input_value(&html, "country").as_deref(), Some("Narnia"));
    assert_eq!(input_value(&html, "tag").as_deref(), Some("kept"));
    let (status, html) = s.page("/dids?sort=colour").await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"e-sort\""), "{html}");
    let (status, html) = s.page("/dids?colour=red").await;
    assert_eq!(status, 422, "a misspelt filter never widens the list");
    assert!(html.contains("colour"), "{html}");
    let (status, html) = s.page("/audit?since=yesterday").await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"e-since\""), "{html}");
    assert_eq!(input_value(&html, "since").as_deref(), Some("yesterday"));
}

#[tokio::test]
async fn a_did_page_shows_its_history_and_the_audit_log_filters() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page(&format!("/dids/{}", seed.evil_did)).await;
    assert_eq!(status, 200);
    let created = html.find("did.create").expect("the create");
    let edited = html.find("did.status").expect("the change of status");
    assert!(created < edited, "oldest first");
    assert!(html.contains("status: in_stock → reserved"), "{html}");
    assert!(html.contains("by user:ops-admin@example.com"));
    assert_eq!(
        s.page(&format!("/dids/{}", uuid::Uuid::now_v7())).await.0,
        404
    );

    let (_, html) = s.page("/audit?action=did.status").await;
    assert!(html.contains("1 entries match."), "{html}");
    assert!(html.contains(&format!("href=\"/dids/{}\"", seed.evil_did)));
    let (_, html) = s.page("/audit?actor=nobody").await;
    assert!(html.contains("0 entries match."));
    let today = chrono::Utc::now().date_naive();
    let (_, html) = s
        .page(&format!(
            "/audit?since={today}&until={today}&action=did.status"
        ))
        .await;
    assert!(html.contains("1 entries match."), "{html}");
    let (status, html) = s
        .page(&format!("/audit?since={today}&until=2000-01-01"))
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"e-until\""));
}

#[tokio::test]
async fn the_dashboard_counts_the_stock_per_country_and_type() {
    for db in [Db::Sqlite, Db::Postgres] {
        let Some(app) = start_on(db, false).await else {
            continue;
        };
        dashboard_counts(&app).await;
        // The counts beside the audit log's pages, on each engine.
        let s = login(&app, ADMIN).await;
        let (_, html) = s.page("/audit?action=did.status").await;
        assert!(html.contains("1 entries match."), "{db:?}: {html}");
        app.stop().await;
    }
}

async fn dashboard_counts(app: &crate::common::TestApp) {
    seed(app).await;
    let s = login(app, ADMIN).await;
    assert_eq!(s.get("/").await.headers()["location"], "/dashboard");
    let (status, html) = s.page("/dashboard").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("119 DIDs in stock."),
        "one of 120 is assigned: {html}"
    );
    assert!(html.contains("<svg class=\"chart\" role=\"img\""));
    assert!(html.contains("<title id=\"chart-title\">"));
    assert!(
        html.contains("/dids?status=in_stock&#38;country=GB&#38;type=fixed_line"),
        "{html}"
    );
}

/// The list counts up to 10,000 and says "more than" beyond: an exact count of a broad
/// filter on a large inventory would cost more than the page. The bulk page counts exactly.
#[tokio::test]
async fn the_did_list_count_stops_at_ten_thousand() {
    let app = start(false).await;
    seed(&app).await;
    let sys = didhub_store::Actor("system:test".into());
    let inv = app.store.inventory();
    let op = inv
        .create_operator(&sys, "Many")
        .await
        .expect("operator")
        .id;
    inv.create_dids(
        &sys,
        didhub_store::inventory::dids::NewDids {
            numbers: vec!["+441612000000-+441612010000".into()],
            country: None,
            operator_id: op,
            status: didhub_core::did::DidStatus::InStock,
            after_hold: didhub_core::did::DidStatus::InStock,
            tag: Some("many".into()),
            notes: None,
            reason: None,
        },
    )
    .await
    .expect("10,001 DIDs");
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/dids?tag=many").await;
    assert_eq!(status, 200);
    assert!(html.contains("More than 10,000 DIDs match."), "{html}");
    assert!(html.contains(">Edit or delete all matching</a>"), "{html}");
    let (_, html) = s.page("/dids?tag=many&prefix=%2B44161200").await;
    assert!(html.contains("10,000 DIDs match."), "{html}");
    assert!(!html.contains("More than"), "{html}");
    assert!(
        html.contains(">Edit or delete all 10,000 matching</a>"),
        "{html}"
    );
    let (_, html) = s.page("/dids/bulk?tag=many").await;
    assert!(html.contains("<strong>10,001</strong>"), "{html}");
}
