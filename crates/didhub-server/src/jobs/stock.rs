//! The stock folder (recorded stock changes folded into the block counts) and the stock
//! recorder (the day's stock per country and number type, kept for the dashboard).

use std::time::Duration;

use didhub_store::Store;

/// Folds the stock changes writers record into the block counts, so that the backlog a
/// block allocation folds stays short.
pub fn spawn_stock_folder(store: Store, every: Duration) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = store.assignment().fold_stock().await {
                tracing::warn!("stock fold: {e}");
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// Records the day's stock per country and number type (`Inventory::record_stock_day`) now
/// and then every `every`, for the dashboard's stock over time and its forecast. The day's
/// row is replaced until the day (UTC) ends, so the last record of a day is its stock.
pub fn spawn_stock_recorder(store: Store, every: Duration) {
    tokio::spawn(async move {
        loop {
            let today = chrono::Utc::now().date_naive();
            if let Err(e) = store.inventory().record_stock_day(today).await {
                tracing::warn!("stock record: {e}");
            }
            tokio::time::sleep(every).await;
        }
    });
}
