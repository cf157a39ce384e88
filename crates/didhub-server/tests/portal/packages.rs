//! Client packages and the routing check over plain HTTP.

use didhub_store::accounts::orgs::Scope;
use didhub_store::assignment::assign::NewPackage;
use didhub_store::Actor;
use uuid::Uuid;

use crate::common::TestApp;
use crate::support::*;

/// Partner A's client package (the seed's, holding `ASSIGNED`).
pub async fn package_of(app: &TestApp, customer: Uuid) -> (Uuid, i64) {
    let cps = app
        .store
        .assignment()
        .list_client_packages(Scope::All, Some(customer))
        .await
        .expect("client packages");
    (cps[0].id, cps[0].version)
}

/// A client package of `customer` with room for 100 DIDs.
async fn roomy_package(app: &TestApp, customer: Uuid) -> Uuid {
    let sys = Actor::system();
    let a = app.store.assignment();
    let p = a
        .create_package(
            &sys,
            &NewPackage {
                name: "Trunk <100>".into(),
                did_allowance: 100,
                tag: None,
                country: None,
                number_type: None,
                prices: vec![],
            },
        )
        .await
        .expect("package")
        .id;
    a.create_client_package(
        &sys,
        customer,
        p,
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
    )
    .await
    .expect("client package")
    .id
}

#[tokio::test]
async fn the_client_package_list_filters_sorts_counts_and_is_scoped() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let bravo = roomy_package(&app, seed.customer_b).await;
    let (cp_a, _) = package_of(&app, seed.customer_a).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/client-packages").await;
    assert_eq!(status, 200);
    assert!(html.contains("2 client packages."), "{html}");
    assert!(html.contains(&escaped(EVIL_CUSTOMER)), "{html}");
    assert!(html.contains(&escaped("Trunk <100>")), "{html}");
    assert_eq!(html.matches("<script").count(), 1);
    let (_, html) = s
        .page(&format!("/client-packages?customer_id={}", seed.customer_b))
        .await;
    assert!(html.contains("1 client packages."), "{html}");
    let (_, html) = s.page("/client-packages?state=terminated").await;
    assert!(html.contains("0 client packages."), "{html}");
    let (_, html) = s.page("/client-packages?sort=dids").await;
    let starter = html.find("Starter").expect("Starter");
    let trunk = html.find("Trunk").expect("Trunk");
    assert!(starter < trunk, "the package with the most DIDs first");
    // A partner user sees its own only; another's by address is not found; no forms.
    let p = login(&app, PARTNER_USER).await;
    let (_, html) = p.page("/client-packages").await;
    assert!(html.contains("1 client packages."), "{html}");
    assert!(!html.contains("Trunk"), "{html}");
    assert_eq!(p.page(&format!("/client-packages/{bravo}")).await.0, 404);
    let (status, html) = p.page(&format!("/client-packages/{cp_a}")).await;
    assert_eq!(status, 200);
    assert!(!html.contains("/state\""), "no state form for a partner");
    let csrf = p.csrf().await;
    let r = p
        .post(
            &format!("/client-packages/{cp_a}/state"),
            &[("csrf", &csrf), ("state", "inactive")],
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(p.page("/routing").await.0, 404);
}

#[tokio::test]
async fn deactivating_puts_its_dids_on_hold_and_unreachable_and_activating_brings_them_back() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let (cp, version) = package_of(&app, seed.customer_a).await;
    let s = login(&app, ADMIN).await;
    let (_, html) = s.page(&format!("/client-packages/{cp}")).await;
    assert!(html.contains(ASSIGNED), "{html}");
    assert!(
        html.contains("reachable: sip:desk@pbx.partner-a.example"),
        "{html}"
    );
    let csrf = s.csrf().await;
    // A stale version: refused beside the buttons, nothing changed.
    let stale = (version - 1).to_string();
    let r = s
        .post(
            &format!("/client-packages/{cp}/state"),
            &[("csrf", &csrf), ("state", "inactive"), ("version", &stale)],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-state\""));
    let v = version.to_string();
    let r = s
        .post(
            &format!("/client-packages/{cp}/state"),
            &[("csrf", &csrf), ("state", "inactive"), ("version", &v)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("<dd id=\"state\">inactive</dd>"), "{html}");
    assert!(html.contains("on hold until"), "{html}");
    assert!(html.contains("unreachable (hold)"), "{html}");
    let (_, html) = s
        .page(&format!("/routing?number={}", urlencode(ASSIGNED)))
        .await;
    assert!(html.contains("unreachable (hold)"), "{html}");
    let r = s
        .post(
            &format!("/client-packages/{cp}/state"),
            &[("csrf", &csrf), ("state", "active")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, html) = s
        .page(&format!(
            "/routing?number={}",
            urlencode("+44 20 7946 0119")
        ))
        .await;
    assert!(
        html.contains("reachable: sip:desk@pbx.partner-a.example"),
        "reachable again, the number read in its written form: {html}"
    );
}

#[tokio::test]
async fn assigning_numbers_and_allocating_a_block_show_refusals_beside_their_fields() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let (cp, _) = package_of(&app, seed.customer_a).await;
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    let path = format!("/client-packages/{cp}/assign");
    // A number in use: refused beside the numbers, what was typed kept.
    let r = s
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("numbers", ASSIGNED),
                ("destination", "sip:x@pbx.example"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-numbers\""), "{html}");
    assert!(html.contains(ASSIGNED), "{html}");
    assert_eq!(
        input_value(&html, "destination").as_deref(),
        Some("sip:x@pbx.example")
    );
    let r = s
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("numbers", "+442079460001, +442079460002"),
                ("destination", "sip:x@pbx.example"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("2 DIDs assigned."), "{html}");
    assert!(html.contains("+442079460002"), "{html}");
    // A block larger than the package's room left: refused, the fields kept.
    let block = format!("/client-packages/{cp}/block");
    let r = s
        .post(
            &block,
            &[
                ("csrf", &csrf),
                ("b-size", "10"),
                ("b-country", "GB"),
                ("b-number_type", "fixed_line"),
                ("b-destination", "sip:block@pbx.example"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-b-size\""), "{html}");
    assert_eq!(input_value(&html, "b-country").as_deref(), Some("GB"));
    // Missing fields: each beside its own.
    let r = s.post(&block, &[("csrf", &csrf), ("b-size", "10")]).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    for f in ["e-b-country", "e-b-number_type", "e-b-destination"] {
        assert!(html.contains(&format!("id=\"{f}\"")), "{f}: {html}");
    }
    let roomy = roomy_package(&app, seed.customer_b).await;
    let r = s
        .post(
            &format!("/client-packages/{roomy}/block"),
            &[
                ("csrf", &csrf),
                ("b-size", "10"),
                ("b-country", "GB"),
                ("b-number_type", "fixed_line"),
                ("b-destination", "sip:block@pbx.example"),
            ],
        )
        .await;
    let status = r.status();
    let html = r.text().await.expect("page");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("10 DIDs assigned."), "{html}");
}

#[tokio::test]
async fn the_routing_check_reads_a_number_and_refuses_nonsense_beside_the_field() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/routing").await;
    assert_eq!(status, 200);
    assert!(!html.contains("id=\"route\""));
    let (status, html) = s
        .page(&format!("/routing?number={}", urlencode(ASSIGNED)))
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("reachable: sip:desk@pbx.partner-a.example"),
        "{html}"
    );
    let (_, html) = s.page("/routing?number=%2B442079460005").await;
    assert!(html.contains("unreachable (not in service)"), "{html}");
    let (status, html) = s
        .page(&format!("/routing?number={}", urlencode("<b>x</b>")))
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"e-number\""), "{html}");
    assert!(!html.contains("<b>x</b>"), "{html}");
}
