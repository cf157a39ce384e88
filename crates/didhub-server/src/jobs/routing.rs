//! The routing table a SIP proxy queries on every call, held in memory so that an answer
//! costs no database round trip. It is loaded at start and follows the database by polling
//! `dids.updated_at` (a few hundred milliseconds behind writes made by other instances; writes
//! made through this instance apply their own changes at once, and a poll or reload that read
//! the database before such a change committed leaves that number alone). A poll reads again the last
//! `OVERLAP` of changes, for clock skew between hosts, and its watermark never passes the start
//! of the oldest write transaction still open (whose changes may commit after the read with
//! earlier stamps); a full reload every `FULL_RELOAD` covers transactions open longer than that.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use didhub_core::assignment::{not_started, route, Route};
use didhub_core::did::DidStatus;
use didhub_store::assignment::assign::Moved;
use didhub_store::Store;

/// How far back each poll looks again, to cover clock skew between instances (transactions
/// that commit after a later one are covered by the open-transaction watermark). Every row in
/// it is read again on each poll (2 s at 2,000 changes/s is 4,000 rows a poll), so it is kept
/// short.
const OVERLAP: chrono::Duration = chrono::Duration::seconds(2);
pub const POLL: Duration = Duration::from_millis(250);
pub const FULL_RELOAD: Duration = Duration::from_secs(300);

/// Status, destination, and the start date of its client package while that is to come.
type Entry = (DidStatus, Option<String>, Option<NaiveDate>);
/// A changed DID as read from the database (`Store::routing_changes`).
type ChangeRow = didhub_store::assignment::routing::RoutingRow;

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
    /// Counts `apply` calls. A poll or reload notes it before reading the database, and leaves
    /// alone every number applied after that: its read may predate the commit `apply` reports,
    /// and writing it back would undo a change this instance has already answered for.
    generation: AtomicU64,
    /// Numbers applied recently, with the generation of their last `apply`. Entries are
    /// dropped once a read that started after them has completed (it saw their commit): the
    /// follower every `serve` runs (`spawn_follower`) keeps this short.
    applied: Mutex<HashMap<String, u64>>,
}

impl RoutingTable {
    pub fn lookup(&self, number: &str) -> Route {
        self.lookup_on(number, Utc::now().date_naive())
    }

    /// The answer on `today` (UTC): a DID of a client package that starts later is `pending`;
    /// from its start date on it routes, with nothing to reload (the date is compared here).
    pub fn lookup_on(&self, number: &str, today: NaiveDate) -> Route {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let known = map.get(number);
        let pending = known
            .and_then(|(_, _, starts)| *starts)
            .is_some_and(|s| not_started(s, today));
        route(number, known.map(|(s, d, _)| (*s, d.as_deref())), pending)
    }

    /// Loads everything routable (first call) or what changed since the last call.
    pub async fn refresh(&self, store: &Store) -> Result<usize, didhub_store::StoreError> {
        let since = *self.watermark.lock().unwrap_or_else(|e| e.into_inner());
        // The window moves with the clock, not with the newest row seen: once writes stop,
        // polls read nothing after OVERLAP instead of the last burst over and over.
        let started = Utc::now();
        let seen = self.generation.load(Ordering::SeqCst);
        // Asked before the rows are read: a transaction open now may commit after the read,
        // with stamps from its start; one that opens after this has stamps after `started`.
        let open = store.assignment().oldest_open_write(FULL_RELOAD).await?;
        let rows = store
            .assignment()
            .routing_changes(since.map(|t| t - OVERLAP), started.date_naive())
            .await?;
        let n = rows.len();
        self.merge(rows, seen, since, started, open);
        Ok(n)
    }

    /// Writes a poll's rows into the table (see `refresh`); `seen` is the generation noted
    /// before they were read, `open` the start of the oldest write transaction then open.
    fn merge(
        &self,
        rows: Vec<ChangeRow>,
        seen: u64,
        since: Option<DateTime<Utc>>,
        started: DateTime<Utc>,
        open: Option<DateTime<Utc>>,
    ) {
        let mut newest = since;
        let mut changes: Vec<(String, Option<Entry>)> = Vec::new();
        {
            // Most polls re-read rows the table already has: compare under the read lock, so
            // lookups only wait for the few entries that really change.
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            for (number, status, destination, updated, starts) in rows {
                newest = Some(newest.map_or(updated, |w| w.max(updated)));
                let want = status
                    .parse::<DidStatus>()
                    .ok()
                    .filter(|s| routable(*s))
                    .map(|s| (s, destination, starts));
                if map.get(&number) != want.as_ref() {
                    changes.push((number, want));
                }
            }
        }
        if !changes.is_empty() {
            let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
            let applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
            for (number, want) in changes {
                if applied.get(&number).is_some_and(|g| *g > seen) {
                    continue;
                }
                match want {
                    Some(e) => map.insert(number, e),
                    None => map.remove(&number),
                };
            }
        }
        self.forget_applied(seen);
        let mark = newest.map_or(started, |n| n.max(started));
        let mut w = self.watermark.lock().unwrap_or_else(|e| e.into_inner());
        *w = Some(open.map_or(mark, |o| mark.min(o)));
    }

    /// Reloads everything routable: built aside on a blocking thread, swapped in at once,
    /// and the old table dropped after the lock is released, so lookups never wait for more
    /// than the swap.
    pub async fn reload(&self, store: &Store) -> Result<usize, didhub_store::StoreError> {
        let started = Utc::now();
        let seen = self.generation.load(Ordering::SeqCst);
        let open = store.assignment().oldest_open_write(FULL_RELOAD).await?;
        let rows = store
            .assignment()
            .routing_changes(None, started.date_naive())
            .await?;
        let n = rows.len();
        let build = move || {
            let mut fresh = HashMap::with_capacity(rows.len());
            for (number, status, destination, _, starts) in rows {
                if let Ok(s) = status.parse::<DidStatus>() {
                    if routable(s) {
                        fresh.insert(number, (s, destination, starts));
                    }
                }
            }
            fresh
        };
        let fresh = tokio::task::spawn_blocking(build).await.map_err(|e| {
            didhub_store::StoreError::Io(std::io::Error::other(format!("routing reload: {e}")))
        })?;
        let old = self.install(fresh, seen);
        tokio::task::spawn_blocking(move || drop(old));
        let mut w = self.watermark.lock().unwrap_or_else(|e| e.into_inner());
        // Changes committed while the reload read are still inside the next poll's overlap,
        // and those of transactions open when it started are after the watermark.
        let mark = w.map_or(started, |old| old.min(started));
        *w = Some(open.map_or(mark, |o| mark.min(o)));
        Ok(n)
    }

    /// Swaps a reloaded table in (see `reload`), returning the old one; `seen` is the
    /// generation noted before the reload read. Numbers applied since keep what `apply` gave
    /// them.
    fn install(&self, mut fresh: HashMap<String, Entry>, seen: u64) -> HashMap<String, Entry> {
        let old = {
            let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
            let applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
            for (number, _) in applied.iter().filter(|(_, g)| **g > seen) {
                match map.get(number) {
                    Some(e) => fresh.insert(number.clone(), e.clone()),
                    None => fresh.remove(number),
                };
            }
            std::mem::replace(&mut *map, fresh)
        };
        self.forget_applied(seen);
        old
    }

    /// Applies DIDs this instance has just written (no database round trip).
    pub fn apply(&self, moved: &[Moved]) {
        if moved.is_empty() {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        for m in moved {
            if routable(m.status) {
                map.insert(
                    m.number.clone(),
                    (m.status, m.destination.clone(), m.pending_until),
                );
            } else {
                map.remove(&m.number);
            }
            applied.insert(m.number.clone(), generation);
        }
    }

    /// Drops the applied numbers a read that started at generation `seen` has seen: their
    /// commits came before their `apply`, so before that read.
    fn forget_applied(&self, seen: u64) {
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        if !applied.is_empty() {
            applied.retain(|_, g| *g > seen);
        }
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Committed changes made through this process's store apply at once.
impl didhub_store::AfterCommit for RoutingTable {
    fn routing_moved(&self, moved: &[Moved]) {
        self.apply(moved);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(number: &str, status: DidStatus, destination: Option<&str>) -> Moved {
        Moved {
            number: number.into(),
            status,
            destination: destination.map(String::from),
            pending_until: None,
        }
    }

    fn row(number: &str, status: &str, destination: Option<&str>) -> ChangeRow {
        (
            number.into(),
            status.into(),
            destination.map(String::from),
            Utc::now(),
            None,
        )
    }

    /// A DID of a client package that has not started is `pending` until the start date,
    /// then routes, with nothing applied or reloaded in between.
    #[test]
    fn pending_until_the_start_date_by_itself() {
        let t = RoutingTable::default();
        let start = "2030-01-01".parse::<NaiveDate>().unwrap();
        t.apply(&[Moved {
            pending_until: Some(start),
            ..moved(N, DidStatus::Assigned, Some("sip:a@pbx.example.com"))
        }]);
        let before = t.lookup_on(N, start.pred_opt().unwrap());
        assert_eq!(
            (
                before.reachable,
                before.destination,
                before.reason.as_deref()
            ),
            (false, None, Some("pending"))
        );
        let on = t.lookup_on(N, start);
        assert_eq!(
            (on.reachable, on.destination.as_deref()),
            (true, Some("sip:a@pbx.example.com"))
        );
        // The same from a poll's row.
        let other = "+442079460019";
        let mut r = row(other, "assigned", Some("sip:b@pbx.example.com"));
        r.4 = Some(start);
        let seen = t.generation.load(Ordering::SeqCst);
        t.merge(vec![r], seen, None, Utc::now(), None);
        assert_eq!(
            t.lookup_on(other, start.pred_opt().unwrap())
                .reason
                .as_deref(),
            Some("pending")
        );
        assert!(t.lookup_on(other, start).reachable);
    }

    const N: &str = "+442079460018";

    /// A poll that read the database before this instance's own write committed must not undo
    /// what `apply` set: neither a new route nor a removed one.
    #[test]
    fn a_poll_read_before_an_apply_leaves_that_number_alone() {
        let t = RoutingTable::default();
        // The poll notes the generation, then reads: the DID is still in stock.
        let seen = t.generation.load(Ordering::SeqCst);
        let stale = vec![row(N, "in_stock", None)];
        // Meanwhile the assignment commits and applies.
        t.apply(&[moved(N, DidStatus::Assigned, Some("sip:a@pbx.example.com"))]);
        t.merge(stale, seen, None, Utc::now(), None);
        assert_eq!(
            t.lookup(N).destination.as_deref(),
            Some("sip:a@pbx.example.com")
        );

        // The reverse: unassigned here, while a poll read it still assigned.
        let seen = t.generation.load(Ordering::SeqCst);
        let stale = vec![row(N, "assigned", Some("sip:a@pbx.example.com"))];
        t.apply(&[moved(N, DidStatus::InStock, None)]);
        t.merge(stale, seen, None, Utc::now(), None);
        assert!(!t.lookup(N).reachable);
    }

    /// The watermark never passes the start of a write transaction that was open when the
    /// poll began: its changes, stamped after that start, are read by the next poll whenever
    /// it commits.
    #[test]
    fn the_watermark_waits_for_open_transactions() {
        let t = RoutingTable::default();
        let started = Utc::now();
        let open = started - chrono::Duration::seconds(30);
        t.merge(vec![row(N, "assigned", None)], 0, None, started, Some(open));
        assert_eq!(*t.watermark.lock().unwrap(), Some(open));
        // With none open it moves with the clock (or the newest row seen).
        let later = started + chrono::Duration::seconds(1);
        t.merge(Vec::new(), 0, Some(open), later, None);
        assert_eq!(*t.watermark.lock().unwrap(), Some(later));
        // A transaction that opened after the poll started does not hold it back.
        t.merge(
            Vec::new(),
            0,
            Some(later),
            later,
            Some(later + chrono::Duration::seconds(5)),
        );
        assert_eq!(*t.watermark.lock().unwrap(), Some(later));
    }

    /// A poll that started after the apply saw its commit: it applies what it read, and the
    /// applied numbers are forgotten.
    #[test]
    fn a_poll_read_after_an_apply_is_believed() {
        let t = RoutingTable::default();
        t.apply(&[moved(N, DidStatus::Assigned, Some("sip:a@pbx.example.com"))]);
        let seen = t.generation.load(Ordering::SeqCst);
        t.merge(
            vec![row(N, "assigned", Some("sip:b@pbx.example.com"))],
            seen,
            None,
            Utc::now(),
            None,
        );
        assert_eq!(
            t.lookup(N).destination.as_deref(),
            Some("sip:b@pbx.example.com")
        );
        assert!(t.applied.lock().unwrap().is_empty());
        // Other numbers of a stale poll are written as usual.
        let other = "+442079460019";
        let seen = t.generation.load(Ordering::SeqCst);
        t.apply(&[moved(N, DidStatus::Hold, None)]);
        t.merge(
            vec![
                row(N, "assigned", Some("sip:b@pbx.example.com")),
                row(other, "porting", None),
            ],
            seen,
            None,
            Utc::now(),
            None,
        );
        assert_eq!(t.lookup(N).reason.as_deref(), Some("hold"));
        assert_eq!(t.lookup(other).reason.as_deref(), Some("porting"));
        assert_eq!(
            t.applied.lock().unwrap().len(),
            1,
            "kept until a later read"
        );
    }

    /// A full reload that read before an apply keeps the applied numbers as applied, and
    /// takes everything else from what it read.
    #[test]
    fn a_reload_read_before_an_apply_keeps_it() {
        let t = RoutingTable::default();
        let (a, b, c) = ("+442079460020", "+442079460021", "+442079460022");
        t.apply(&[moved(
            b,
            DidStatus::Assigned,
            Some("sip:old@pbx.example.com"),
        )]);
        let seen = t.generation.load(Ordering::SeqCst);
        // The reload read: a and b assigned. Then, before it is swapped in, this instance
        // unassigns a and assigns c.
        let entry = |d: &str| (DidStatus::Assigned, Some(d.to_string()), None);
        let fresh = HashMap::from([
            (a.to_string(), entry("sip:a@pbx.example.com")),
            (b.to_string(), entry("sip:b@pbx.example.com")),
        ]);
        t.apply(&[
            moved(a, DidStatus::InStock, None),
            moved(c, DidStatus::Assigned, Some("sip:c@pbx.example.com")),
        ]);
        t.install(fresh, seen);
        assert!(!t.lookup(a).reachable, "the unassignment stands");
        assert_eq!(
            t.lookup(b).destination.as_deref(),
            Some("sip:b@pbx.example.com")
        );
        assert_eq!(
            t.lookup(c).destination.as_deref(),
            Some("sip:c@pbx.example.com")
        );
        assert_eq!(
            t.applied.lock().unwrap().len(),
            2,
            "b was seen by the reload"
        );
    }
}
