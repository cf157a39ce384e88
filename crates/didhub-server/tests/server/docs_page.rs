//! The interactive docs page is served whole by the binary: nothing on it is fetched from
//! another host (the machine running didhub may have no internet).

use crate::common;

/// Every `src="…"` and `href="…"` of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

fn is_external(r: &str) -> bool {
    let r = r.trim().to_ascii_lowercase();
    r.starts_with("http:") || r.starts_with("https:") || r.starts_with("//")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_loads_nothing_from_another_host() {
    let app = common::spawn_app(common::Db::Sqlite).await.expect("app");
    // `/api/docs` leads to the page; it is public like the document it shows.
    let r = app.client.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page_url = r.url().clone();
    let html = r.text().await.unwrap();
    let refs = references(&html);
    assert!(
        refs.iter().any(|r| r.ends_with(".js")),
        "the page loads its script: {html}"
    );
    for r in &refs {
        assert!(!is_external(r), "{r} is fetched from another host");
        let url = page_url.join(r).unwrap();
        let got = app.client.get(url.clone()).send().await.unwrap();
        assert_eq!(got.status(), 200, "{url} is served by didhub");
        // The script that starts the page names the document and nothing elsewhere.
        if r.contains("initializer") {
            let js = got.text().await.unwrap();
            assert!(js.contains("/api/openapi.json"), "{js}");
            assert!(
                !js.contains("http://") && !js.contains("https://"),
                "the page's set-up names another host: {js}"
            );
            assert!(
                js.contains("\"validatorUrl\": \"none\"")
                    || js.contains("\"validatorUrl\":\"none\""),
                "{js}"
            );
        }
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page names another host: {html}"
    );
    app.stop().await;
}
