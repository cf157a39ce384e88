//! The import's progress over plain HTTP: with the server's wait set to nothing, the check and
//! the import answer with the progress page (its user's only), which shows the rows read and
//! then the same result the import answers with when done at once.

use std::time::Duration;

use didhub_core::access::Role;
use reqwest::multipart::{Form, Part};

use crate::common::{spawn_app_tuned, Db, TestApp};
use crate::import::MESSY;
use crate::support::*;

/// A server that never waits for an import: every check and import shows its progress page.
async fn start_impatient() -> TestApp {
    spawn_app_tuned(
        Db::Sqlite,
        |_| {},
        |s| {
            s.secure_cookies = false;
            s.import_wait = Duration::ZERO;
        },
    )
    .await
    .expect("SQLite app")
}

async fn upload(s: &Session, csrf: &str, name: &str, file: String) -> reqwest::Response {
    let form = Form::new()
        .text("csrf", csrf.to_string())
        .part(
            "file",
            Part::bytes(file.into_bytes()).file_name(name.to_string()),
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

/// Where a 303 sends the browser.
fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Asks for the progress page until it is the result: (pages that were progress, result).
async fn follow(s: &Session, path: &str) -> (Vec<String>, String) {
    let mut running = Vec::new();
    for _ in 0..3000 {
        let (status, html) = s.page(path).await;
        assert_eq!(status, 200, "{html}");
        if !html.contains("id=\"progress\"") {
            return (running, html);
        }
        running.push(html);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the import did not finish within five minutes");
}

#[tokio::test]
async fn a_long_check_shows_the_rows_read_then_its_report_and_only_to_its_user() {
    let app = start_impatient().await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    let mut big = String::from("number\n");
    for i in 0..20_000 {
        big.push_str(&format!("+4420795{i:05}\n"));
    }
    let r = upload(&s, &csrf, "<b>big</b>.csv", big).await;
    assert_eq!(r.status(), 303);
    let path = location(&r);
    assert!(path.starts_with("/dids/import/progress/"), "{path}");
    let (running, html) = follow(&s, &path).await;
    let first = running.first().expect("the check seen running");
    assert!(
        first.contains(&format!(
            "hx-get=\"{path}\" hx-trigger=\"every 1s\" hx-select=\"#main\""
        )),
        "{first}"
    );
    let named = format!("Checking {}: ", escaped("<b>big</b>.csv"));
    assert!(first.contains(&named), "{first}");
    assert!(first.contains("rows read so far."), "{first}");
    assert!(!first.contains("<b>big"), "{first}");
    // Another admin, an id that is none and one that is no id: not found.
    user(&app, "other-admin@example.com", Role::Admin, None).await;
    let other = login(&app, "other-admin@example.com").await;
    assert_eq!(other.page(&path).await.0, 404);
    let unknown = format!("/dids/import/progress/{}", uuid::Uuid::now_v7());
    assert_eq!(s.page(&unknown).await.0, 404);
    assert_eq!(s.page("/dids/import/progress/nothing").await.0, 404);
    assert!(html.contains("20,000 rows can be imported"), "{html}");
    assert!(input_value(&html, "upload").is_some(), "{html}");
    // The result stays for its page; the check imported nothing.
    let (status, again) = s.page(&path).await;
    assert_eq!(status, 200);
    assert!(again.contains("20,000 rows can be imported"), "{again}");
    assert!(app
        .store
        .inventory()
        .get_did_by_number("+442079500000")
        .await
        .is_err());
    app.stop().await;
}

#[tokio::test]
async fn the_import_answers_with_its_progress_page_then_says_how_many_were_imported() {
    let app = start_impatient().await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    let r = upload(&s, &csrf, "messy.csv", MESSY.to_string()).await;
    assert_eq!(r.status(), 303);
    let (_, html) = follow(&s, &location(&r)).await;
    assert!(html.contains("2 rows can be imported"), "{html}");
    let upload_id = input_value(&html, "upload").expect("the upload kept");
    let r = s
        .post(
            "/dids/import/confirm",
            &[
                ("csrf", csrf.as_str()),
                ("upload", upload_id.as_str()),
                ("file_name", "messy.csv"),
                ("operator", "Import Carrier"),
                ("country", "GB"),
                ("reason", "new range"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let path = location(&r);
    let (_, html) = follow(&s, &path).await;
    assert!(html.contains("2 DIDs imported."), "{html}");
    let d = app
        .store
        .inventory()
        .get_did_by_number("+442079464001")
        .await
        .expect("imported");
    assert_eq!(d.operator, "Import Carrier");
    app.stop().await;
}

#[tokio::test]
async fn a_file_over_16_mib_is_checked_and_its_upload_still_needs_the_token() {
    let app = start_impatient().await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    // 100 rows, each with 180,000 characters of notes (over the notes' 4,000: every row is
    // refused, after the whole file was read): about 18 MB.
    let notes = "n".repeat(180_000);
    let mut big = String::from("number,notes\n");
    for i in 0..100 {
        big.push_str(&format!("+4420795{i:05},{notes}\n"));
    }
    assert!(big.len() > 16 * 1024 * 1024);
    let without = s
        .http
        .post(format!("{}/dids/import", s.base))
        .header("cookie", &s.cookie)
        .multipart(Form::new().part(
            "file",
            Part::bytes(big.clone().into_bytes()).file_name("big.csv"),
        ))
        .send()
        .await
        .expect("upload");
    assert_eq!(without.status(), 403);
    let r = upload(&s, &csrf, "big.csv", big).await;
    assert_eq!(r.status(), 303);
    let (_, html) = follow(&s, &location(&r)).await;
    assert!(html.contains("id=\"report\""), "{html}");
    assert!(!html.contains("id=\"e-file\""), "{html}");
    assert!(
        html.contains("0 rows can be imported; 100 rows are refused"),
        "{html}"
    );
    app.stop().await;
}
