//! A statement that runs past sqlx's slow threshold (one second) is logged at debug, never as
//! a warning: a large export is one such statement, and its whole SQL must not reach the log
//! of every run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use didhub_store::{Backend, Store, StoreConfig};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Every event of sqlx's statement log: its level and message.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(Level, String)>>>);

impl<S: Subscriber> Layer<S> for Seen {
    fn on_event(&self, e: &Event<'_>, _: Context<'_, S>) {
        if e.metadata().target() != "sqlx::query" {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        e.record(&mut m);
        self.0.lock().unwrap().push((*e.metadata().level(), m.0));
    }
}

/// The slow-statement events seen while `f` runs, each with its level. The subscriber is the
/// process's global one: SQLite runs statements on a thread of its own.
async fn slow_events<F: std::future::Future<Output = ()>>(f: F) -> Vec<Level> {
    static SEEN: std::sync::OnceLock<Seen> = std::sync::OnceLock::new();
    let seen = SEEN.get_or_init(|| {
        let seen = Seen::default();
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(seen.clone()),
        );
        seen
    });
    seen.0.lock().unwrap().clear();
    f.await;
    seen.0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.contains("slow statement"))
        .map(|(l, _)| *l)
        .collect()
}

async fn open(url: Option<String>, dir: &std::path::Path) -> Store {
    Store::connect(&StoreConfig {
        database_url: url,
        data_dir: dir.to_path_buf(),
        pool_size: 2,
        bulk_import_min_rows: didhub_store::DEFAULT_BULK_IMPORT_MIN_ROWS,
        documents: Default::default(),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_statement_is_logged_at_debug_not_as_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut stores = vec![open(None, dir.path()).await];
    if let Ok(url) = std::env::var("DIDHUB_TEST_DATABASE_URL") {
        if !url.trim().is_empty() {
            stores.push(open(Some(url.trim().to_string()), dir.path()).await);
        }
    }
    for store in stores {
        let levels = slow_events(async {
            match &store.backend {
                // A second writer waits on the first's lock, past the threshold.
                Backend::Sqlite(p) => {
                    let mut first = p.acquire().await.unwrap();
                    let mut second = p.acquire().await.unwrap();
                    sqlx::query("BEGIN IMMEDIATE")
                        .execute(&mut *first)
                        .await
                        .unwrap();
                    let waiting = tokio::spawn(async move {
                        sqlx::query("BEGIN IMMEDIATE")
                            .execute(&mut *second)
                            .await
                            .unwrap();
                        sqlx::query("ROLLBACK").execute(&mut *second).await.unwrap();
                    });
                    tokio::time::sleep(Duration::from_millis(1200)).await;
                    sqlx::query("ROLLBACK").execute(&mut *first).await.unwrap();
                    waiting.await.unwrap();
                }
                Backend::Postgres(p) => {
                    sqlx::query("SELECT pg_sleep(1.2)")
                        .execute(p)
                        .await
                        .unwrap();
                }
            }
        })
        .await;
        assert_eq!(levels, vec![Level::DEBUG], "{}", store.backend_name());
    }
}
