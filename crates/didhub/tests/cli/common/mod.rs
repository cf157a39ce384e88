//! Shared harness for the CLI tests: runs the real `didhub` binary against a fresh database.
//!
//! Every test runs on SQLite (a temporary `--data-dir`) and, when `DIDHUB_TEST_DATABASE_URL`
//! is set, also on PostgreSQL, in a database created for that test alone
//! (`didhub_t_cli_<random>`) and dropped at its end.
#![allow(dead_code)]

pub mod files;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

/// Environment variable holding a PostgreSQL URL allowed to create and drop databases.
pub const PG_ENV: &str = "DIDHUB_TEST_DATABASE_URL";

/// Path of the binary under test.
pub fn didhub_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_didhub"))
}

/// Variables of the developer's shell that would point the binary elsewhere.
const CLEARED_ENV: &[&str] = &[
    "DATABASE_URL",
    "DIDHUB_DATA_DIR",
    "DIDHUB_CONFIG",
    "DIDHUB_POOL_SIZE",
    "DIDHUB_LOG_FORMAT",
    "DIDHUB_LOG",
    "DIDHUB_LISTEN",
    "DIDHUB_DOCUMENTS_URL",
    "DIDHUB_MAX_DOCUMENT_BYTES",
    "DIDHUB_SMTP_URL",
    "DIDHUB_SMTP_FROM",
    "DIDHUB_SMTP_USER",
    "DIDHUB_SMTP_PASSWORD",
    "DIDHUB_MAIL_DOMAIN",
    "DIDHUB_MAIL_TEMPLATES",
    "DIDHUB_MAIL_MAX_ATTEMPTS",
    "DIDHUB_MAIL_RETRY_MIN",
    "DIDHUB_MAIL_RETRY_MAX",
    "DIDHUB_MAIL_LEASE",
    "DIDHUB_MAIL_CONCURRENCY",
    "DIDHUB_SECRET_KEY",
    "DIDHUB_SECRET_OLD_KEYS",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// Administrative URL (any database of the server) used to create and drop test databases.
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// SQLite always; PostgreSQL too when `DIDHUB_TEST_DATABASE_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    match std::env::var(PG_ENV) {
        Ok(url) if !url.trim().is_empty() => v.push(Backend::Postgres(url.trim().to_string())),
        // CI sets this, so that a green run means both engines ran.
        _ => assert!(
            std::env::var("DIDHUB_TEST_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "DIDHUB_TEST_REQUIRE_POSTGRES=1 but {PG_ENV} is not set"
        ),
    }
    v
}

/// Runs `f` once per backend, each with its own fresh database. A failure on one backend does
/// not hide the other: both run, then the test fails naming the backends that failed.
pub fn each_backend(f: impl Fn(&Db)) {
    let mut failed = Vec::new();
    for b in backends() {
        let name = b.name();
        let db = Db::new(b);
        let r = catch_unwind(AssertUnwindSafe(|| f(&db)));
        drop(db);
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("[{name}] {msg}"));
        }
    }
    if !failed.is_empty() {
        panic!("failed on: {}", failed.join("\n"));
    }
}

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(args: &str, o: Output) -> Run {
        let r = Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        r.assert_no_panic(args);
        r
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn assert_no_panic(&self, what: &str) {
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "`didhub {what}` panicked:\n{}",
            self.stderr
        );
    }

    /// Stdout and stderr together, for "the message names the problem" checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Stdout parsed as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

struct PgDb {
    admin_url: String,
    name: String,
    url: String,
}

/// A fresh database (plus a scratch directory for files), dropped with the value.
pub struct Db {
    pub backend: Backend,
    dir: TempDir,
    pg: Option<PgDb>,
}

impl Db {
    pub fn new(backend: Backend) -> Db {
        let dir = tempfile::Builder::new()
            .prefix("didhub-cli-test-")
            .tempdir()
            .expect("temp dir");
        let pg = match &backend {
            Backend::Sqlite => None,
            Backend::Postgres(admin) => {
                let name = format!("didhub_t_cli_{}", uuid::Uuid::new_v4().simple());
                pg_admin(admin, &format!("CREATE DATABASE {name}"));
                Some(PgDb {
                    admin_url: admin.clone(),
                    url: with_database(admin, &name),
                    name,
                })
            }
        };
        Db { backend, dir, pg }
    }

    /// Another fresh, empty database on the same backend.
    pub fn another(&self) -> Db {
        Db::new(self.backend.clone())
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// The scratch directory (also the binary's working directory).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a scratch file and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write test file");
        p
    }

    /// The binary with no database selected and none of the caller's didhub variables.
    pub fn bare_command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(didhub_bin());
        for v in CLEARED_ENV {
            c.env_remove(v);
        }
        c.current_dir(self.dir.path());
        c
    }

    /// The global flags that select this database.
    pub fn global_args(&self) -> Vec<String> {
        let mut v = vec![
            "--data-dir".to_string(),
            self.dir.path().join("data").to_string_lossy().into_owned(),
        ];
        if let Some(pg) = &self.pg {
            v.push("--database-url".into());
            v.push(pg.url.clone());
        }
        v
    }

    /// The same selection as environment variables (`DIDHUB_DATA_DIR`, `DATABASE_URL`).
    pub fn global_env(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![(
            "DIDHUB_DATA_DIR",
            self.dir.path().join("data").to_string_lossy().into_owned(),
        )];
        if let Some(pg) = &self.pg {
            v.push(("DATABASE_URL", pg.url.clone()));
        }
        v
    }

    /// The binary with this database selected, as a plain process (for spawn/kill).
    pub fn std_command(&self) -> std::process::Command {
        let mut c = self.bare_command();
        c.args(self.global_args());
        c
    }

    pub fn command(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.std_command())
    }

    /// Runs `didhub ARGS` (never panicking is checked on every run).
    pub fn run(&self, args: &[&str]) -> Run {
        let o = self.command().args(args).output().expect("run didhub");
        Run::from_output(&args.join(" "), o)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
        let o = self
            .command()
            .args(args)
            .write_stdin(stdin.into())
            .output()
            .expect("run didhub");
        Run::from_output(&args.join(" "), o)
    }

    /// Runs and requires exit status 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert!(
            r.success(),
            "`didhub {}` failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            r.code,
            r.stdout,
            r.stderr
        );
        r
    }

    /// `didhub import FILE --json EXTRA…`.
    pub fn import(&self, file: &Path, extra: &[&str]) -> Run {
        let f = file.to_str().expect("utf-8 path");
        let mut args = vec!["import", f, "--json"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Imports and requires success; returns the JSON report.
    pub fn import_ok(&self, file: &Path, extra: &[&str]) -> Value {
        let r = self.import(file, extra);
        assert!(
            r.success(),
            "import of {} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
            file.display(),
            r.code,
            r.stdout,
            r.stderr
        );
        r.json()
    }

    /// Raw `didhub export FILTERS…` output.
    pub fn export_text(&self, filters: &[&str]) -> String {
        let mut args = vec!["export"];
        args.extend_from_slice(filters);
        self.ok(&args).stdout
    }

    /// Exported rows, each as column name → value.
    pub fn export(&self, filters: &[&str]) -> Vec<BTreeMap<String, String>> {
        parse_csv(&self.export_text(filters))
    }

    /// Exported numbers, in export order.
    pub fn numbers(&self, filters: &[&str]) -> Vec<String> {
        self.export(filters)
            .into_iter()
            .map(|r| r["number"].clone())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.export(&[]).len()
    }

    /// Operator names from `didhub operators list`.
    pub fn operators(&self) -> Vec<String> {
        self.ok(&["operators", "list"])
            .stdout
            .lines()
            .skip(1) // the header
            .filter_map(|l| l.split('\t').nth(1).map(str::to_string))
            .collect()
    }
}

impl Db {
    /// Bytes in the SQLite write-ahead log (0 when there is none); None on PostgreSQL.
    pub fn sqlite_wal_bytes(&self) -> Option<u64> {
        if self.pg.is_some() {
            return None;
        }
        let dir = self.dir.path().join("data");
        let total = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with("-wal"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        Some(total)
    }

    /// Runs `f` on a new connection to `url` (this database or the admin one); None on SQLite.
    fn pg_with<T>(
        &self,
        admin: bool,
        f: impl for<'c> FnOnce(
            &'c mut sqlx::PgConnection,
            &'c PgDb,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'c>>,
    ) -> Option<T> {
        let pg = self.pg.as_ref()?;
        use sqlx::Connection;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        Some(rt.block_on(async {
            let url = if admin { &pg.admin_url } else { &pg.url };
            let mut c = sqlx::PgConnection::connect(url)
                .await
                .unwrap_or_else(|e| panic!("connecting to {PG_ENV}: {e}"));
            let out = f(&mut c, pg).await;
            let _ = c.close().await;
            out
        }))
    }

    /// Whether some session holds a write lock (RowExclusiveLock) on a table of this
    /// PostgreSQL database, i.e. an open transaction has started writing; None on SQLite.
    pub fn pg_someone_writing(&self) -> Option<bool> {
        self.pg_with(true, |c, pg| {
            Box::pin(async move {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                     WHERE d.datname = $1 AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()",
                )
                .bind(&pg.name)
                .fetch_one(c)
                .await
                .expect("pg_locks");
                n > 0
            })
        })
    }

    /// The names of the indexes on `dids`, sorted (PostgreSQL; empty on SQLite).
    pub fn pg_index_names(&self) -> Vec<String> {
        self.pg_with(false, |c, _| {
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT indexname::text FROM pg_indexes WHERE tablename = 'dids' ORDER BY 1",
                )
                .fetch_all(c)
                .await
                .expect("pg_indexes")
            })
        })
        .unwrap_or_default()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(pg) = &self.pg {
            pg_admin(
                &pg.admin_url,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name),
            );
        }
    }
}

/// Parses CSV text with a header row into maps (column → value).
pub fn parse_csv(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .expect("export has a header")
        .iter()
        .map(str::to_string)
        .collect();
    rdr.records()
        .map(|r| {
            let r = r.expect("export is valid CSV");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs one administrative statement (CREATE/DROP DATABASE) on the PostgreSQL server.
fn pg_admin(url: &str, sql: &str) {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let mut c = sqlx::PgConnection::connect(url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {PG_ENV}: {e}"));
        sqlx::raw_sql(sql)
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = c.close().await;
    });
}

/// Small deterministic generator for junk bytes (no seed from the clock: failures reproduce).
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// The store configuration the binary uses on this database, for a test that sets data up
/// through the store.
pub fn store_config(db: &Db) -> didhub_store::StoreConfig {
    let env: std::collections::HashMap<_, _> = db.global_env().into_iter().collect();
    didhub_store::StoreConfig {
        database_url: env.get("DATABASE_URL").cloned(),
        data_dir: env["DIDHUB_DATA_DIR"].clone().into(),
        pool_size: 2,
        bulk_import_min_rows: didhub_store::DEFAULT_BULK_IMPORT_MIN_ROWS,
        documents: Default::default(),
    }
}

/// A runtime for a test that calls the store.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
