//! The routing table a SIP proxy queries on every call, held in memory so that an answer
//! costs no database round trip. It is loaded at start and follows the database by polling
//! `dids.updated_at` (a few hundred milliseconds behind writes made by other instances; writes
//! made through this instance apply their own changes at once). A poll reads again the last
//! `OVERLAP` of changes, for transactions that commit after a later one and for clock skew;
//! a full reload every `FULL_RELOAD` bounds what a transaction longer than that could hide.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use didhub_core::assignment::{route, Route};
use didhub_core::did::DidStatus;
use didhub_store::assignment::Moved;
use didhub_store::Store;

/// How far back each poll looks again, to cover clock skew between instances and
/// transactions that commit after a later one. Every row in it is read again on each poll
/// (2 s at 2,000 changes/s is 4,000 rows a poll), so it is kept short: the writes that move
/// many DIDs are set-based and commit well inside it, and `FULL_RELOAD` catches anything older.
const OVERLAP: chrono::Duration = chrono::Duration::seconds(2);
pub const POLL: Duration = Duration::from_millis(250);
pub const FULL_RELOAD: Duration = Duration::from_secs(300);

type Entry = (DidStatus, Option<String>);

fn routable(s: DidStatus) -> bool {
    matches!(
        s,
        DidStatus::Assigned | DidStatus::Hold | DidStatus::Porting
    )
}

#[derive(Default)]
pub struct RoutingTable {
    map: RwLock<HashMap<String, Entry>>,
    watermark: Mutex<Option<DateTime<Utc>>>,
}

impl RoutingTable {
    pub fn lookup(&self, number: &str) -> Route {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        route(number, map.get(number).map(|(s, d)| (*s, d.as_deref())))
    }

    /// Loads everything routable (first call) or what changed since the last call.
    pub async fn refresh(&self, store: &Store) -> Result<usize, didhub_store::StoreError> {
        let since = *self.watermark.lock().unwrap_or_else(|e| e.into_inner());
        // The window moves with the clock, not with the newest row seen: once writes stop,
        // polls read nothing after OVERLAP instead of the last burst over and over.
        let started = Utc::now();
        let rows = store.routing_changes(since.map(|t| t - OVERLAP)).await?;
        let n = rows.len();
        let mut newest = since;
        let mut changes: Vec<(String, Option<Entry>)> = Vec::new();
        {
            // Most polls re-read rows the table already has: compare under the read lock, so
            // lookups only wait for the few entries that really change.
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            for (number, status, destination, updated) in rows {
                newest = Some(newest.map_or(updated, |w| w.max(updated)));
                let want = status
                    .parse::<DidStatus>()
                    .ok()
                    .filter(|s| routable(*s))
                    .map(|s| (s, destination));
                if map.get(&number) != want.as_ref() {
                    changes.push((number, want));
                }
            }
        }
        if !changes.is_empty() {
            let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
            for (number, want) in changes {
                match want {
                    Some(e) => map.insert(number, e),
                    None => map.remove(&number),
                };
            }
        }
        let mut w = self.watermark.lock().unwrap_or_else(|e| e.into_inner());
        *w = Some(newest.map_or(started, |n| n.max(started)));
        Ok(n)
    }

    /// Reloads everything routable: built aside on a blocking thread, swapped in at once,
    /// and the old table dropped after the lock is released, so lookups never wait for more
    /// than the swap.
    pub async fn reload(&self, store: &Store) -> Result<usize, didhub_store::StoreError> {
        let started = Utc::now();
        let rows = store.routing_changes(None).await?;
        let n = rows.len();
        let build = move || {
            let mut fresh = HashMap::with_capacity(rows.len());
            for (number, status, destination, _) in rows {
                if let Ok(s) = status.parse::<DidStatus>() {
                    if routable(s) {
                        fresh.insert(number, (s, destination));
                    }
                }
            }
            fresh
        };
        let fresh = tokio::task::spawn_blocking(build).await.map_err(|e| {
            didhub_store::StoreError::Io(std::io::Error::other(format!("routing reload: {e}")))
        })?;
        let old = std::mem::replace(
            &mut *self.map.write().unwrap_or_else(|e| e.into_inner()),
            fresh,
        );
        tokio::task::spawn_blocking(move || drop(old));
        let mut w = self.watermark.lock().unwrap_or_else(|e| e.into_inner());
        // Changes committed while the reload read are still inside the next poll's overlap.
        *w = Some(w.map_or(started, |old| old.min(started)));
        Ok(n)
    }

    /// Applies DIDs this instance has just written (no database round trip).
    pub fn apply(&self, moved: &[Moved]) {
        if moved.is_empty() {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for m in moved {
            if routable(m.status) {
                map.insert(m.number.clone(), (m.status, m.destination.clone()));
            } else {
                map.remove(&m.number);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps the table current until the process ends.
pub fn spawn_follower(table: std::sync::Arc<RoutingTable>, store: Store) {
    tokio::spawn(async move {
        let mut last_full = std::time::Instant::now();
        loop {
            let r = if last_full.elapsed() >= FULL_RELOAD {
                last_full = std::time::Instant::now();
                table.reload(&store).await
            } else {
                table.refresh(&store).await
            };
            if let Err(e) = r {
                tracing::warn!("routing table refresh failed: {e}");
            }
            metrics::gauge!("didhub_routing_entries").set(table.len() as f64);
            tokio::time::sleep(POLL).await;
        }
    });
}

/// The hold worker: releases DIDs whose hold period has ended (every instance may run it),
/// and folds recorded stock changes into the block counts.
pub fn spawn_hold_worker(store: Store, table: std::sync::Arc<RoutingTable>, every: Duration) {
    tokio::spawn(async move {
        loop {
            loop {
                match store.release_expired_holds(500).await {
                    Ok(moved) if moved.is_empty() => break,
                    Ok(moved) => {
                        table.apply(&moved);
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

/// Folds the stock changes writers record into the block counts, so that the backlog a
/// block allocation folds stays short.
pub fn spawn_stock_folder(store: Store, every: Duration) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = store.fold_stock().await {
                tracing::warn!("stock fold: {e}");
            }
            tokio::time::sleep(every).await;
        }
    });
}
