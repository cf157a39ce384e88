//! The stock folder: recorded stock changes folded into the block counts.

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
