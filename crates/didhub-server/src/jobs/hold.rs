//! The hold worker: DIDs whose hold period has ended go to their after-hold status.

use std::time::Duration;

use didhub_store::Store;

/// The hold worker: releases DIDs whose hold period has ended (every instance may run it),
/// and folds recorded stock changes into the block counts.
pub fn spawn_hold_worker(store: Store, every: Duration) {
    tokio::spawn(async move {
        loop {
            loop {
                match store.assignment().release_expired_holds(500).await {
                    Ok(moved) if moved.is_empty() => break,
                    // The routing table heard of them as they committed.
                    Ok(moved) => {
                        metrics::counter!("didhub_hold_released_total")
                            .increment(moved.len() as u64);
                        tracing::info!(released = moved.len(), "hold periods ended");
                    }
                    Err(e) => {
                        tracing::warn!("hold worker: {e}");
                        break;
                    }
                }
            }
            tokio::time::sleep(every).await;
        }
    });
}
