//! The inventory's forms over plain HTTP: add, export, bulk edit and delete.

use didhub_store::DidFilter;

use crate::support::*;

async fn count(app: &crate::common::TestApp, q: &str) -> i64 {
    let f: DidFilter = serde_urlencoded::from_str(q).expect("filter");
    app.store.inventory().count_dids(&f).await.expect("count")
}

#[tokio::test]
async fn adding_one_several_and_a_range_uses_the_inventorys_reading() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/dids/new").await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Add DIDs</h1>"), "{html}");
    let csrf = s.csrf().await;
    let op = seed.operator.to_string();
    let r = s
        .post(
            "/dids/new",
            &[
                ("csrf", &csrf),
                (
                    "numbers",
                    "+442079461000\n+442079461001, +442079461010-+442079461019\n020 7946 1100",
                ),
                ("country", "GB"),
                ("operator_id", &op),
                ("status", "reserved"),
                ("after_hold", "in_stock"),
                ("tag", EVIL_TAG),
                ("notes", ""),
                ("reason", "new stock"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("13 DIDs added."), "{html}");
    assert!(html.contains("+442079461010"), "{html}");
    assert!(!html.contains("\"><script"), "planted tag escaped");
    assert_eq!(count(&app, "prefix=%2B4420794610").await, 10 + 2);
    assert_eq!(
        count(&app, "prefix=%2B442079461100&status=reserved").await,
        1
    );
    let d = app
        .store
        .inventory()
        .get_did_by_number("+442079461000")
        .await
        .expect("created");
    assert_eq!(d.tag.as_deref(), Some(EVIL_TAG));
}

#[tokio::test]
async fn a_refused_add_shows_each_error_beside_its_field_and_keeps_what_was_typed() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    let typed = "+442079462000\nnot a number\n+442079462010-+442079462001";
    let r = s
        .post(
            "/dids/new",
            &[
                ("csrf", &csrf),
                ("numbers", typed),
                ("country", "Narnia"),
                ("operator_id", ""),
                ("tag", "<kept>"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-country\""), "{html}");
    assert!(html.contains("id=\"e-operator_id\""), "{html}");
    assert!(
        html.contains(&escaped(typed)),
        "the numbers are kept: {html}"
    );
    assert_eq!(input_value(&html, "tag").as_deref(), Some("&#60;kept&#62;"));
    // Fields fixed, numbers still wrong: the store's reading, beside the numbers, naming the
    // entry; nothing is created.
    let (_, list) = s.page("/dids/new").await;
    let op = list
        .split("<option value=\"")
        .nth(2)
        .and_then(|o| o.split('"').next())
        .expect("an operator")
        .to_string();
    let r = s
        .post(
            "/dids/new",
            &[
                ("csrf", &csrf),
                ("numbers", typed),
                ("country", "GB"),
                ("operator_id", &op),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    let beside = html
        .split("id=\"e-numbers\">")
        .nth(1)
        .expect("an error beside the numbers");
    assert!(beside.contains("not a number"), "{beside}");
    assert!(beside.contains("+442079462010-+442079462001"), "{beside}");
    assert_eq!(count(&app, "prefix=%2B44207946200").await, 0);
}

#[tokio::test]
async fn export_downloads_the_lists_filter_as_csv() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (_, list) = s.page("/dids?country=FR").await;
    assert!(
        list.contains("href=\"/dids/export?country=FR\""),
        "the list links its filter's export: {list}"
    );
    let r = s.get("/dids/export?country=FR&sort=number").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let csv = r.text().await.expect("csv");
    assert!(csv.contains("+33123456789"), "{csv}");
    assert!(!csv.contains("+44"), "only the filter's DIDs: {csv}");
    // A refused filter is the list with the error beside its field, not a broken file.
    let (status, html) = s.page("/dids/export?country=Narnia").await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"e-country\""), "{html}");
}

#[tokio::test]
async fn bulk_edit_of_a_filter_applies_only_to_the_count_confirmed() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/dids/bulk?country=GB&status=in_stock").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<strong>119</strong> DIDs matching"),
        "{html}"
    );
    assert!(html.contains("value=\"119\""), "{html}");
    let csrf = s.csrf().await;
    let filter = "country=GB&status=in_stock";
    // A count that is not the filter's now: refused, nothing changed, the new count shown.
    let r = s
        .post(
            "/dids/bulk-edit",
            &[
                ("csrf", &csrf),
                ("filter", filter),
                ("tag", "batch-7"),
                ("expected", "118"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("you confirmed 118 DIDs but 119"), "{html}");
    assert_eq!(input_value(&html, "tag").as_deref(), Some("batch-7"));
    assert_eq!(count(&app, "tag=batch-7").await, 0);
    // Nothing to change: said beside the first field.
    let r = s
        .post(
            "/dids/bulk-edit",
            &[("csrf", &csrf), ("filter", filter), ("expected", "119")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("id=\"e-operator_id\""));
    let r = s
        .post(
            "/dids/bulk-edit",
            &[
                ("csrf", &csrf),
                ("filter", filter),
                ("tag", "batch-7"),
                ("reason", "campaign"),
                ("expected", "119"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("119 DIDs changed."));
    assert_eq!(count(&app, "tag=batch-7").await, 119);
    // The whole inventory is never a filter.
    assert_eq!(s.page("/dids/bulk").await.0, 422);
}

#[tokio::test]
async fn bulk_edit_of_ticked_dids_refuses_a_stale_version() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (_, list) = s.page("/dids?country=FR").await;
    let ticked = format!("{}:", seed.evil_did);
    let value = list
        .split(&format!("value=\"{ticked}"))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a tick box with the version");
    let version: i64 = value.parse().expect("version");
    let (status, html) = s
        .page(&format!("/dids/bulk?did={}%3A{version}", seed.evil_did))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("<strong>1</strong> DIDs ticked"), "{html}");
    let csrf = s.csrf().await;
    let stale = format!("{}:{}", seed.evil_did, version - 1);
    let r = s
        .post(
            "/dids/bulk-edit",
            &[
                ("csrf", &csrf),
                ("did", &stale),
                ("notes", "checked"),
                ("expected", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("changed by someone else"), "{html}");
    let fresh = format!("{}:{version}", seed.evil_did);
    let r = s
        .post(
            "/dids/bulk-edit",
            &[
                ("csrf", &csrf),
                ("did", &fresh),
                ("clear_tag", "1"),
                ("expected", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let d = app
        .store
        .inventory()
        .get_did(seed.evil_did)
        .await
        .expect("DID");
    assert_eq!(d.tag, None);
}

#[tokio::test]
async fn delete_needs_a_reason_and_refuses_a_did_in_use() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    let r = s
        .post(
            "/dids/delete",
            &[
                ("csrf", &csrf),
                ("filter", "prefix=%2B44207946000"),
                ("expected", "10"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("id=\"e-delete_reason\""));
    assert_eq!(count(&app, "prefix=%2B44207946000").await, 10);
    // The filter holds the DID in use: nothing is deleted, the refusal is shown.
    let r = s
        .post(
            "/dids/delete",
            &[
                ("csrf", &csrf),
                ("filter", "prefix=%2B44207946011"),
                ("delete_reason", "returned"),
                ("expected", "10"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(count(&app, "prefix=%2B44207946011").await, 10);
    let r = s
        .post(
            "/dids/delete",
            &[
                ("csrf", &csrf),
                ("filter", "prefix=%2B44207946000"),
                ("delete_reason", "returned to the <carrier>"),
                ("expected", "10"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("10 DIDs deleted."));
    assert_eq!(count(&app, "prefix=%2B44207946000").await, 0);
    let (_, audit) = s.page("/audit").await;
    assert!(
        audit.contains(&escaped("returned to the <carrier>")),
        "{audit}"
    );
}

#[tokio::test]
async fn the_forms_are_the_inventory_admins_and_escape_what_they_show() {
    let app = start(false).await;
    seed(&app).await;
    let support = login(&app, SUPPORT).await;
    for path in ["/dids/new", "/dids/bulk?country=GB", "/dids/export"] {
        assert_eq!(support.page(path).await.0, 403, "{path}");
    }
    let (_, list) = support.page("/dids").await;
    assert!(
        !list.contains("href=\"/dids/new\""),
        "no link to a form it may not open"
    );
    assert!(!list.contains("name=\"did\""), "no tick boxes");
    let partner = login(&app, PARTNER_USER).await;
    assert_eq!(partner.page("/dids/new").await.0, 404);
    let admin = login(&app, ADMIN).await;
    let (status, html) = admin
        .page(&format!("/dids/bulk?tag={}", urlencode(EVIL_TAG)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(html.contains(&escaped(EVIL_TAG)), "{html}");
}
