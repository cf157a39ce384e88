//! The one path for work that follows a commit and only refreshes memory: the routing table
//! of each server in this process learns of the DIDs a write moved as soon as it commits.
//! Every writer that moves routing calls [`Hooks::routing_moved`] after its commit, whichever
//! caller (API, command line, worker) asked for the change. Work that must survive a crash does
//! not belong here: it is written to an outbox in the same transaction.

use std::sync::{Arc, RwLock, Weak};

use crate::assignment::assign::Moved;

/// Someone who wants to hear of committed changes (the server's routing table).
pub trait AfterCommit: Send + Sync {
    /// DIDs whose routing (status or destination) a committed write changed.
    fn routing_moved(&self, moved: &[Moved]);
}

/// The listeners of a database, shared by every clone of the store. Held weakly: a listener
/// that is dropped (a server that stopped) stops hearing without unsubscribing.
#[derive(Clone, Default)]
pub(crate) struct Hooks(Arc<RwLock<Vec<Weak<dyn AfterCommit>>>>);

impl Hooks {
    pub(crate) fn subscribe(&self, listener: Weak<dyn AfterCommit>) {
        if let Ok(mut l) = self.0.write() {
            l.retain(|w| w.strong_count() > 0);
            l.push(listener);
        }
    }

    /// Whether anyone listens (a command-line process has no routing table).
    pub(crate) fn is_empty(&self) -> bool {
        self.0
            .read()
            .map_or(true, |l| l.iter().all(|w| w.strong_count() == 0))
    }

    pub(crate) fn routing_moved(&self, moved: &[Moved]) {
        if moved.is_empty() {
            return;
        }
        if let Ok(l) = self.0.read() {
            for h in l.iter().filter_map(Weak::upgrade) {
                h.routing_moved(moved);
            }
        }
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.read().map_or(0, |l| l.len());
        write!(f, "Hooks({n} listeners)")
    }
}
