//! didhub persistence: one code path over SQLite (embedded default) and PostgreSQL.
//!
//! One folder per domain (`inventory`, `accounts`, `licensing`, `assignment`, `calendar`,
//! `ordering`, `documents`, `mail` (the outbox), and `support`), each reached through its
//! handle: `store.inventory()`, `store.accounts()`, … A caller holds the narrow handle it
//! needs. Engine plumbing (pools, migrations, transactions, retries, the bulk paths of each
//! engine) lives in `db`.
//! One folder per domain (`inventory`, `accounts`, `licensing`, `assignment`, `calendar`, and
//! `ordering`, `support`), each reached through its handle: `store.inventory()`,
//! `store.accounts()`, … A caller holds the narrow handle it needs. Engine plumbing (pools,
//! migrations, transactions, retries, the bulk paths of each engine) lives in `db`.

pub mod accounts;
pub mod assignment;
pub mod audit;
pub mod calendar;
pub mod db;
pub mod documents;
pub mod error;
pub mod inventory;
pub mod licensing;
pub mod mail;
pub mod model;
pub mod ordering;
pub mod settings;
pub mod support;

pub use db::after_commit::AfterCommit;
pub use db::{new_id, now, retry, Backend, Db, StoreConfig, DEFAULT_BULK_IMPORT_MIN_ROWS};
pub use error::StoreError;
pub use model::*;

pub use accounts::Accounts;
pub use assignment::Assignment;
pub use audit::Audit;
pub use calendar::Calendars;
pub use documents::{Documents, DocumentsConfig};
pub use inventory::Inventory;
pub use licensing::Licensing;
pub use mail::{Mail, MailSettings};
pub use ordering::Ordering;
pub use support::Support;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store: the database and one handle per domain.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    pub async fn connect(cfg: &StoreConfig) -> Result<Store> {
        Ok(Store {
            db: Db::connect(cfg).await?,
        })
    }

    /// Opens (creating if needed) and migrates.
    pub async fn open(cfg: &StoreConfig) -> Result<Store> {
        Ok(Store {
            db: Db::open(cfg).await?,
        })
    }

    /// Operators, DIDs, import, export and stock.
    pub fn inventory(&self) -> Inventory<'_> {
        self.db.inventory()
    }

    /// Users, tokens, sessions, partners, customers, PBXs, idempotency keys.
    pub fn accounts(&self) -> Accounts<'_> {
        self.db.accounts()
    }

    /// Licenses, service kinds and services.
    pub fn licensing(&self) -> Licensing<'_> {
        self.db.licensing()
    }

    /// Packages, client packages, assignment, block allocation, the routing feed.
    pub fn assignment(&self) -> Assignment<'_> {
        self.db.assignment()
    }

    /// Working-day calendars and the closures added to them.
    pub fn calendar(&self) -> Calendars<'_> {
        self.db.calendar()
    }

    /// Orders and their checks.
    pub fn ordering(&self) -> Ordering<'_> {
        self.db.ordering()
    }

    /// Documents: uploads, their contents, the order or ticket they are attached to.
    pub fn documents(&self) -> Documents<'_> {
        self.db.documents()
    }

    /// The mail outbox: composing and queueing mails, the worker's claims, lists.
    pub fn mail(&self) -> Mail<'_> {
        self.db.mail()
    }

    /// The support desk: tickets, their conversation, centres, service levels, inbound mail.
    pub fn support(&self) -> Support<'_> {
        self.db.support()
    }

    /// The audit log.
    pub fn audit(&self) -> Audit<'_> {
        self.db.audit()
    }

    /// Tells `listener` of every routing change committed through this store (or a clone of
    /// it), as it commits, until the listener is dropped.
    pub fn subscribe(&self, listener: std::sync::Weak<dyn AfterCommit>) {
        self.db.hooks.subscribe(listener);
    }
}

/// Engine-level calls (migrate, ping, pool stats) and `on!` work on the store as on its
/// database.
impl std::ops::Deref for Store {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

/// Declares a domain handle: a borrowed view of the database whose methods are that domain's.
macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $accessor:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name<'d>(pub(crate) &'d $crate::Db);

        impl std::ops::Deref for $name<'_> {
            type Target = $crate::Db;
            fn deref(&self) -> &$crate::Db {
                self.0
            }
        }

        impl $crate::Db {
            /// The domain's handle (for calls across domains inside the store).
            pub(crate) fn $accessor(&self) -> $name<'_> {
                $name(self)
            }
        }
    };
}
pub(crate) use handle;
