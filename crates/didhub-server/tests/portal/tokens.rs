//! API tokens over plain HTTP: the secret shown once, revoking, each user's own.

use crate::support::*;

fn secret_of(html: &str) -> Option<String> {
    let at = html.find("<code>")? + 6;
    let end = html[at..].find("</code>")?;
    Some(html[at..at + end].to_string())
}

#[tokio::test]
async fn a_token_is_shown_once_works_for_the_api_and_is_revoked() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, PARTNER_USER).await;
    let (status, html) = s.page("/tokens").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("href=\"/tokens\""),
        "in the navigation: {html}"
    );
    let csrf = s.csrf().await;
    let r = s
        .post(
            "/tokens",
            &[("csrf", csrf.as_str()), ("name", ""), ("expires", "soon")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-expires\""), "{html}");
    assert_eq!(input_value(&html, "expires").as_deref(), Some("soon"));
    let r = s
        .post("/tokens", &[("csrf", csrf.as_str()), ("name", "")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-name\""));
    let r = s
        .post(
            "/tokens",
            &[("csrf", csrf.as_str()), ("name", "<i>ci</i> \"bot\"")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    let secret = secret_of(&html).expect("the secret, once");
    assert!(html.contains(&escaped("<i>ci</i> \"bot\"")), "{html}");
    let me = |secret: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/auth/me"))
                .bearer_auth(secret)
                .send()
                .await
                .expect("me")
                .status()
                .as_u16()
        }
    };
    assert_eq!(me(secret.clone()).await, 200);
    let (_, again) = s.page("/tokens").await;
    assert!(secret_of(&again).is_none(), "never shown again");
    assert!(!again.contains(&secret));
    let id = app
        .store
        .accounts()
        .list_tokens(None)
        .await
        .expect("tokens")
        .into_iter()
        .find(|t| t.name == "<i>ci</i> \"bot\"")
        .expect("token")
        .id;
    // Another user's token is not found for this one.
    let other = login(&app, SUPPORT).await;
    let theirs = other.csrf().await;
    let r = other
        .post(
            &format!("/tokens/{id}/revoke"),
            &[("csrf", theirs.as_str())],
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(me(secret.clone()).await, 200);
    let r = s
        .post(&format!("/tokens/{id}/revoke"), &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("The token is revoked."));
    assert_eq!(me(secret).await, 401);
}
