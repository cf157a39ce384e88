//! `spawn_app`: a real server on a fresh real database (SQLite in a temp dir, or a new
//! PostgreSQL database when `DIDHUB_TEST_DATABASE_URL` is set), reached over HTTP.
#![allow(dead_code)]

pub mod smtp;

use didhub_store::{Actor, Store, StoreConfig};
use serde_json::Value;

pub const PG_ENV: &str = "DIDHUB_TEST_DATABASE_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub state: didhub_server::AppState,
    pub db: Db,
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
    server: tokio::task::JoinHandle<()>,
    bulk_import_min_rows: u64,
}

/// A fresh PostgreSQL database on the server named by the env var: (admin url, db name, url).
/// With `DIDHUB_TEST_REQUIRE_POSTGRES=1` (as CI sets it) a missing URL fails the test instead
/// of skipping its PostgreSQL run, so that a green run means both engines ran.
pub async fn fresh_pg() -> Option<(String, String, String)> {
    let Some(admin) = std::env::var(PG_ENV).ok().filter(|u| !u.trim().is_empty()) else {
        assert!(
            std::env::var("DIDHUB_TEST_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "DIDHUB_TEST_REQUIRE_POSTGRES=1 but {PG_ENV} is not set"
        );
        return None;
    };
    let name = format!("didhub_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("connect to the PostgreSQL test server");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let url = match admin.rfind('/') {
        Some(i) => format!("{}/{name}", &admin[..i]),
        None => panic!("{PG_ENV} must be a URL ending in /database"),
    };
    Some((admin, name, url))
}

pub async fn drop_pg(admin: &str, name: &str) {
    if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(admin).await {
        let _ = sqlx::Executor::execute(
            &mut conn,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
        )
        .await;
    }
}

/// Starts didhub on `db`; `None` when PostgreSQL is asked for but not configured.
pub async fn spawn_app(db: Db) -> Option<TestApp> {
    spawn_app_with(db, |_| {}).await
}

/// Starts didhub on `db` with its store configuration changed by `tune`.
pub async fn spawn_app_with(db: Db, tune: impl FnOnce(&mut StoreConfig)) -> Option<TestApp> {
    spawn_app_tuned(db, tune, |_| {}).await
}

/// The secret key test servers seal secrets under (`spawn_app_tuned` can take it away).
pub const TEST_SECRET_KEY: &str =
    "5f1e0a3c9b7d2e4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f1a3c5e7b9d0f";

/// Starts didhub on `db` with its store configuration and its server state changed.
pub async fn spawn_app_tuned(
    db: Db,
    tune: impl FnOnce(&mut StoreConfig),
    tune_state: impl FnOnce(&mut didhub_server::AppState),
) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, pg) = match db {
        Db::Sqlite => (None, None),
        Db::Postgres => {
            let (admin, name, url) = fresh_pg().await?;
            (Some(url), Some((admin, name)))
        }
    };
    let mut cfg = StoreConfig {
        database_url: url,
        data_dir: dir.path().to_path_buf(),
        pool_size: 8,
        bulk_import_min_rows: didhub_store::DEFAULT_BULK_IMPORT_MIN_ROWS,
        documents: Default::default(),
    };
    tune(&mut cfg);
    let store = Store::open(&cfg).await.expect("open store");
    let admin = store.accounts().bootstrap_admin().await.expect("admin");
    let (_, token) = store
        .accounts()
        .create_token(&Actor::system(), admin, "test", None)
        .await
        .expect("token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut state = didhub_server::AppState::new(store.clone());
    state.secure_cookies = false;
    // Stories drive hold expiry themselves (`release_expired_holds`), so that a background
    // pass never takes DIDs a story is counting.
    state.hold_worker_every = None;
    let key = didhub_core::secret::SecretKey::parse(TEST_SECRET_KEY).expect("test key");
    state.secrets = std::sync::Arc::new(didhub_core::secret::Keyring::new(Some(key), vec![]));
    tune_state(&mut state);
    state.start_background().await.expect("background tasks");
    let served = state.clone();
    let server = tokio::spawn(async move {
        let _ = didhub_server::serve(listener, served, 2, std::future::pending()).await;
    });
    Some(TestApp {
        base: format!("http://{addr}"),
        token,
        client: reqwest::Client::new(),
        store,
        state,
        db,
        _dir: dir,
        pg,
        server,
        bulk_import_min_rows: cfg.bulk_import_min_rows,
    })
}

impl TestApp {
    /// The data directory the app was started with (documents live under it).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(&self.token)
    }
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(&self.token)
    }
    pub fn patch(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.patch(self.url(path)).bearer_auth(&self.token)
    }
    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.delete(self.url(path)).bearer_auth(&self.token)
    }

    /// The Prometheus text of `/metrics` (public, like a scraper reads it).
    pub async fn metrics(&self) -> String {
        let r = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        r.text().await.expect("metrics text")
    }

    /// One sample of `/metrics`: `series` is the name with its labels as printed, e.g.
    /// `didhub_assign_batches_total{outcome="written"}`. None when it has not been recorded.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let m = self.metrics().await;
        let prefix = format!("{series} ");
        m.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str())?.trim().parse().ok())
    }

    /// GET returning (status, json).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path).send().await.expect("request");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// GET returning (status, body text).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.get(path).send().await.expect("request");
        let s = r.status().as_u16();
        (s, r.text().await.unwrap_or_default())
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.post(path).json(body).send().await.expect("request");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn operator(&self, name: &str) -> String {
        let (s, v) = self
            .post_json("/api/v1/operators", &serde_json::json!({"name": name}))
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().expect("id").to_string()
    }

    /// Creates DIDs and returns the response body.
    pub async fn create(&self, op: &str, numbers: &[&str]) -> Value {
        let (s, v) = self
            .post_json(
                "/api/v1/dids",
                &serde_json::json!({"operator_id": op, "numbers": numbers}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v
    }

    /// Another `Store` on the same database, as a second didhub instance would open it.
    /// The URL of this app's PostgreSQL database (None on SQLite).
    pub fn database_url(&self) -> Option<String> {
        self.pg
            .as_ref()
            .map(|(admin, name)| match admin.rfind('/') {
                Some(i) => format!("{}/{name}", &admin[..i]),
                None => panic!("{PG_ENV} must be a URL ending in /database"),
            })
    }

    pub async fn another_store(&self) -> Store {
        let database_url = self.database_url();
        Store::open(&StoreConfig {
            database_url,
            data_dir: self._dir.path().to_path_buf(),
            pool_size: 4,
            bulk_import_min_rows: self.bulk_import_min_rows,
            documents: Default::default(),
        })
        .await
        .expect("open a second store")
    }

    pub async fn stop(self) {
        self.server.abort();
        self.store.close().await;
        if let Some((admin, name)) = &self.pg {
            drop_pg(admin, name).await;
        }
    }
}

/// Runs one story on SQLite and, when configured, on PostgreSQL. Attributes before the name
/// go on both tests: `both_backends!(#[ignore = "heavy tier"] name, story)` puts a story in
/// the heavy tier (`cargo test -- --ignored`, which CI runs).
#[macro_export]
macro_rules! both_backends {
    ($(#[$m:meta])* $name:ident, $story:ident) => {
        mod $name {
            use super::*;
            $(#[$m])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let app = common::spawn_app(common::Db::Sqlite)
                    .await
                    .expect("sqlite app");
                $story(&app).await;
                app.stop().await;
            }
            $(#[$m])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some(app) = common::spawn_app(common::Db::Postgres).await else {
                    eprintln!("{} not set: PostgreSQL run skipped", common::PG_ENV);
                    return;
                };
                $story(&app).await;
                app.stop().await;
            }
        }
    };
}

/// A customer with an active client package of a package allowing `allowance` DIDs, made
/// through the store: (customer id, client package id).
pub async fn customer_with_package(
    store: &Store,
    name: &str,
    allowance: i32,
) -> (uuid::Uuid, uuid::Uuid) {
    use didhub_store::accounts::orgs::Scope;
    let sys = Actor::system();
    let partner = match store.accounts().find_partner("Test Partner").await {
        Ok(p) => p.id,
        Err(_) => {
            store
                .accounts()
                .create_partner(&sys, "Test Partner")
                .await
                .expect("partner")
                .id
        }
    };
    let customer = store
        .accounts()
        .create_customer(&sys, Scope::All, partner, name)
        .await
        .expect("customer")
        .id;
    let pkg = store
        .assignment()
        .create_package(
            &sys,
            &didhub_store::assignment::assign::NewPackage {
                name: format!("pkg {name}"),
                did_allowance: allowance,
                tag: None,
                country: None,
                number_type: None,
                prices: vec![],
            },
        )
        .await
        .expect("package")
        .id;
    let cp = store
        .assignment()
        .create_client_package(
            &sys,
            customer,
            pkg,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
        )
        .await
        .expect("client package")
        .id;
    (customer, cp)
}

/// Puts a DID in use the way the assignment workflow does.
pub async fn assign(store: &Store, did: uuid::Uuid) {
    let (_, cp) = customer_with_package(store, &format!("c-{did}"), 10).await;
    store
        .assignment()
        .assign_dids(
            &Actor::system(),
            cp,
            &didhub_store::assignment::assign::AssignRequest {
                did_ids: vec![did],
                numbers: vec![],
                destination: "sip:test@pbx.example.com".into(),
                reason: None,
            },
        )
        .await
        .expect("assign");
}

/// Waits until some session waits for a lock that the session `holder` (a backend pid) holds.
pub async fn someone_waits_for(pool: &sqlx::PgPool, holder: i32) {
    for _ in 0..500 {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind(holder)
        .fetch_one(pool)
        .await
        .unwrap();
        if n > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("nothing waited for session {holder} within 10 s");
}

/// The backend pid of a PostgreSQL session (to wait for what it blocks).
pub async fn backend_pid(tx: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(tx)
        .await
        .unwrap()
}
