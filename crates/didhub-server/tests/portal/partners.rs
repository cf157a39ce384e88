//! Partners over plain HTTP.

use crate::support::*;

#[tokio::test]
async fn staff_list_and_create_partners_and_a_partner_user_sees_its_own() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/partners").await;
    assert_eq!(status, 200);
    assert!(html.contains("2 partners."), "{html}");
    assert!(html.contains(&format!("/customers?partner_id={}", seed.partner_b)));
    let (_, html) = s.page("/partners?name=b").await;
    assert!(html.contains("1 partners."), "{html}");
    let csrf = s.csrf().await;
    let r = s
        .post(
            "/partners",
            &[("csrf", csrf.as_str()), ("partner_name", "  ")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("id=\"e-partner_name\""));
    let evil = "<script>alert('p')</script> & Co";
    let r = s
        .post(
            "/partners",
            &[("csrf", csrf.as_str()), ("partner_name", evil)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("3 partners."), "{html}");
    assert!(html.contains(&escaped(evil)), "{html}");
    assert_eq!(html.matches("<script").count(), 1);
    let p = login(&app, PARTNER_USER).await;
    let (status, html) = p.page("/partners").await;
    assert_eq!(status, 200);
    assert!(html.contains("1 partners."), "{html}");
    assert!(!html.contains("Partner B"), "{html}");
    assert!(
        !html.contains("action=\"/partners\" class=\"form\""),
        "no form: {html}"
    );
    let csrf = p.csrf().await;
    let r = p
        .post(
            "/partners",
            &[("csrf", csrf.as_str()), ("partner_name", "Mine")],
        )
        .await;
    assert_eq!(r.status(), 404);
}
