//! Two processes opening the same new SQLite database at once (the server and a command, or
//! two commands) both end up on a fully migrated database: neither fails applying a migration
//! the other has just applied.

use didhub_store::{Store, StoreConfig};

#[tokio::test]
async fn concurrent_opens_of_a_new_database_both_succeed() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            database_url: None,
            data_dir: dir.path().to_path_buf(),
            pool_size: 2,
            bulk_import_min_rows: didhub_store::DEFAULT_BULK_IMPORT_MIN_ROWS,
            documents: Default::default(),
        };
        let opens = (0..4).map(|_| Store::open(&cfg));
        let stores = futures::future::join_all(opens).await;
        for s in &stores {
            assert!(s.is_ok(), "{:?}", s.as_ref().err());
        }
        let store = stores.into_iter().next().unwrap().unwrap();
        let ops = store.inventory().list_operators().await.unwrap();
        assert!(ops.is_empty(), "a migrated, empty database: {ops:?}");
    }
}
