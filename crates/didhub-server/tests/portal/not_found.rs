//! An address no route has: a portal page (404) in the portal's frame and headers; the API's
//! addresses keep their problem+json.

use crate::support::*;

#[tokio::test]
async fn an_unknown_portal_address_is_a_page_and_an_unknown_api_address_problem_json() {
    let app = start(false).await;
    seed(&app).await;
    let r = client()
        .get(app.url("/nope/<b>"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 404);
    let h = r.headers().clone();
    assert!(h["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/html"));
    assert_eq!(
        h["content-security-policy"],
        "default-src 'self'; frame-ancestors 'none'"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    let html = r.text().await.expect("page");
    assert!(html.contains("<h1>Page not found</h1>"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(
        !html.contains("<nav"),
        "no navigation without a session: {html}"
    );
    // Signed in: the user's frame, its navigation.
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/dashboards").await;
    assert_eq!(status, 404);
    assert!(html.contains("<h1>Page not found</h1>"), "{html}");
    assert!(html.contains("href=\"/dashboard\""), "{html}");
    assert!(html.contains(ADMIN), "{html}");
    // The API's addresses: problem+json, signed in or not.
    for path in ["/api/v1/nope", "/api/nope", "/healthz/x"] {
        let r = s.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
}
