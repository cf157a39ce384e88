//! A user's page over plain HTTP: its role changed as the grant rules allow, its password set
//! (its sessions ended), scoped as the API scopes users.

use didhub_core::access::Role;

use crate::support::*;

async fn id_of(app: &crate::common::TestApp, email: &str) -> uuid::Uuid {
    app.store
        .accounts()
        .find_user(email)
        .await
        .expect("read")
        .expect("user")
        .id
}

#[tokio::test]
async fn an_admin_changes_a_role_within_the_grant_rules() {
    let app = start(false).await;
    seed(&app).await;
    let support = id_of(&app, SUPPORT).await;
    let s = login(&app, ADMIN).await;
    let path = format!("/users/{support}");
    let (status, html) = s.page(&path).await;
    assert_eq!(status, 200, "{html}");
    let (_, list) = s.page("/users").await;
    assert!(list.contains(&format!("href=\"{path}\"")), "{list}");
    // A staff user is offered the staff roles only.
    assert!(html.contains("value=\"operations\""), "{html}");
    assert!(!html.contains("value=\"partner_admin\""), "{html}");
    let csrf = s.csrf().await;
    // Sent anyway: the store refuses it beside the field, and the role stays.
    let r = s
        .post(
            &format!("{path}/role"),
            &[("csrf", &csrf), ("role", "partner_admin")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-role\""));
    let r = s
        .post(
            &format!("{path}/role"),
            &[("csrf", &csrf), ("role", "chief")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let acc = app.store.accounts();
    assert_eq!(
        acc.get_user(None, support).await.expect("u").role,
        Role::Support
    );
    let r = s
        .post(
            &format!("{path}/role"),
            &[("csrf", &csrf), ("role", "operations")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("The role is now operations."));
    assert_eq!(
        acc.get_user(None, support).await.expect("u").role,
        Role::Operations
    );
}

#[tokio::test]
async fn setting_a_password_ends_the_users_sessions_and_the_new_one_signs_in() {
    let app = start(false).await;
    seed(&app).await;
    let support = id_of(&app, SUPPORT).await;
    let theirs = login(&app, SUPPORT).await;
    assert_eq!(theirs.page("/customers").await.0, 200);
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    let to = format!("/users/{support}/password");
    let new = "a much longer passphrase 42";
    let r = s
        .post(
            &to,
            &[
                ("csrf", &csrf),
                ("password", new),
                ("password_again", "typo"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-password_again\""), "{html}");
    assert!(!html.contains(new), "a password is never shown back");
    let r = s
        .post(
            &to,
            &[
                ("csrf", &csrf),
                ("password", "short"),
                ("password_again", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-password\""));
    assert_eq!(
        theirs.page("/customers").await.0,
        200,
        "nothing changed yet"
    );
    let r = s
        .post(
            &to,
            &[("csrf", &csrf), ("password", new), ("password_again", new)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("its sessions have ended"));
    // The open session is over: back to the sign-in form.
    let r = theirs.get("/customers").await;
    assert_eq!(r.status(), 303);
    assert_eq!(login_answer(&app, SUPPORT, PASSWORD).await.status(), 401);
    assert_eq!(login_answer(&app, SUPPORT, new).await.status(), 303);
}

#[tokio::test]
async fn a_partner_admin_manages_its_partners_users_only() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let member = "bob@partner-a.example";
    user(&app, member, Role::PartnerMember, Some(seed.partner_a)).await;
    let bob = id_of(&app, member).await;
    let support = id_of(&app, SUPPORT).await;
    let p = login(&app, PARTNER_USER).await;
    let csrf = p.csrf().await;
    let (status, html) = p.page(&format!("/users/{bob}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        !html.contains("value=\"admin\""),
        "not a role it may give: {html}"
    );
    let r = p
        .post(
            &format!("/users/{bob}/role"),
            &[("csrf", &csrf), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-role\""));
    let r = p
        .post(
            &format!("/users/{bob}/role"),
            &[("csrf", &csrf), ("role", "partner_admin")],
        )
        .await;
    assert_eq!(r.status(), 200);
    // A staff user is not its to see or change.
    assert_eq!(p.page(&format!("/users/{support}")).await.0, 404);
    let r = p
        .post(
            &format!("/users/{support}/password"),
            &[
                ("csrf", &csrf),
                ("password", "x long enough pass"),
                ("password_again", "x long enough pass"),
            ],
        )
        .await;
    assert_eq!(r.status(), 404);
    // Support has no user pages.
    let s = login(&app, SUPPORT).await;
    assert_eq!(s.page(&format!("/users/{bob}")).await.0, 403);
}
