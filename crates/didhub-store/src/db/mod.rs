//! Engine plumbing: pools, migrations, transactions with retry, and the bulk paths of each
//! engine. Every query is written once, in the SQL both engines share (`$n` placeholders work on both
//! through sqlx), and run against whichever pool is configured by the [`on!`] macro, which
//! expands the same code for each backend with its native types (uuid/timestamptz on
//! PostgreSQL, blob/text on SQLite). Backend-specific code exists only where it pays: bulk
//! import uses COPY on PostgreSQL.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub mod after_commit;
pub(crate) mod bulk_load;
pub(crate) mod sql;
pub(crate) mod sqlite_bulk;
pub(crate) mod sqlite_export;
pub(crate) mod versioned;

use crate::{Result, StoreError};

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same block against whichever pool is configured.
#[macro_export]
macro_rules! on {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// `postgres://…` for PostgreSQL, `sqlite://…` or a file path for SQLite.
    pub database_url: Option<String>,
    /// Where the SQLite file lives when no URL is given.
    pub data_dir: std::path::PathBuf,
    pub pool_size: u32,
    /// Imports of at least this many rows (and at least as many as the inventory holds)
    /// load in bulk on PostgreSQL (see `bulk_load`); 0 never does.
    pub bulk_import_min_rows: u64,
    /// Where document contents are kept and how large one may be.
    pub documents: crate::documents::DocumentsConfig,
}

/// The default of [`StoreConfig::bulk_import_min_rows`].
pub const DEFAULT_BULK_IMPORT_MIN_ROWS: u64 = 100_000;

/// The database: its pool and the engine-wide settings. Domain code reaches it through the
/// per-domain handles (`crate::Store::inventory` …), never directly.
#[derive(Clone, Debug)]
pub struct Db {
    pub backend: Backend,
    /// Single-DID assignments written together (PostgreSQL only; see `assign_batch`).
    pub(crate) batcher: Option<crate::assignment::assign_batch::Batcher>,
    pub(crate) bulk_import_min_rows: u64,
    /// Who hears of committed routing changes (`after_commit`).
    pub(crate) hooks: after_commit::Hooks,
    /// Client packages' start dates (never edited once set), for the routing of DIDs
    /// assigned under a package that has not started yet.
    pub(crate) package_starts:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, chrono::NaiveDate>>>,
    /// Document contents (`documents::objects`), opened on first use.
    pub(crate) objects: std::sync::Arc<crate::documents::objects::Objects>,
    /// How mails are composed: sender, Message-ID domain, templates (`Store::with_mail`).
    pub(crate) mail: std::sync::Arc<crate::mail::MailSettings>,
}

/// A pooled PostgreSQL connection idle this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

impl Db {
    pub async fn connect(cfg: &StoreConfig) -> Result<Db> {
        let objects = crate::documents::objects::Objects::new(&cfg.documents, &cfg.data_dir)?;
        let url = cfg.database_url.as_deref().filter(|u| !u.is_empty());
        let backend = match url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                // Every statement is prepared once per connection and run with parameters; a
                // generic plan spares re-planning the larger statements (the single-statement
                // assignment) on every call, which PostgreSQL's heuristic otherwise keeps doing.
                let mut opts = PgConnectOptions::from_str(u)?
                    .options([("plan_cache_mode", "force_generic_plan")]);
                // Named in `pg_stat_activity` for the database's operators (a name given in the
                // URL is kept).
                if opts.get_application_name().is_none() {
                    opts = opts.application_name("didhub");
                }
                let opts = quiet_slow_statements(opts);
                // Connections are kept (no idle timeout or lifetime) so that the ones opened by
                // `warm_up` stay: see there.
                // A connection in steady use is known to be alive: pinging it on every acquire
                // (the pool's default) cost a round trip per request, and CPU on both sides.
                // One idle for longer may have been cut (a database restart, a firewall), so
                // it is pinged first, and replaced if that fails.
                let pool = PgPoolOptions::new()
                    .max_connections(cfg.pool_size.max(1))
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(Duration::from_secs(10))
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for >= PING_IF_IDLE_FOR {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_with(opts)
                    .await?;
                Backend::Postgres(pool)
            }
            Some(u) if u.starts_with("sqlite:") => {
                sqlite_pool(SqliteConnectOptions::from_str(u)?, cfg).await?
            }
            // Anything else is refused, never opened as a file name: a mistyped PostgreSQL URL
            // must not quietly start an empty SQLite database. (The scheme only: a URL may
            // carry a password.)
            Some(u) => {
                let scheme = u
                    .split_once(':')
                    .map_or("no scheme".to_string(), |(s, _)| format!("scheme '{s}'"));
                return Err(StoreError::Config(format!(
                    "unsupported database URL ({scheme}): use postgres://… for PostgreSQL, \
                        sqlite:PATH for another SQLite file, or no URL for the SQLite file in the \
                        data directory"
                )));
            }
            None => {
                std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
                    StoreError::Config(format!(
                        "cannot create data directory {}: {e}",
                        cfg.data_dir.display()
                    ))
                })?;
                let file = cfg.data_dir.join("didhub.sqlite3");
                sqlite_pool(SqliteConnectOptions::new().filename(file), cfg).await?
            }
        };
        // A quarter of the pool for assignment batches: requests queue behind them and go
        // out together, and the rest of the pool stays free for everything else.
        let batcher = match &backend {
            Backend::Postgres(pool) => Some(crate::assignment::assign_batch::Batcher::spawn(
                pool.clone(),
                (cfg.pool_size / 4).max(2) as usize,
            )),
            Backend::Sqlite(_) => None,
        };
        Ok(Db {
            backend,
            batcher,
            bulk_import_min_rows: cfg.bulk_import_min_rows,
            hooks: Default::default(),
            package_starts: Default::default(),
            objects: std::sync::Arc::new(objects),
            mail: Default::default(),
        })
    }

    /// Opens every connection of the pool now, from the caller's runtime.
    ///
    /// Why: a PostgreSQL connection's socket reports readiness through the runtime that opened
    /// it, whichever thread uses it later. The server's HTTP threads are single-threaded
    /// runtimes that are often busy; connections opened by them made requests on other threads
    /// wait for them. Opened here, on the server's main runtime (which only accepts and runs
    /// background work), they are served by an idle reactor. SQLite connections run on threads
    /// of their own and need nothing.
    ///
    /// Returns how many connections it held open at once (0 on SQLite).
    pub async fn warm_up(&self) -> Result<usize> {
        if let Backend::Postgres(p) = &self.backend {
            let n = p.options().get_max_connections() as usize;
            let conns = futures::future::try_join_all((0..n).map(|_| p.acquire())).await?;
            return Ok(conns.len());
        }
        Ok(0)
    }

    /// Opens (creating if needed) and migrates.
    pub async fn open(cfg: &StoreConfig) -> Result<Db> {
        let s = Db::connect(cfg).await?;
        s.migrate().await?;
        Ok(s)
    }

    pub async fn migrate(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(p) => {
                // sqlx takes no lock on SQLite (its PostgreSQL runs hold an advisory lock), so
                // two processes opening a new database at once (`serve` and a command) would
                // both apply the first migration. A lock file beside the database serialises
                // them; the second then finds every migration applied.
                let file = p.connect_options().get_filename().to_path_buf();
                let _lock = migration_lock(&file).await?;
                sqlx::migrate!("./migrations/sqlite").run(p).await?
            }
            Backend::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Pool gauges for metrics: (connections, idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        on!(self, |p| (p.size(), p.num_idle()))
    }

    pub async fn ping(&self) -> Result<()> {
        on!(self, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on!(self, |p| p.close().await)
    }
}

/// An exclusive lock on `<database>.migrate-lock` (none for an in-memory database), held
/// until dropped; the file stays, empty, as lock files do.
async fn migration_lock(db_file: &Path) -> Result<Option<std::fs::File>> {
    let name = db_file.as_os_str();
    if name.is_empty() || name == ":memory:" {
        return Ok(None);
    }
    let mut path = db_file.as_os_str().to_owned();
    path.push(".migrate-lock");
    let path = std::path::PathBuf::from(path);
    let locked = tokio::task::spawn_blocking(move || {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        f.lock()?;
        Ok::<_, std::io::Error>(f)
    })
    .await
    .map_err(|e| StoreError::Config(format!("migration lock: {e}")))?;
    Ok(Some(locked?))
}

/// How long a statement runs before sqlx calls it slow (its default).
const SLOW_STATEMENT: Duration = Duration::from_secs(1);

/// Slow statements are logged at debug, not sqlx's default warn: an export of a large inventory
/// is one statement that runs for as long as the client reads, and a warning with its whole SQL
/// on every such export says nothing an operator must act on. `DIDHUB_LOG=sqlx=debug` shows
/// them.
fn quiet_slow_statements<O: sqlx::ConnectOptions>(opts: O) -> O {
    opts.log_slow_statements(log::LevelFilter::Debug, SLOW_STATEMENT)
}

async fn sqlite_pool(opts: SqliteConnectOptions, cfg: &StoreConfig) -> Result<Backend> {
    let opts = opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        // 16 KiB pages for a new database (an existing one keeps its size): fewer, fuller
        // B-tree pages; a million-row import ran its SQL about a tenth faster than with 4 KiB.
        .page_size(16384)
        // 16 MiB of page cache per connection (the default is 2 MiB; every pooled connection
        // gets it, so keep it modest): bulk imports write
        // numbers in file order, which is random order for the number index.
        .pragma("cache_size", "-16384")
        .pragma("temp_store", "memory");
    let opts = quiet_slow_statements(opts);
    if let Some(parent) = opts.get_filename().parent() {
        if !parent.as_os_str().is_empty() && !Path::new(parent).exists() {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Config(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
    }
    // An in-process file cannot drop a connection: no ping before each use.
    let pool = SqlitePoolOptions::new()
        .max_connections(cfg.pool_size.clamp(1, 16))
        .test_before_acquire(false)
        // A transaction SQLite rolled back on its own (a full disk: SQLITE_FULL) is still
        // counted as open by sqlx, whose ROLLBACK then fails; every later BEGIN on that
        // connection would be refused until a restart. Such a connection is closed rather
        // than handed out again. The ping waits for a rollback a dropped transaction queued.
        .before_acquire(|conn, _| {
            Box::pin(async move {
                if !sqlx::Connection::is_in_transaction(conn) {
                    return Ok(true);
                }
                sqlx::Connection::ping(conn).await?;
                Ok(!sqlx::Connection::is_in_transaction(conn))
            })
        })
        .connect_with(opts)
        .await?;
    Ok(Backend::Sqlite(pool))
}

/// A time-ordered id.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// Now, truncated to microseconds so that SQLite and PostgreSQL store the same value.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// Retries a transaction body on serialization failures and deadlocks (PostgreSQL and
/// compatible distributed engines) and on SQLite's busy/locked errors.
pub async fn retry<T, F, Fut>(mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0u32;
    loop {
        match f().await {
            Err(e) if e.is_retryable() && attempt < 8 => {
                attempt += 1;
                let ms = 5u64 << attempt.min(6);
                tracing::debug!(attempt, "retrying transaction after {e}");
                tokio::time::sleep(Duration::from_millis(ms + rand::random::<u64>() % ms)).await;
            }
            r => return r,
        }
    }
}
