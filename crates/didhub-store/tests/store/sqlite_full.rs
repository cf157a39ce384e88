//! A write that fails because the database is full (SQLite may then roll the whole transaction
//! back itself) leaves its connection fit for the next request: the pool never hands out a
//! connection that still believes it is inside a transaction.

use didhub_core::did::DidStatus;
use didhub_store::inventory::dids::NewDids;
use didhub_store::{Actor, Backend, Store, StoreConfig};

#[tokio::test]
async fn a_full_database_does_not_poison_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    // One connection: every request below runs on the one that failed.
    let store = Store::open(&StoreConfig {
        database_url: None,
        data_dir: dir.path().to_path_buf(),
        pool_size: 1,
        bulk_import_min_rows: didhub_store::DEFAULT_BULK_IMPORT_MIN_ROWS,
        documents: Default::default(),
    })
    .await
    .unwrap();
    let Backend::Sqlite(pool) = &store.backend else {
        panic!("expected SQLite")
    };
    let actor = Actor("test".into());
    let op = store
        .inventory()
        .create_operator(&actor, "Full Telecom")
        .await
        .unwrap();

    // The database may not grow (a per-connection limit, so the pool's one connection).
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(pool)
        .await
        .unwrap();
    sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
        .execute(pool)
        .await
        .unwrap();
    let mut full = false;
    for i in 0..20 {
        let r = store
            .inventory()
            .create_dids(
                &actor,
                NewDids {
                    numbers: vec![format!("+4420794{i:02}000-+4420794{i:02}999")],
                    country: None,
                    operator_id: op.id,
                    status: DidStatus::InStock,
                    after_hold: DidStatus::InStock,
                    tag: None,
                    notes: Some("n".repeat(3000)),
                    reason: None,
                },
            )
            .await;
        if let Err(e) = r {
            assert!(e.to_string().contains("full"), "{e}");
            full = true;
            break;
        }
    }
    assert!(full, "the database never filled up");

    sqlx::query("PRAGMA max_page_count = 1073741823")
        .execute(pool)
        .await
        .unwrap();
    for n in 0..3 {
        store
            .inventory()
            .create_operator(&actor, &format!("After {n}"))
            .await
            .unwrap_or_else(|e| panic!("write {n} after the full database: {e}"));
    }
}
