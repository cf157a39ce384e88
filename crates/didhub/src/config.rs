//! Configuration: flags, then environment, then an optional TOML file, then defaults; and logs.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use didhub_core::catalog::Catalog;
use didhub_core::secret::{Keyring, SecretKey};
use didhub_store::StoreConfig;
use serde::Deserialize;

#[derive(Args, Clone)]
pub struct Global {
    /// Directory for the SQLite database and documents.
    #[arg(long, global = true, env = "DIDHUB_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…); without it the embedded SQLite database is used.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Optional TOML configuration file (keys: data_dir, database_url, listen, pool_size,
    /// http_threads, log_format, secure_cookies, hold_days, bulk_import_min_rows, catalog,
    /// secret_key, secret_old_keys).
    #[arg(long, global = true, env = "DIDHUB_CONFIG")]
    config: Option<PathBuf>,
    /// Database connection pool size.
    #[arg(long, global = true, env = "DIDHUB_POOL_SIZE")]
    pool_size: Option<u32>,
    /// HTTP threads of `serve`, each owning its share of the connections (default: 4 per core).
    #[arg(long, global = true, env = "DIDHUB_HTTP_THREADS")]
    http_threads: Option<usize>,
    /// Mark the session cookie Secure (set false only for plain-HTTP development).
    #[arg(long, global = true, env = "DIDHUB_SECURE_COOKIES")]
    secure_cookies: Option<bool>,
    /// Days a DID stays on hold after its package stops being active (`serve`; other
    /// commands use what the server recorded at its start, and this only when none has run).
    #[arg(long, global = true, env = "DIDHUB_HOLD_DAYS")]
    hold_days: Option<i64>,
    /// Log format: text or json.
    #[arg(long, global = true, env = "DIDHUB_LOG_FORMAT")]
    log_format: Option<String>,
    /// PostgreSQL: an import of at least this many rows, and at least as many as the
    /// inventory holds, locks the DIDs table and rebuilds its indexes at the end (about 1.6×
    /// as fast; readers wait for it). 0 turns this off. Default 100000.
    #[arg(long, global = true, env = "DIDHUB_BULK_IMPORT_MIN_ROWS")]
    bulk_import_min_rows: Option<u64>,
    /// A service catalog file (TOML) replacing the built-in one (`didhub catalog show` prints
    /// the one in use; docs/ORDERING.md describes the file).
    #[arg(long, global = true, env = "DIDHUB_CATALOG")]
    catalog: Option<PathBuf>,
    /// The key that seals secrets at rest (tickets' remote access): 32 bytes as 64 hex
    /// digits (`didhub secrets new-key`). Without one, didhub refuses to store secrets.
    #[arg(long, global = true, env = "DIDHUB_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Earlier secret keys, comma-separated: values sealed under them still open, and
    /// `didhub secrets rotate` seals them again under the current key.
    #[arg(
        long,
        global = true,
        env = "DIDHUB_SECRET_OLD_KEYS",
        hide_env_values = true
    )]
    secret_old_keys: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    listen: Option<String>,
    pool_size: Option<u32>,
    http_threads: Option<usize>,
    log_format: Option<String>,
    secure_cookies: Option<bool>,
    hold_days: Option<i64>,
    bulk_import_min_rows: Option<u64>,
    catalog: Option<PathBuf>,
    secret_key: Option<String>,
    secret_old_keys: Option<Vec<String>>,
}

pub struct Ctx {
    pub store_cfg: StoreConfig,
    pub listen: String,
    pub http_threads: Option<usize>,
    pub secure_cookies: bool,
    /// As configured for this process (flag, environment or file), if at all.
    pub hold_days: Option<i64>,
    /// The service catalog: the file configured, else the built-in one.
    pub catalog: std::sync::Arc<Catalog>,
    /// The keys that seal and open secrets at rest.
    pub secrets: std::sync::Arc<Keyring>,
}

/// The configured secret keys. A key that is not one is refused by name, never shown.
fn keyring(g: &Global, file: &FileConfig) -> Result<Keyring> {
    let current = g
        .secret_key
        .clone()
        .filter(|k| !k.trim().is_empty())
        .or(file.secret_key.clone())
        .map(|k| SecretKey::parse(&k).context("the secret key (DIDHUB_SECRET_KEY)"))
        .transpose()?;
    let old: Vec<String> = match &g.secret_old_keys {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => file.secret_old_keys.clone().unwrap_or_default(),
    };
    let old = old
        .iter()
        .filter(|k| !k.trim().is_empty())
        .enumerate()
        .map(|(i, k)| {
            SecretKey::parse(k)
                .with_context(|| format!("old secret key {} (DIDHUB_SECRET_OLD_KEYS)", i + 1))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Keyring::new(current, old))
}

/// A config file error by place, message and key only: the parser's own display quotes the
/// line, which may be the database URL with its password.
fn config_error(path: &std::path::Path, text: &str, mut e: toml::de::Error) -> anyhow::Error {
    let place = e.span().map(|s| {
        let before = &text[..s.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!(" (line {line}, column {column})")
    });
    // Without the input, the display is the message and the key (`in \`pool_size\``).
    e.set_input(None);
    let what = e.to_string().trim().replace('\n', "; ");
    anyhow::anyhow!(
        "config file {}{}: {what}",
        path.display(),
        place.unwrap_or_default()
    )
}

pub fn context(g: &Global) -> Result<(Ctx, Option<String>)> {
    let file: FileConfig = match &g.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading config file {}", p.display()))?;
            toml::from_str(&text).map_err(|e| config_error(p, &text, e))?
        }
        None => FileConfig::default(),
    };
    let secrets = std::sync::Arc::new(keyring(g, &file)?);
    let store_cfg = StoreConfig {
        database_url: g
            .database_url
            .clone()
            .filter(|u| !u.is_empty())
            .or(file.database_url),
        data_dir: g
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./didhub-data")),
        pool_size: g.pool_size.or(file.pool_size).unwrap_or(16),
        bulk_import_min_rows: g
            .bulk_import_min_rows
            .or(file.bulk_import_min_rows)
            .unwrap_or(didhub_store::DEFAULT_BULK_IMPORT_MIN_ROWS),
    };
    let listen = file.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
    let secure_cookies = g.secure_cookies.or(file.secure_cookies).unwrap_or(true);
    let hold_days = g.hold_days.or(file.hold_days);
    let http_threads = g.http_threads.or(file.http_threads);
    if http_threads == Some(0) {
        bail!("--http-threads must be at least 1");
    }
    if let Some(d) = hold_days.filter(|d| !(0..=3650).contains(d)) {
        bail!("--hold-days must be between 0 and 3650, not {d}");
    }
    let catalog = match g.catalog.clone().or(file.catalog) {
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("reading catalog file {}", p.display()))?;
            Catalog::from_toml(&text).with_context(|| format!("catalog file {}", p.display()))?
        }
        None => Catalog::builtin().clone(),
    };
    Ok((
        Ctx {
            secrets,
            store_cfg,
            listen,
            http_threads,
            secure_cookies,
            hold_days,
            catalog: std::sync::Arc::new(catalog),
        },
        g.log_format.clone().or(file.log_format),
    ))
}

pub fn init_logs(format: Option<&str>, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DIDHUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a log file or pipe.
        .with_ansi(std::io::stderr().is_terminal());
    if format == Some("json") {
        b.json().init();
    } else {
        b.init();
    }
}
