//! Users over plain HTTP: the list scoped as the API's, a new user, disabling one.

use crate::support::*;

#[tokio::test]
async fn an_admin_creates_filters_and_disables_users() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/users").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("4 users."),
        "the seed's three and the test app's admin: {html}"
    );
    let (_, html) = s.page("/users?role=support").await;
    assert!(html.contains("1 users."), "{html}");
    let (_, html) = s.page("/users?email=partner-a").await;
    assert!(html.contains("1 users."), "{html}");
    let csrf = s.csrf().await;
    // Errors beside the fields, the address kept.
    let r = s
        .post(
            "/users",
            &[
                ("csrf", csrf.as_str()),
                ("new-email", "not an address <x>"),
                ("new-role", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-new-role\""), "{html}");
    assert_eq!(
        input_value(&html, "new-email"),
        Some(escaped("not an address <x>"))
    );
    let r = s
        .post(
            "/users",
            &[
                ("csrf", csrf.as_str()),
                ("new-email", "not an address"),
                ("new-role", "support"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-new-email\""));
    let partner_b = seed.partner_b.to_string();
    let r = s
        .post(
            "/users",
            &[
                ("csrf", csrf.as_str()),
                ("new-email", "carol@partner-b.example"),
                ("new-role", "partner_member"),
                ("new-partner_id", partner_b.as_str()),
                ("new-password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("The user carol@partner-b.example is created."));
    let carol = login(&app, "carol@partner-b.example").await;
    assert_eq!(carol.page("/customers").await.0, 200);
    let id = app
        .store
        .accounts()
        .list_users(None)
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.email == "carol@partner-b.example")
        .expect("carol")
        .id;
    let r = s
        .post(
            &format!("/users/{id}/disabled"),
            &[("csrf", csrf.as_str()), ("disabled", "true")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("is disabled."));
    assert_ne!(
        carol.page("/customers").await.0,
        200,
        "a disabled user's session ends"
    );
}

#[tokio::test]
async fn a_partner_admin_sees_and_creates_its_partners_users_only() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let p = login(&app, PARTNER_USER).await;
    let (status, html) = p.page("/users").await;
    assert_eq!(status, 200);
    assert!(html.contains("1 users."), "{html}");
    assert!(!html.contains(ADMIN), "{html}");
    assert!(!html.contains("new-partner_id"), "no partner to choose");
    let csrf = p.csrf().await;
    let r = p
        .post(
            "/users",
            &[
                ("csrf", csrf.as_str()),
                ("new-email", "dave@partner-a.example"),
                ("new-role", "partner_member"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let dave = app
        .store
        .accounts()
        .list_users(None)
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.email == "dave@partner-a.example")
        .expect("dave");
    assert_eq!(dave.partner_id, Some(seed.partner_a));
    // Staff users are not its to change: not found.
    let admin = app
        .store
        .accounts()
        .list_users(None)
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.email == ADMIN)
        .expect("admin")
        .id;
    let r = p
        .post(
            &format!("/users/{admin}/disabled"),
            &[("csrf", csrf.as_str()), ("disabled", "true")],
        )
        .await;
    assert_eq!(r.status(), 404);
    let support = login(&app, SUPPORT).await;
    assert_eq!(support.page("/users").await.0, 403);
}
