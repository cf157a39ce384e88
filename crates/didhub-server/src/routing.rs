//! The routing table a SIP proxy queries on every call, held in memory so that an answer
//! costs no database round trip. It is loaded at start and follows the database by polling
//! `dids.updated_at` (a few hundred milliseconds behind writes made by other instances; writes
//! made through this instance refresh it at once).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use didhub_core::assignment::{route, Route};
use didhub_core::did::DidStatus;
use didhub_store::Store;

/// How far back each poll looks again, to cover clock skew between instances and
/// transactions that commit after a later one.
const OVERLAP: chrono::Duration = chrono::Duration::seconds(5);
pub const POLL: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct RoutingTable {
    map: RwLock<HashMap<String, (DidStatus, Option<String>)>>,
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
        {
            let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
            for (number, status, destination, updated) in rows {
                newest = Some(newest.map_or(updated, |w| w.max(updated)));
                match status.parse::<DidStatus>() {
                    Ok(s @ (DidStatus::Assigned | DidStatus::Hold | DidStatus::Porting)) => {
                        map.insert(number, (s, destination));
                    }
                    _ => {
                        map.remove(&number);
                    }
                }
            }
        }
        let mut w = self.watermark.lock().unwrap_or_else(|e| e.into_inner());
        *w = Some(newest.map_or(started, |n| n.max(started)));
        Ok(n)
    }

    /// Reloads everything routable, after a write that moved many DIDs in one long transaction
    /// (its rows may be older than the polling window by the time it commits).
    pub async fn reload(&self, store: &Store) -> Result<usize, didhub_store::StoreError> {
        let started = Utc::now();
        let rows = store.routing_changes(None).await?;
        let n = rows.len();
        let mut fresh = HashMap::with_capacity(n);
        for (number, status, destination, _) in rows {
            if let Ok(s @ (DidStatus::Assigned | DidStatus::Hold | DidStatus::Porting)) =
                status.parse::<DidStatus>()
            {
                fresh.insert(number, (s, destination));
            }
        }
        *self.map.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        *self.watermark.lock().unwrap_or_else(|e| e.into_inner()) = Some(started);
        Ok(n)
    }

    /// Applies DIDs this instance has just written (no database round trip).
    pub fn apply(&self, dids: &[didhub_store::Did]) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for d in dids {
            match d.status {
                DidStatus::Assigned | DidStatus::Hold | DidStatus::Porting => {
                    map.insert(d.number.clone(), (d.status, d.destination.clone()));
                }
                _ => {
                    map.remove(&d.number);
                }
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
        loop {
            if let Err(e) = table.refresh(&store).await {
                tracing::warn!("routing table refresh failed: {e}");
            }
            metrics::gauge!("didhub_routing_entries").set(table.len() as f64);
            tokio::time::sleep(POLL).await;
        }
    });
}

/// The hold worker: releases DIDs whose hold period has ended. Every instance may run it.
pub fn spawn_hold_worker(store: Store, every: Duration) {
    tokio::spawn(async move {
        loop {
            loop {
                match store.release_expired_holds(500).await {
                    Ok(0) => break,
                    Ok(n) => {
                        metrics::counter!("didhub_hold_released_total").increment(n as u64);
                        tracing::info!(released = n, "hold periods ended");
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
