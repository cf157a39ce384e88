//! A PBX's license and services over plain HTTP: the pro-rata quote before the add.

use serde_json::json;

use crate::common::TestApp;
use crate::support::*;

/// A PBX of partner A's customer with a yearly license from 2020-05-15 and the service kind
/// `sip_trunk` at 1,200.00 EUR a year: the seed's example.
pub async fn licensed_pbx(app: &TestApp, customer: uuid::Uuid) -> String {
    let (st, pbx) = app
        .post_json(
            "/api/v1/pbxs",
            &json!({"customer_id": customer, "name": "HQ <main>", "serial_number": "SN-1",
                "region": "EU"}),
        )
        .await;
    assert_eq!(st, 201, "{pbx}");
    let pbx = pbx["id"].as_str().expect("id").to_string();
    let (st, k) = app
        .post_json(
            "/api/v1/service-kinds",
            &json!({"code": "sip_trunk", "name": "SIP trunk", "prices": [
                {"term_kind": "yearly", "currency": "EUR", "amount": "1200.00"}]}),
        )
        .await;
    assert_eq!(st, 201, "{k}");
    let r = app
        .client
        .put(app.url(&format!("/api/v1/pbxs/{pbx}/license")))
        .bearer_auth(&app.token)
        .json(&json!({"term_kind": "yearly", "period_start": "2020-05-15"}))
        .send()
        .await
        .expect("license");
    assert_eq!(r.status(), 200);
    pbx
}

#[tokio::test]
async fn adding_a_service_shows_the_pro_rata_quote_before_it_is_confirmed() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let pbx = licensed_pbx(&app, seed.customer_a).await;
    let s = login(&app, PARTNER_USER).await;
    let (_, customer) = s.page(&format!("/customers/{}", seed.customer_a)).await;
    assert!(
        customer.contains(&format!("href=\"/pbxs/{pbx}\"")),
        "{customer}"
    );
    let (status, html) = s.page(&format!("/pbxs/{pbx}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&escaped("HQ <main>")), "{html}");
    assert!(html.contains("yearly, 2020-05-15 to 2021-05-15"), "{html}");
    let csrf = s.csrf().await;
    let fields = |start: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("kind", "sip_trunk".to_string()),
            ("currency", "EUR".to_string()),
            ("service_start", start.to_string()),
        ]
    };
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let s = &s;
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.post(&path, &f).await
        }
    };
    // A bad day: beside its field, what was typed kept.
    let r = post(
        format!("/pbxs/{pbx}/services/preview"),
        fields("10/08/2020"),
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-service_start\""), "{html}");
    assert_eq!(
        input_value(&html, "service_start").as_deref(),
        Some("10/08/2020")
    );
    // The seed's example: 278 of 365 days of 1,200.00 EUR.
    let r = post(
        format!("/pbxs/{pbx}/services/preview"),
        fields("2020-08-10"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("<strong>913.97 EUR</strong>"), "{html}");
    assert!(html.contains("278 of 365 days"), "{html}");
    let services = |app: &TestApp| {
        let pbx = pbx.clone();
        let app = app.store.clone();
        async move {
            app.licensing()
                .list_services(
                    didhub_store::accounts::orgs::Scope::All,
                    pbx.parse().expect("id"),
                )
                .await
                .expect("services")
                .len()
        }
    };
    assert_eq!(services(&app).await, 0, "a quote adds nothing");
    let seen = input_value(&html, "seen").expect("seen");
    let mut confirm = fields("2020-08-10");
    confirm.push(("seen", seen));
    let r = post(format!("/pbxs/{pbx}/services"), confirm.clone()).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("913.97 EUR charged"), "{html}");
    assert!(html.contains("id=\"services\""), "{html}");
    // The same confirmation again: refused, not added twice.
    let r = post(format!("/pbxs/{pbx}/services"), confirm).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-service\""));
    assert_eq!(services(&app).await, 1);
    // Another partner's user: not found.
    user(
        &app,
        "bob@partner-b.example",
        didhub_core::access::Role::PartnerAdmin,
        Some(seed.partner_b),
    )
    .await;
    let bob = login(&app, "bob@partner-b.example").await;
    assert_eq!(bob.page(&format!("/pbxs/{pbx}")).await.0, 404);
}

#[tokio::test]
async fn a_service_is_cancelled_and_the_license_renewed_once() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let pbx = licensed_pbx(&app, seed.customer_a).await;
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    let r = s
        .post(
            &format!("/pbxs/{pbx}/services"),
            &[
                ("csrf", csrf.as_str()),
                ("kind", "sip_trunk"),
                ("currency", "EUR"),
                ("service_start", "2020-08-10"),
                ("seen", "0"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    let version = input_value(&html, "version").expect("the license's version");
    let r = s
        .post(
            &format!("/pbxs/{pbx}/license/renew"),
            &[("csrf", csrf.as_str()), ("version", version.as_str())],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("The license is renewed to"), "{html}");
    let r = s
        .post(
            &format!("/pbxs/{pbx}/license/renew"),
            &[("csrf", csrf.as_str()), ("version", version.as_str())],
        )
        .await;
    assert_eq!(r.status(), 422, "the same form twice renews once");
    assert!(r.text().await.expect("page").contains("id=\"e-license\""));
    let svc = app
        .store
        .licensing()
        .list_services(
            didhub_store::accounts::orgs::Scope::All,
            pbx.parse().expect("id"),
        )
        .await
        .expect("services")[0]
        .id;
    let r = s
        .post(
            &format!("/pbxs/{pbx}/services/{svc}/cancel"),
            &[("csrf", csrf.as_str())],
        )
        .await;
    let status = r.status();
    let html = r.text().await.expect("page");
    assert_eq!(status, 200, "{}", html.split("<main").nth(1).unwrap_or(""));
    assert!(html.contains("is cancelled"), "{html}");
    assert!(html.contains("No services."), "{html}");
}
