//! The DID import over plain HTTP: the check (a dry run with its per-row report), then the
//! good rows imported.

use reqwest::multipart::{Form, Part};

use crate::support::*;

/// A messy file: two good rows, a bad number, a duplicate, markup in a value.
pub const MESSY: &str = "number,tag\n+442079464000,new\n+442079464001,new\nnot-a-number,x\n\
    +442079464000,again\n<script>alert(1)</script>,y\n";

async fn upload(s: &Session, csrf: Option<&str>, file: &str) -> reqwest::Response {
    let mut form = Form::new();
    if let Some(c) = csrf {
        form = form.text("csrf", c.to_string());
    }
    let form = form
        .part(
            "file",
            Part::bytes(file.as_bytes().to_vec()).file_name("messy.csv"),
        )
        .text("operator", "Import Carrier")
        .text("country", "GB");
    s.http
        .post(format!("{}/dids/import", s.base))
        .header("cookie", &s.cookie)
        .multipart(form)
        .send()
        .await
        .expect("upload")
}

#[tokio::test]
async fn a_messy_file_is_checked_first_then_its_good_rows_imported() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/dids/import").await;
    assert_eq!(status, 200);
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");
    // Without the session's token: refused.
    assert_eq!(upload(&s, None, MESSY).await.status(), 403);
    let csrf = s.csrf().await;
    let r = upload(&s, Some(&csrf), MESSY).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("report");
    assert!(html.contains("2 rows can be imported"), "{html}");
    assert!(html.contains("id=\"rejects\""), "{html}");
    assert!(html.contains("not-a-number"), "{html}");
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert_eq!(html.matches("<script").count(), 1);
    // The check imported nothing.
    let inv = app.store.inventory();
    assert!(inv.get_did_by_number("+442079464000").await.is_err());
    let upload_id = input_value(&html, "upload").expect("the upload kept");
    let confirm = |id: String| {
        let csrf = csrf.clone();
        let s = &s;
        async move {
            s.post(
                "/dids/import/confirm",
                &[
                    ("csrf", csrf.as_str()),
                    ("upload", id.as_str()),
                    ("file_name", "messy.csv"),
                    ("operator", "Import Carrier"),
                    ("country", "GB"),
                    ("reason", "new range"),
                ],
            )
            .await
        }
    };
    let r = confirm(upload_id.clone()).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("done");
    assert!(html.contains("2 DIDs imported."), "{html}");
    let d = inv
        .get_did_by_number("+442079464001")
        .await
        .expect("imported");
    assert_eq!(d.operator, "Import Carrier");
    // The upload is gone once imported: a second confirm is refused beside the file.
    let r = confirm(upload_id).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("id=\"e-file\""));
}

#[tokio::test]
async fn an_upload_is_only_its_users_and_a_missing_file_is_said_beside_the_field() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    let r = s
        .http
        .post(format!("{}/dids/import", s.base))
        .header("cookie", &s.cookie)
        .multipart(
            Form::new()
                .text("csrf", csrf.clone())
                .text("country", "Narnia"),
        )
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-file\""), "{html}");
    assert!(html.contains("id=\"e-country\""), "{html}");
    assert_eq!(input_value(&html, "country").as_deref(), Some("Narnia"));
    let html = upload(&s, Some(&csrf), MESSY)
        .await
        .text()
        .await
        .expect("report");
    let upload_id = input_value(&html, "upload").expect("kept");
    // Another admin cannot import this user's upload.
    user(
        &app,
        "other-admin@example.com",
        didhub_core::access::Role::Admin,
        None,
    )
    .await;
    let other = login(&app, "other-admin@example.com").await;
    let theirs = other.csrf().await;
    let r = other
        .post(
            "/dids/import/confirm",
            &[
                ("csrf", theirs.as_str()),
                ("upload", upload_id.as_str()),
                ("file_name", "messy.csv"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(app
        .store
        .inventory()
        .get_did_by_number("+442079464000")
        .await
        .is_err());
    // Support may not import.
    let support = login(&app, SUPPORT).await;
    assert_eq!(support.page("/dids/import").await.0, 403);
}
