//! Bulk loading of large imports (PostgreSQL; see `crates/didhub-store/src/bulk_load.rs`),
//! with the threshold lowered so that small files take it. The same stories run on SQLite,
//! which has no bulk path, and must give the same answers.
//!
//! One test runs the stories in turn: they read the process-wide bulk-load counter.

use crate::common;

use crate::common::TestApp;
use serde_json::{json, Value};

/// Bulk loads for files of this many lines (header included) or more.
const MIN_ROWS: u64 = 10;

fn numbers(from: u32, count: u32) -> Vec<String> {
    (from..from + count)
        .map(|i| format!("+44207946{i:04}"))
        .collect()
}

fn csv(numbers: &[String]) -> String {
    let mut s = String::from("number\n");
    for n in numbers {
        s.push_str(n);
        s.push('\n');
    }
    s
}

/// The import's report; 200 when it imported (or a dry run reported), 422 when refused.
async fn import(app: &TestApp, csv: String, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("dids.csv"),
        )
        .text("operator", "Bulk Op");
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

async fn count(app: &TestApp) -> u64 {
    app.get_json("/api/v1/dids/count").await.1["count"]
        .as_u64()
        .expect("count")
}

async fn bulk_loads(app: &TestApp) -> f64 {
    app.metric("didhub_import_bulk_loads_total")
        .await
        .unwrap_or(0.0)
}

const INDEXES: [&str; 6] = [
    "dids_client_package",
    "dids_customer",
    "dids_hold",
    "dids_number_key",
    "dids_pkey",
    "dids_updated",
];

/// The indexes of `dids` (SQLite's primary key index under PostgreSQL's name).
async fn pg_indexes(app: &TestApp) -> Vec<String> {
    match &app.store.backend {
        didhub_store::Backend::Postgres(pool) => sqlx::query_scalar(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'dids' ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .expect("pg_indexes"),
        didhub_store::Backend::Sqlite(pool) => {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT CASE WHEN name LIKE 'sqlite_autoindex_dids_%' THEN 'dids_pkey' ELSE name END \
                 FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'dids' ORDER BY 1",
            )
            .fetch_all(pool)
            .await
            .expect("sqlite_schema");
            names
        }
    }
}

/// A bulk import refuses and reports duplicates against the inventory as the row path does,
/// imports the rest with `skip_invalid`, and leaves every index in place and enforcing.
async fn duplicates_and_indexes(app: &TestApp) {
    let op = app.operator("Bulk Op").await;
    app.create(&op, &["+442079460000-+442079460002"]).await;
    let loads = bulk_loads(app).await;

    // 20 numbers from +442079460001: the first two are in stock already (rows 2 and 3).
    let file = numbers(1, 20);
    let (s, rep) = import(app, csv(&file), &[]).await;
    assert_eq!(s, 422, "{rep}");
    assert_eq!(rep["imported"], 0, "all or nothing: {rep}");
    assert_eq!(rep["duplicates"], 2, "{rep}");
    assert_eq!(
        rep["rejected"],
        json!([
            {"row": 2, "value": "+442079460001", "reason": "duplicate: +442079460001 is already in the inventory"},
            {"row": 3, "value": "+442079460002", "reason": "duplicate: +442079460002 is already in the inventory"},
        ]),
        "{rep}"
    );
    assert_eq!(count(app).await, 3, "a refused import changes nothing");
    assert_eq!(pg_indexes(app).await, INDEXES);

    let (s, rep) = import(app, csv(&file), &[("skip_invalid", "true")]).await;
    assert_eq!(s, 200, "{rep}");
    assert_eq!(rep["imported"], 18, "{rep}");
    assert_eq!(rep["valid"], 18, "{rep}");
    assert_eq!(rep["duplicates"], 2, "{rep}");
    assert_eq!(rep["operators_created"], json!([]), "{rep}");
    assert_eq!(
        rep["rejected"],
        json!([
            {"row": 2, "value": "+442079460001", "reason": "duplicate: +442079460001 is already in the inventory"},
            {"row": 3, "value": "+442079460002", "reason": "duplicate: +442079460002 is already in the inventory"},
        ]),
        "{rep}"
    );
    assert_eq!(count(app).await, 21);
    assert_eq!(pg_indexes(app).await, INDEXES, "indexes rebuilt");
    assert_eq!(
        bulk_loads(app).await,
        loads + 2.0,
        "both imports took the bulk path"
    );

    // The rebuilt unique index enforces: a number of the import cannot be created again.
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442079460015"]}),
        )
        .await;
    assert_eq!(s, 409, "{p}");
    // The prefix list finds the imported numbers through the number index.
    let (_, page) = app
        .get_json("/api/v1/dids?prefix=%2B44207946001&limit=100")
        .await;
    let listed: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|d| d["number"].as_str())
        .collect();
    assert_eq!(listed, numbers(10, 10), "{page}");
    if let didhub_store::Backend::Postgres(pool) = &app.store.backend {
        let (unique, valid): (bool, bool) = sqlx::query_as(
            "SELECT indisunique, indisvalid FROM pg_index WHERE indexrelid = 'dids_number_key'::regclass",
        )
        .fetch_one(pool)
        .await
        .expect("pg_index");
        assert!(
            unique && valid,
            "the number index is unique and valid again"
        );
    }
    // Each imported DID's history names the import.
    let id = page["items"][0]["id"].as_str().expect("id").to_string();
    let (s, h) = app.get_json(&format!("/api/v1/dids/{id}/history")).await;
    assert_eq!(s, 200);
    assert_eq!(h[0]["action"], "did.import", "{h}");
}

/// An import with the table in use by another open transaction does not wait for it: the
/// lock is not granted within a second and the import goes row by row. A dry run never
/// locks; an inventory larger than the file takes the row path at once.
async fn busy_table_and_small_files(app: &TestApp) {
    app.operator("Bulk Op").await;
    let loads = bulk_loads(app).await;
    let other = app.another_store().await;
    if let didhub_store::Backend::Postgres(pool) = &other.backend {
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("LOCK TABLE dids IN ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .expect("lock");
        let (_, rep) = import(app, csv(&numbers(100, 20)), &[("dry_run", "true")]).await;
        assert_eq!(rep["valid"], 20, "{rep}");
        assert_eq!(rep["imported"], 0, "{rep}");
        let (_, rep) = import(app, csv(&numbers(100, 20)), &[]).await;
        assert_eq!(rep["imported"], 20, "{rep}");
        tx.commit().await.expect("the other transaction commits");
        assert_eq!(
            bulk_loads(app).await,
            loads,
            "neither import locked the table"
        );
        sqlx::query("ANALYZE dids")
            .execute(pool)
            .await
            .expect("analyze");
    } else {
        // SQLite has one writer and WAL readers keep their snapshot: nothing to wait for.
        let (_, rep) = import(app, csv(&numbers(100, 20)), &[]).await;
        assert_eq!(rep["imported"], 20, "{rep}");
        assert_eq!(
            bulk_loads(app).await,
            loads + 1.0,
            "the empty table is bulk loaded"
        );
    }
    let loads = bulk_loads(app).await;
    // 12 lines against 20 DIDs: the row path.
    let (_, rep) = import(app, csv(&numbers(200, 11)), &[]).await;
    assert_eq!(rep["imported"], 11, "{rep}");
    assert_eq!(bulk_loads(app).await, loads);
    assert_eq!(count(app).await, 31);
    assert_eq!(pg_indexes(app).await, INDEXES);
    other.close().await;
}

/// A file of several chunks: a new operator past the first chunk, bad rows, a range, numbers
/// already in stock, statuses. 45,002 rows.
fn multi_chunk_csv() -> String {
    let mut s = String::from("number,operator,status,tag\n");
    for i in 0..45_000usize {
        let number = match i {
            5_000 => "bogus".to_string(),
            33_000 => "+999".to_string(),
            40_000 => "+33149000000-+33149000009".to_string(),
            _ => match i % 3 {
                0 => format!("+3314{:07}", i / 3),
                1 => format!("+4416149{:05}", i / 3),
                _ => format!("+31201{:06}", i / 3),
            },
        };
        let operator = if i < 30_000 { "Bulk Op" } else { "Late Op" };
        let status = if i % 10 == 0 { "reserved" } else { "in_stock" };
        s.push_str(&format!("{number},{operator},{status},t{}\n", i % 4));
    }
    // Twice in the file: reported against its first row.
    s.push_str("+33140000003,Bulk Op,in_stock,\n");
    s
}

/// Stock counts of blocks of 100 as recorded (deltas not yet folded included), by operator
/// name; and as recounted from the DIDs. Both sorted.
type Blocks = Vec<(String, String, String, String, i64)>;

async fn stock(app: &TestApp) -> (Blocks, Blocks) {
    const RECORDED: &str = "SELECT x.prefix, o.name, x.country, x.number_type, CAST(sum(x.n) AS BIGINT) \
        FROM (SELECT prefix, operator_id, country, number_type, delta AS n FROM stock_deltas \
              UNION ALL SELECT prefix, operator_id, country, number_type, free FROM stock_blocks WHERE size = 100) x \
        JOIN operators o ON o.id = x.operator_id GROUP BY 1, 2, 3, 4 HAVING sum(x.n) <> 0 ORDER BY 1, 2, 3, 4";
    const RECOUNT: &str =
        "SELECT substr(d.number, 1, length(d.number) - 2), o.name, d.country, d.number_type, \
        CAST(count(*) AS BIGINT) FROM dids d JOIN operators o ON o.id = d.operator_id \
        WHERE d.status = 'in_stock' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
    match &app.store.backend {
        didhub_store::Backend::Postgres(pool) => (
            sqlx::query_as(RECORDED)
                .fetch_all(pool)
                .await
                .expect("recorded"),
            sqlx::query_as(RECOUNT)
                .fetch_all(pool)
                .await
                .expect("recount"),
        ),
        didhub_store::Backend::Sqlite(pool) => (
            sqlx::query_as(RECORDED)
                .fetch_all(pool)
                .await
                .expect("recorded"),
            sqlx::query_as(RECOUNT)
                .fetch_all(pool)
                .await
                .expect("recount"),
        ),
    }
}

/// The report without its batch id, which differs between runs.
fn comparable(mut rep: Value) -> Value {
    if let Some(o) = rep.as_object_mut() {
        // Ids of this run (the import's audit entry, its kept rejects).
        o.remove("batch_id");
        o.remove("rejects_url");
    }
    rep
}

/// The same multi-chunk file through the bulk path and through the row path gives the same
/// report, the same inventory and the same stock counts, refused or with `skip_invalid`.
async fn bulk_and_row_paths_agree(db: common::Db) {
    let file = multi_chunk_csv();
    let mut reports = Vec::new();
    for min_rows in [MIN_ROWS, 0] {
        let Some(app) = common::spawn_app_with(db, |c| c.bulk_import_min_rows = min_rows).await
        else {
            return;
        };
        let op = app.operator("Bulk Op").await;
        // In stock before: rows 41,002 to 41,004 of the file (i = 41,000..41,002).
        app.create(&op, &["+31201013666", "+33140013667", "+441614913667"])
            .await;
        let loads = bulk_loads(&app).await;

        let (s, refused) = import(&app, file.clone(), &[]).await;
        assert_eq!(s, 422, "{refused}");
        assert_eq!(count(&app).await, 3, "a refused import changes nothing");
        assert_eq!(pg_indexes(&app).await, INDEXES);
        let (_, ops) = app.get_json("/api/v1/operators").await;
        assert_eq!(ops.as_array().map(Vec::len), Some(1), "{ops}");

        let (s, rep) = import(&app, file.clone(), &[("skip_invalid", "true")]).await;
        assert_eq!(s, 200, "{rep}");
        // 45,000 rows less 2 bad ones, a range of 10 numbers for one of them, 3 in stock.
        assert_eq!(rep["imported"], 45_000 - 2 - 1 + 10 - 3, "{rep}");
        assert_eq!(rep["operators_created"], json!(["Late Op"]), "{rep}");
        assert_eq!(rep["duplicates"], 4, "{rep}");
        let rows: Vec<u64> = rep["rejected"]
            .as_array()
            .expect("rejected")
            .iter()
            .filter_map(|r| r["row"].as_u64())
            .collect();
        assert_eq!(
            rows,
            [5_002, 33_002, 41_002, 41_003, 41_004, 45_002],
            "{rep}"
        );
        assert_eq!(count(&app).await, 3 + 45_000 - 2 - 1 + 10 - 3);
        assert_eq!(pg_indexes(&app).await, INDEXES);
        let expected = if min_rows == 0 { loads } else { loads + 1.0 };
        assert_eq!(bulk_loads(&app).await, expected, "min_rows {min_rows}");
        let (recorded, recount) = stock(&app).await;
        assert!(!recount.is_empty());
        assert_eq!(recorded, recount, "the stock counts match the DIDs");
        let (_, late) = app.get_json("/api/v1/dids/count?prefix=%2B3120101").await;
        reports.push((comparable(refused), comparable(rep), recount, late));
        app.stop().await;
    }
    assert_eq!(reports[0], reports[1], "bulk and row paths agree");
}

#[ignore = "heavy tier: cargo test -- --ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_import_stories() {
    bulk_and_row_paths_agree(common::Db::Sqlite).await;
    bulk_and_row_paths_agree(common::Db::Postgres).await;
    for db in [common::Db::Sqlite, common::Db::Postgres] {
        for story in [0, 1] {
            let Some(app) = common::spawn_app_with(db, |c| c.bulk_import_min_rows = MIN_ROWS).await
            else {
                eprintln!("{} not set: PostgreSQL run skipped", common::PG_ENV);
                break;
            };
            match story {
                0 => duplicates_and_indexes(&app).await,
                _ => busy_table_and_small_files(&app).await,
            }
            app.stop().await;
        }
    }
}
