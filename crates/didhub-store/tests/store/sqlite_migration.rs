//! Migration 0011 rebuilds SQLite's `dids` table to turn two triggers into a CHECK constraint:
//! an inventory written before it must come through whole, and the rule must still hold.

use std::borrow::Cow;

use didhub_store::{Backend, Store, StoreConfig};

#[tokio::test]
async fn rebuilding_dids_keeps_every_row_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&StoreConfig {
        database_url: None,
        data_dir: dir.path().to_path_buf(),
        pool_size: 2,
        bulk_import_min_rows: didhub_store::DEFAULT_BULK_IMPORT_MIN_ROWS,
        documents: Default::default(),
    })
    .await
    .unwrap();
    let Backend::Sqlite(pool) = &store.backend else {
        panic!("expected SQLite")
    };

    // The schema as it was before 0011.
    let mut before = sqlx::migrate!("./migrations/sqlite");
    before.migrations = Cow::Owned(
        before
            .migrations
            .iter()
            .filter(|m| m.version <= 10)
            .cloned()
            .collect(),
    );
    before.run(pool).await.unwrap();
    sqlx::query(
        "INSERT INTO operators (id, name, created_at, updated_at) VALUES (x'01', \
        'op', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO dids (id, number, country, number_type, operator_id, status, after_hold, tag, notes, \
            batch_id, created_at, updated_at, version, destination) VALUES \
         (x'0a', '+442079460018', 'GB', 'fixed_line', x'01', 'in_stock', 'reserved', 'gold', 'a note', x'0b', \
             '2026-01-01T00:00:00+00:00', '2026-01-02T00:00:00+00:00', 3, NULL), \
         (x'0c', '+442079460019', 'GB', 'fixed_line', x'01', 'archive', 'in_stock', NULL, NULL, x'0b', \
             '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', 1, NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
    // Every column of every row, blobs in hex, as one JSON array per row.
    let dump = "SELECT json_array(hex(id), number, country, number_type, hex(operator_id), \
        status, after_hold, tag, notes, hex(batch_id), created_at, updated_at, \
        version, hex(customer_id), hex(client_package_id), destination, hold_until) \
        FROM dids ORDER BY number";
    let rows_before: Vec<String> = sqlx::query_scalar(dump).fetch_all(pool).await.unwrap();
    assert_eq!(rows_before.len(), 2);
    assert!(
        rows_before[0].contains("\"gold\",\"a note\""),
        "{}",
        rows_before[0]
    );

    store.migrate().await.unwrap();

    let rows_after: Vec<String> = sqlx::query_scalar(dump).fetch_all(pool).await.unwrap();
    assert_eq!(rows_after, rows_before, "every row and column kept");
    let triggers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'dids'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(triggers, 0, "the triggers went with the old table");
    let mut indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'dids' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    indexes.sort();
    assert_eq!(
        indexes,
        [
            "dids_client_package",
            "dids_customer",
            "dids_hold",
            "dids_number_key",
            "dids_updated"
        ]
    );

    // The rule holds as a CHECK: a DID in use needs its customer and client package, and a
    // status outside the list is refused.
    let err = sqlx::query("UPDATE dids SET status = 'assigned' WHERE number = '+442079460018'")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("dids_assignment"), "{err}");
    let err = sqlx::query("UPDATE dids SET status = 'sold' WHERE number = '+442079460018'")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");
    let err = sqlx::query("UPDATE dids SET after_hold = 'hold' WHERE number = '+442079460018'")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");
    // The same column order as before, so nothing reading by position changed.
    let cols: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('dids') ORDER BY cid")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        cols,
        [
            "id",
            "number",
            "country",
            "number_type",
            "operator_id",
            "status",
            "after_hold",
            "tag",
            "notes",
            "batch_id",
            "created_at",
            "updated_at",
            "version",
            "customer_id",
            "client_package_id",
            "destination",
            "hold_until"
        ]
    );
}
