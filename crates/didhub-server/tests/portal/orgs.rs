//! Partner, customer and PBX forms over plain HTTP: rename with the version read, delete as
//! the store allows, a new customer and PBX, a license set; a partner user's scope.

use didhub_store::accounts::orgs::{NewPbx, Scope};
use didhub_store::Actor;

use crate::support::*;

#[tokio::test]
async fn a_partner_is_renamed_with_its_version_and_deleted_only_when_empty() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, ADMIN).await;
    let path = format!("/partners/{}", seed.partner_b);
    let (status, html) = s.page(&path).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(input_value(&html, "version").as_deref(), Some("1"));
    assert_eq!(input_value(&html, "name").as_deref(), Some("Partner B"));
    let (_, list) = s.page("/partners").await;
    assert!(list.contains(&format!("href=\"{path}\"")), "{list}");
    let csrf = s.csrf().await;
    let evil = "<i>Bravo</i> \"Resale\"";
    // A stale version: refused beside the name, what was typed kept, nothing renamed.
    let r = s
        .post(&path, &[("csrf", &csrf), ("version", "0"), ("name", evil)])
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-name\""), "{html}");
    assert_eq!(input_value(&html, "name"), Some(escaped(evil)));
    // A name taken by another partner, and a blank one.
    for name in ["Partner A", "  "] {
        let r = s
            .post(&path, &[("csrf", &csrf), ("version", "1"), ("name", name)])
            .await;
        assert_eq!(r.status(), 422, "{name}");
        assert!(r.text().await.expect("page").contains("id=\"e-name\""));
    }
    let acc = app.store.accounts();
    let b = acc
        .get_partner(Scope::All, seed.partner_b)
        .await
        .expect("b");
    assert_eq!((b.name.as_str(), b.version), ("Partner B", 1));
    let r = s
        .post(&path, &[("csrf", &csrf), ("version", "1"), ("name", evil)])
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains(&escaped(evil)), "{html}");
    assert!(!html.contains("<i>Bravo"), "{html}");
    assert_eq!(input_value(&html, "version").as_deref(), Some("2"));
    // It has a customer: the delete is refused beside the button, nothing deleted.
    let r = s.post(&format!("{path}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-delete\""));
    assert!(acc.get_partner(Scope::All, seed.partner_b).await.is_ok());
    let empty = acc
        .create_partner(&Actor::system(), "Empty Ltd")
        .await
        .expect("partner");
    let gone = format!("/partners/{}", empty.id);
    let r = s.post(&format!("{gone}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("is deleted"));
    assert_eq!(s.page(&gone).await.0, 404);
}

#[tokio::test]
async fn a_partner_user_sees_its_own_partner_without_forms_and_cannot_change_it() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let p = login(&app, PARTNER_USER).await;
    let own = format!("/partners/{}", seed.partner_a);
    let (status, html) = p.page(&own).await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("name=\"version\""), "no rename form: {html}");
    assert!(!html.contains("/delete"), "no delete form: {html}");
    assert_eq!(
        p.page(&format!("/partners/{}", seed.partner_b)).await.0,
        404
    );
    let csrf = p.csrf().await;
    let r = p
        .post(&own, &[("csrf", &csrf), ("version", "1"), ("name", "Mine")])
        .await;
    assert_eq!(r.status(), 404);
    let r = p.post(&format!("{own}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 404);
    // Staff without the need: 403.
    let support = login(&app, SUPPORT).await;
    let csrf = support.csrf().await;
    let r = support
        .post(&own, &[("csrf", &csrf), ("version", "1"), ("name", "X")])
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn customers_are_created_renamed_and_deleted_within_the_partners_scope() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let acc = app.store.accounts();
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    // Staff must choose the partner; the name typed is kept.
    let r = s
        .post(
            "/customers",
            &[
                ("csrf", &csrf),
                ("customer_name", "Charlie <c>"),
                ("customer_partner", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-customer_partner\""), "{html}");
    assert_eq!(
        input_value(&html, "customer_name"),
        Some(escaped("Charlie <c>"))
    );
    let partner_b = seed.partner_b.to_string();
    let r = s
        .post(
            "/customers",
            &[
                ("csrf", &csrf),
                ("customer_name", " "),
                ("customer_partner", &partner_b),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("id=\"e-customer_name\""));
    let r = s
        .post(
            "/customers",
            &[
                ("csrf", &csrf),
                ("customer_name", "Charlie <c>"),
                ("customer_partner", &partner_b),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("3 customers."), "{html}");
    let of_b = acc
        .list_customers(Scope::All, Some(seed.partner_b))
        .await
        .expect("customers");
    assert!(of_b.iter().any(|c| c.name == "Charlie <c>"));

    // A partner user's new customer is its partner's; another partner's is out of reach.
    let p = login(&app, PARTNER_USER).await;
    let pc = p.csrf().await;
    let r = p
        .post("/customers", &[("csrf", &pc), ("customer_name", "Own Co")])
        .await;
    assert_eq!(r.status(), 200);
    let own = acc
        .list_customers(Scope::All, Some(seed.partner_a))
        .await
        .expect("customers")
        .into_iter()
        .find(|c| c.name == "Own Co")
        .expect("created for partner A");
    let other = format!("/customers/{}", seed.customer_b);
    let r = p
        .post(
            &other,
            &[("csrf", &pc), ("version", "1"), ("name", "Taken")],
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        p.post(&format!("{other}/delete"), &[("csrf", &pc)])
            .await
            .status(),
        404
    );
    assert_eq!(
        acc.get_customer(Scope::All, seed.customer_b)
            .await
            .expect("b")
            .name,
        "Bravo Ltd"
    );
    // Rename with the version read: a stale one refused, then done.
    let path = format!("/customers/{}", own.id);
    let (_, html) = p.page(&path).await;
    assert_eq!(input_value(&html, "version").as_deref(), Some("1"));
    let r = p
        .post(
            &path,
            &[("csrf", &pc), ("version", "0"), ("name", "Own Company")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-name\""), "{html}");
    assert_eq!(input_value(&html, "name").as_deref(), Some("Own Company"));
    let r = p
        .post(
            &path,
            &[("csrf", &pc), ("version", "1"), ("name", "Own Company")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("renamed Own Company"));
    // A customer with a client package is kept; one without anything is deleted.
    let used = format!("/customers/{}/delete", seed.customer_a);
    let r = p.post(&used, &[("csrf", &pc)]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-delete\""));
    let r = p.post(&format!("{path}/delete"), &[("csrf", &pc)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(p.page(&path).await.0, 404);
    // Support reads customers but changes none.
    let support = login(&app, SUPPORT).await;
    let sc = support.csrf().await;
    let r = support
        .post("/customers", &[("csrf", &sc), ("customer_name", "No")])
        .await;
    assert_eq!(r.status(), 403);
    let (_, html) = support.page("/customers").await;
    assert!(
        !html.contains("action=\"/customers\" class=\"form\""),
        "{html}"
    );
}

#[tokio::test]
async fn a_pbx_is_added_edited_licensed_and_deleted_as_the_store_allows() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let p = login(&app, PARTNER_USER).await;
    let csrf = p.csrf().await;
    let add = format!("/customers/{}/pbxs", seed.customer_a);
    let r = p
        .post(
            &add,
            &[
                ("csrf", &csrf),
                ("pbx_name", "Edge <1>"),
                ("serial_number", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-serial_number\""), "{html}");
    assert_eq!(input_value(&html, "pbx_name"), Some(escaped("Edge <1>")));
    let r = p
        .post(
            &add,
            &[
                ("csrf", &csrf),
                ("pbx_name", "Edge <1>"),
                ("serial_number", "SN-9"),
                ("region", "EU"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(
        html.contains("The PBX Edge &#60;1&#62; is added."),
        "{html}"
    );
    let acc = app.store.accounts();
    let pbx = acc.find_pbx(Scope::All, "SN-9").await.expect("the PBX").id;
    assert!(html.contains(&format!("href=\"/pbxs/{pbx}\"")), "{html}");
    // A serial number taken: beside its field.
    let r = p
        .post(
            &add,
            &[
                ("csrf", &csrf),
                ("pbx_name", "Twin"),
                ("serial_number", "SN-9"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("id=\"e-serial_number\""));

    // The license: refused fields beside themselves (the typed day kept), then set.
    let path = format!("/pbxs/{pbx}");
    let (_, html) = p.page(&path).await;
    assert!(html.contains("Set a license"), "{html}");
    let r = p
        .post(
            &format!("{path}/license"),
            &[
                ("csrf", &csrf),
                ("term_kind", ""),
                ("period_start", "10/01/2026"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-term_kind\""), "{html}");
    assert!(html.contains("id=\"e-period_start\""), "{html}");
    assert_eq!(
        input_value(&html, "period_start").as_deref(),
        Some("10/01/2026")
    );
    let r = p
        .post(
            &format!("{path}/license"),
            &[
                ("csrf", &csrf),
                ("term_kind", "yearly"),
                ("period_start", "2026-01-10"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("yearly, 2026-01-10 to 2027-01-10"), "{html}");
    let lic = app
        .store
        .licensing()
        .get_license(Scope::All, pbx)
        .await
        .expect("license")
        .expect("set");
    assert_eq!(lic.expires.to_string(), "2027-01-10");

    // Edit with the version read.
    let r = p
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", "0"),
                ("pbx_name", "Edge 2"),
                ("serial_number", "SN-9"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-edit\""), "{html}");
    assert_eq!(input_value(&html, "pbx_name").as_deref(), Some("Edge 2"));
    let r = p
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", "1"),
                ("pbx_name", "Edge 2"),
                ("serial_number", "SN-10"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("The PBX Edge 2 is saved."));
    assert_eq!(
        acc.get_pbx(Scope::All, pbx)
            .await
            .expect("pbx")
            .serial_number,
        "SN-10"
    );

    // A PBX with a service: its license period is not replaced, and it is not deleted.
    let busy = crate::pbx::licensed_pbx(&app, seed.customer_a).await;
    let r = app
        .client
        .post(app.url(&format!("/api/v1/pbxs/{busy}/services")))
        .bearer_auth(&app.token)
        .json(&serde_json::json!({"kind": "sip_trunk", "currency": "EUR", "service_start": "2020-08-10"}))
        .send()
        .await
        .expect("service");
    assert_eq!(r.status(), 201);
    let r = p
        .post(
            &format!("/pbxs/{busy}/license"),
            &[
                ("csrf", &csrf),
                ("term_kind", "monthly"),
                ("period_start", "2026-01-01"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-license\""));
    let r = p
        .post(&format!("/pbxs/{busy}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-delete\""));
    // Without services: deleted, with its license.
    let r = p.post(&format!("{path}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("The PBX Edge 2 is deleted."));
    assert_eq!(p.page(&path).await.0, 404);

    // Another partner's PBX: every form 404, nothing changed.
    let theirs = acc
        .create_pbx(
            &Actor::system(),
            Scope::All,
            seed.customer_b,
            &NewPbx {
                name: "B's".into(),
                serial_number: "SN-B".into(),
                region: None,
            },
        )
        .await
        .expect("pbx")
        .id;
    let theirs = format!("/pbxs/{theirs}");
    for (to, form) in [
        (
            format!("{theirs}/license"),
            vec![("term_kind", "yearly"), ("period_start", "2026-01-10")],
        ),
        (
            theirs.clone(),
            vec![
                ("version", "1"),
                ("pbx_name", "Mine"),
                ("serial_number", "SN-B"),
            ],
        ),
        (format!("{theirs}/delete"), vec![]),
        (
            format!("/customers/{}/pbxs", seed.customer_b),
            vec![("pbx_name", "X"), ("serial_number", "SN-X")],
        ),
    ] {
        let mut f = vec![("csrf", csrf.as_str())];
        f.extend(form);
        assert_eq!(p.post(&to, &f).await.status(), 404, "{to}");
    }
    assert!(acc.find_pbx(Scope::All, "SN-B").await.is_ok());
    assert!(acc.find_pbx(Scope::All, "SN-X").await.is_err());
}
