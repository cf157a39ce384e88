//! The SQLite bulk insert (`sqlite_bulk`) steps its statement on sqlx's own connection, giving
//! the connection back every few milliseconds: many holds per request, inside one transaction.

use didhub_core::did::DidStatus;
use didhub_store::inventory::dids::NewDids;
use didhub_store::{Actor, Backend, Store, StoreConfig, StoreError};

async fn store(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig {
        database_url: None,
        data_dir: dir.to_path_buf(),
        pool_size: 2,
        bulk_import_min_rows: didhub_store::DEFAULT_BULK_IMPORT_MIN_ROWS,
        documents: Default::default(),
    })
    .await
    .unwrap()
}

fn new_dids(operator_id: uuid::Uuid, numbers: &[&str]) -> NewDids {
    NewDids {
        numbers: numbers.iter().map(|n| n.to_string()).collect(),
        country: None,
        operator_id,
        status: DidStatus::InStock,
        after_hold: DidStatus::InStock,
        tag: Some("bulk".into()),
        notes: None,
        reason: None,
    }
}

#[tokio::test]
async fn many_holds_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let Backend::Sqlite(pool) = &store.backend else {
        panic!("expected SQLite")
    };
    let actor = Actor("test".into());
    let op = store
        .inventory()
        .create_operator(&actor, "Bulk")
        .await
        .unwrap();
    // Five numbers already there, spread over a range of 20,000 (many holds of the connection).
    let there = [
        "+442079400017",
        "+442079402500",
        "+442079409000",
        "+442079415000",
        "+442079419999",
    ];
    store
        .inventory()
        .create_dids(&actor, new_dids(op.id, &there))
        .await
        .unwrap();

    let err = store
        .inventory()
        .create_dids(&actor, new_dids(op.id, &["+442079400000-+442079419999"]))
        .await
        .unwrap_err();
    let StoreError::Conflict(msg) = &err else {
        panic!("expected a conflict, got {err}")
    };
    assert!(
        msg.starts_with("5 number(s) already in the inventory"),
        "{msg}"
    );
    for n in there {
        assert!(msg.contains(n), "{n} named in: {msg}");
    }
    // Refused as a whole: the rows of every earlier hold were rolled back with it.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM dids")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(count, 5);

    let made = store
        .inventory()
        .create_dids(&actor, new_dids(op.id, &["+442079420000-+442079439999"]))
        .await
        .unwrap();
    assert_eq!(made.created, 20_000);
    let (count, ids, texts): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT id), sum(typeof(created_at) = 'text' \
         AND typeof(updated_at) = 'text' AND length(id) = 16) FROM dids WHERE batch_id = $1",
    )
    .bind(made.batch_id)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((count, ids, texts), (20_000, 20_000, 20_000));
    // The time is written as sqlx writes a DateTime<Utc>: read back through sqlx and bound
    // again, it finds every row of the request.
    let at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT created_at FROM dids WHERE batch_id = $1 LIMIT 1")
            .bind(made.batch_id)
            .fetch_one(pool)
            .await
            .unwrap();
    let same: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM dids WHERE batch_id = $1 AND created_at = $2 AND updated_at = $2",
    )
    .bind(made.batch_id)
    .bind(at)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(same, 20_000);
    assert!((chrono::Utc::now() - at).num_seconds().abs() < 60, "{at}");
    // Each created DID reads back with its fields, and the stock changes add up.
    let d = &made.items[0];
    assert_eq!(
        (
            d.number.as_str(),
            d.country.as_str(),
            d.tag.as_deref(),
            d.operator_id
        ),
        ("+442079420000", "GB", Some("bulk"), op.id)
    );
    let stock: i64 = sqlx::query_scalar("SELECT sum(delta) FROM stock_deltas")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(stock, 20_005);
}
