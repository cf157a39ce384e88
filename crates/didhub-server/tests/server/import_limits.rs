//! Imports through the API of hostile files and of files with many rejected rows: a sheet
//! declaring the whole grid gets a report (dry run or not) and the server lives on; a report
//! lists the first 1,000 rejections, and its link downloads every one, for the user who
//! imported only.

use crate::common;

use crate::common::TestApp;
use didhub_core::access::Role;
use didhub_store::Actor;
use serde_json::Value;

/// An XLSX whose only far cell is `XFD1048576` (its sheet declares `A1:XFD1048576`).
fn far_xlsx() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "number").unwrap();
    ws.write_number(1, 0, 442079464000.0).unwrap();
    ws.write_number(2, 0, 442079464001.0).unwrap();
    ws.write_string(1_048_575, 16_383, "far").unwrap();
    wb.save_to_buffer().unwrap()
}

async fn import(app: &TestApp, file: Vec<u8>, name: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(file).file_name(name.to_string()),
        )
        .text("operator", "Limits Op");
    for (k, v) in extra {
        form = form.text(k.to_string(), v.to_string());
    }
    let r = app
        .post("/api/v1/dids/import")
        .multipart(form)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("report"))
}

async fn far_sheet_story(app: &TestApp) {
    // Dry run, strict: the far row has no number, so the run would be refused.
    let (status, rep) = import(app, far_xlsx(), "far.xlsx", &[("dry_run", "true")]).await;
    assert_eq!(status, 200, "{rep}");
    assert_eq!(rep["valid"], 0, "{rep}");
    assert_eq!(rep["rejected_total"], 1, "{rep}");
    assert_eq!(rep["rejected"][0]["row"], 1_048_576, "{rep}");
    assert_eq!(rep["rejected"][0]["reason"], "number is empty", "{rep}");
    // Imported, skipping that row.
    let (status, rep) = import(app, far_xlsx(), "far.xlsx", &[("skip_invalid", "true")]).await;
    assert_eq!(status, 200, "{rep}");
    assert_eq!(rep["imported"], 2, "{rep}");
    // The server is alive and counts them.
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 2);
}

async fn rejects_link_story(app: &TestApp) {
    // 1,500 rows: one number, then 1,499 rows each a duplicate of it or not a number.
    let mut csv = String::from("number\n+442079464100\n");
    for i in 0..1_499 {
        if i % 3 == 0 {
            csv.push_str("+442079464100\n");
        } else {
            csv.push_str(&format!("nope-{i}\n"));
        }
    }
    let (status, rep) = import(app, csv.into_bytes(), "many.csv", &[]).await;
    assert_eq!(status, 422, "strict: refused");
    assert_eq!(rep["imported"], 0);
    assert_eq!(rep["rejected_total"], 1_499);
    assert_eq!(rep["rejected_truncated"], true);
    assert_eq!(rep["rejected"].as_array().unwrap().len(), 1_000);
    assert_eq!(rep["rejects_rows"], 1_499);
    let url = rep["rejects_url"]
        .as_str()
        .expect("a rejects link")
        .to_string();
    assert!(url.starts_with("/api/v1/dids/import/rejects/"), "{url}");

    // The importing user downloads every rejected row, in row order.
    let r = app.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["row", "value", "reason"]
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1_499);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], (i + 3).to_string());
    }
    assert_eq!(&rows[0][1], "+442079464100");
    assert_eq!(
        &rows[0][2],
        "duplicate: +442079464100 is already in row 2 of this file"
    );
    assert_eq!(&rows[1][1], "nope-1");

    // Another user, even one who may import, is told it does not exist; no one unsigned.
    let sys = Actor::system();
    let other = app
        .store
        .accounts()
        .create_user(&sys, None, "ops@example.com", Role::Operations, None, None)
        .await
        .unwrap();
    let (_, token) = app
        .store
        .accounts()
        .create_token(&sys, other.id, "t", None)
        .await
        .unwrap();
    let r = app
        .client
        .get(app.url(&url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 404, "{problem}");
    let r = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // An id that was never given.
    let r = app
        .get(&format!(
            "/api/v1/dids/import/rejects/{}",
            uuid::Uuid::now_v7()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // No link when nothing was rejected.
    let (status, rep) = import(app, b"number\n+442079464200\n".to_vec(), "ok.csv", &[]).await;
    assert_eq!(status, 200, "{rep}");
    assert_eq!(rep["rejected_total"], 0);
    assert_eq!(rep["rejected_truncated"], false);
    assert!(rep.get("rejects_url").is_none(), "{rep}");
    assert!(rep.get("rejects_rows").is_none(), "{rep}");
}

macro_rules! on_both {
    ($name:ident, $story:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let app = common::spawn_app(common::Db::Sqlite)
                    .await
                    .expect("sqlite app");
                $story(&app).await;
                app.stop().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some(app) = common::spawn_app(common::Db::Postgres).await else {
                    eprintln!("{} not set: PostgreSQL run skipped", common::PG_ENV);
                    return;
                };
                $story(&app).await;
                app.stop().await;
            }
        }
    };
}

on_both!(far_sheet, far_sheet_story);
on_both!(rejects_link, rejects_link_story);
