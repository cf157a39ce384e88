//! The package catalog over plain HTTP.

use crate::support::*;

#[tokio::test]
async fn packages_are_listed_created_edited_and_deleted_with_errors_beside_their_fields() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/packages").await;
    assert_eq!(status, 200);
    assert!(html.contains("1 packages."), "{html}");
    assert!(html.contains("href=\"/packages/new\""), "{html}");
    let csrf = s.csrf().await;
    let evil = "<b>Gold</b> \"plan\"";
    let r = s
        .post(
            "/packages/new",
            &[
                ("csrf", &csrf),
                ("name", evil),
                ("did_allowance", "ten"),
                ("country", "Narnia"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-did_allowance\""), "{html}");
    assert!(html.contains("id=\"e-country\""), "{html}");
    assert_eq!(input_value(&html, "name"), Some(escaped(evil)));
    assert_eq!(input_value(&html, "did_allowance").as_deref(), Some("ten"));
    // The store's own check (a negative allowance) beside its field.
    let r = s
        .post(
            "/packages/new",
            &[("csrf", &csrf), ("name", evil), ("did_allowance", "-1")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("id=\"e-did_allowance\""));
    let r = s
        .post(
            "/packages/new",
            &[
                ("csrf", &csrf),
                ("name", evil),
                ("did_allowance", "50"),
                ("country", "GB"),
                ("number_type", "fixed_line"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("The package is created."), "{html}");
    assert_eq!(html.matches("<script").count(), 1);
    assert!(!html.contains("<b>Gold</b>"), "{html}");
    let list = app
        .store
        .assignment()
        .list_packages()
        .await
        .expect("packages");
    let gold = list.iter().find(|p| p.name == evil).expect("created");
    let path = format!("/packages/{}", gold.id);
    // A stale version: refused, nothing saved.
    let stale = (gold.version - 1).to_string();
    let r = s
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &stale),
                ("name", "Gold"),
                ("did_allowance", "60"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-package\""));
    let version = gold.version.to_string();
    let r = s
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Gold"),
                ("did_allowance", "60"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("The package is saved."));
    let (_, html) = s.page("/packages?sort=allowance").await;
    let gold_at = html.find(">Gold<").expect("Gold");
    let starter_at = html.find(">Starter<").expect("Starter");
    assert!(gold_at < starter_at, "the largest allowance first");
    let (_, html) = s.page("/packages?name=gol").await;
    assert!(html.contains("1 packages."), "{html}");
    // Starter is a client package's: refused; Gold is deleted.
    let starter = list.iter().find(|p| p.name == "Starter").expect("Starter");
    let r = s
        .post(
            &format!("/packages/{}/delete", starter.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-package\""));
    let r = s.post(&format!("{path}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.page(&path).await.0, 404);
}

#[tokio::test]
async fn a_partner_reads_the_catalog_and_changes_nothing() {
    let app = start(false).await;
    seed(&app).await;
    let p = login(&app, PARTNER_USER).await;
    let (status, html) = p.page("/packages").await;
    assert_eq!(status, 200);
    assert!(!html.contains("/packages/new"), "{html}");
    let id = app.store.assignment().list_packages().await.expect("list")[0].id;
    let (status, html) = p.page(&format!("/packages/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("method=\"post\" action=\"/packages/"),
        "{html}"
    );
    let csrf = p.csrf().await;
    let r = p
        .post(&format!("/packages/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(p.page("/packages/new").await.0, 404);
}
