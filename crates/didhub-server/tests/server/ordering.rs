//! The service catalog over HTTP: whole, by country, for signed-in users only.

use crate::common::{self, TestApp};

async fn catalog_story(app: &TestApp) {
    let (s, c) = app.get_json("/api/v1/catalog").await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["countries"]["SA"]["agreement_ready_days"], 3, "{c}");
    assert_eq!(
        c["services"]["full_porting"]["documents"],
        serde_json::json!(["loa", "invoice"])
    );
    let (s, fr) = app.get_json("/api/v1/catalog/fr").await;
    assert_eq!(
        (s, fr["offer"]["country"].as_str()),
        (200, Some("FR")),
        "{fr}"
    );
    assert_eq!(fr["offer"]["mobile_prefixes"], serde_json::json!(["+339"]));
    let (s, jp) = app.get_json("/api/v1/catalog/JP").await;
    assert_eq!(
        (s, jp["offer"]["country"].as_str()),
        (200, Some("other")),
        "{jp}"
    );
    let (s, p) = app.get_json("/api/v1/catalog/QQ").await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (422, Some("country")),
        "{p}"
    );
    let anonymous = reqwest::get(app.url("/api/v1/catalog")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
}
both_backends!(catalog, catalog_story);
