//! Configuration: flags, then environment, then an optional TOML file, then defaults; and logs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use didhub_core::catalog::Catalog;
use didhub_core::mail::{RetryPolicy, Templates};
use didhub_core::secret::{Keyring, SecretKey};
use didhub_server::jobs::outbox::{Delivery, OutboxConfig, SmtpLogin, SmtpTarget};
use didhub_store::{DocumentsConfig, MailSettings, Store, StoreConfig};
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
    /// documents_url, max_document_bytes, smtp_url, smtp_from, mail_domain, support_email,
    /// mail_templates, mail_max_attempts, mail_retry_min, mail_retry_max, mail_lease,
    /// mail_concurrency, secret_key, secret_old_keys).
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
    /// Where document contents are kept: a directory, or s3://bucket/prefix (a build with the
    /// `s3` feature; credentials and endpoint from AWS_* variables). Default: <data_dir>/documents.
    #[arg(long, global = true, env = "DIDHUB_DOCUMENTS_URL")]
    documents_url: Option<String>,
    /// The size limit of one uploaded document, in bytes (default 10485760, 10 MiB).
    #[arg(long, global = true, env = "DIDHUB_MAX_DOCUMENT_BYTES")]
    max_document_bytes: Option<u64>,
    /// SMTP server for outgoing mail: smtp://host[:port] (plain), smtp://host[:port]?tls=starttls,
    /// smtps://host[:port]. Login from DIDHUB_SMTP_USER and DIDHUB_SMTP_PASSWORD. Without it,
    /// mails are written as .eml files in DATA_DIR/outbox.
    #[arg(long, global = true, env = "DIDHUB_SMTP_URL")]
    smtp_url: Option<String>,
    /// The From of outgoing mail, `address` or `Name <address>` (default didhub@localhost).
    #[arg(long, global = true, env = "DIDHUB_SMTP_FROM")]
    smtp_from: Option<String>,
    /// The domain of outgoing Message-IDs (default: the host part of the From address).
    #[arg(long, global = true, env = "DIDHUB_MAIL_DOMAIN")]
    mail_domain: Option<String>,
    /// The support desk's mailbox: new tickets, partners' replies and SLA alerts are mailed
    /// there (default: the From address).
    #[arg(long, global = true, env = "DIDHUB_SUPPORT_EMAIL")]
    support_email: Option<String>,
    /// A directory of mail templates (NAME.txt) replacing the built-in ones of the same names.
    #[arg(long, global = true, env = "DIDHUB_MAIL_TEMPLATES")]
    mail_templates: Option<PathBuf>,
    /// Attempts to send a mail before it is failed (default 10).
    #[arg(long, global = true, env = "DIDHUB_MAIL_MAX_ATTEMPTS")]
    mail_max_attempts: Option<u32>,
    /// Seconds to wait after a mail's first failed attempt, doubled after each further one
    /// (default 60).
    #[arg(long, global = true, env = "DIDHUB_MAIL_RETRY_MIN")]
    mail_retry_min: Option<u64>,
    /// Longest wait between two attempts of a mail, in seconds (default 3600).
    #[arg(long, global = true, env = "DIDHUB_MAIL_RETRY_MAX")]
    mail_retry_max: Option<u64>,
    /// Seconds a worker holds the mails it claimed; a crashed worker's mails are sent again
    /// after this (default 300).
    #[arg(long, global = true, env = "DIDHUB_MAIL_LEASE")]
    mail_lease: Option<u64>,
    /// Mails sent at once, each on its own SMTP connection (default 8).
    #[arg(long, global = true, env = "DIDHUB_MAIL_CONCURRENCY")]
    mail_concurrency: Option<usize>,
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
    documents_url: Option<String>,
    max_document_bytes: Option<u64>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    mail_domain: Option<String>,
    support_email: Option<String>,
    mail_templates: Option<PathBuf>,
    mail_max_attempts: Option<u32>,
    mail_retry_min: Option<u64>,
    mail_retry_max: Option<u64>,
    mail_lease: Option<u64>,
    mail_concurrency: Option<usize>,
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
    /// How mails are composed (sender, Message-ID domain, templates).
    pub mail: MailSettings,
    /// How the outbox sends them.
    pub outbox: OutboxConfig,
    /// The keys that seal and open secrets at rest.
    pub secrets: std::sync::Arc<Keyring>,
}

impl Ctx {
    /// Opens (creating if needed) and migrates the database, with this configuration's mail
    /// settings.
    pub async fn open_store(&self) -> Result<Store> {
        Ok(Store::open(&self.store_cfg)
            .await
            .context("opening the database")?
            .with_mail(self.mail.clone()))
    }
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
        documents: DocumentsConfig {
            url: g
                .documents_url
                .clone()
                .filter(|u| !u.trim().is_empty())
                .or(file.documents_url),
            max_bytes: g
                .max_document_bytes
                .or(file.max_document_bytes)
                .unwrap_or(didhub_core::documents::DEFAULT_MAX_DOCUMENT_BYTES),
        },
    };
    let ceiling = didhub_core::documents::MAX_DOCUMENT_BYTES_CEILING;
    if !(1..=ceiling).contains(&store_cfg.documents.max_bytes) {
        bail!(
            "--max-document-bytes must be between 1 and {ceiling}, not {}",
            store_cfg.documents.max_bytes
        );
    }
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
    let mail = MailSettings::new(
        g.smtp_from
            .as_deref()
            .or(file.smtp_from.as_deref())
            .unwrap_or(didhub_store::mail::DEFAULT_FROM),
        g.mail_domain.as_deref().or(file.mail_domain.as_deref()),
        match g.mail_templates.clone().or(file.mail_templates) {
            Some(dir) => Some(std::sync::Arc::new(templates(&dir)?)),
            None => None,
        },
    )
    .and_then(|m| m.with_support(g.support_email.as_deref().or(file.support_email.as_deref())))
    .context("mail settings (smtp_from, mail_domain, support_email)")?;
    let delivery = match g.smtp_url.clone().or(file.smtp_url) {
        Some(url) => Delivery::Smtp {
            target: SmtpTarget::parse(&url)?,
            login: smtp_login()?,
        },
        None => Delivery::Files(store_cfg.data_dir.join("outbox")),
    };
    let mut outbox = OutboxConfig::new(delivery);
    let defaults = RetryPolicy::default();
    outbox.policy = RetryPolicy {
        max_attempts: g
            .mail_max_attempts
            .or(file.mail_max_attempts)
            .unwrap_or(defaults.max_attempts),
        first_delay: g
            .mail_retry_min
            .or(file.mail_retry_min)
            .map_or(defaults.first_delay, Duration::from_secs),
        max_delay: g
            .mail_retry_max
            .or(file.mail_retry_max)
            .map_or(defaults.max_delay, Duration::from_secs),
    };
    outbox.policy.check()?;
    if let Some(lease) = g.mail_lease.or(file.mail_lease) {
        if !(2..=86_400).contains(&lease) {
            bail!("--mail-lease must be between 2 and 86400 seconds, not {lease}");
        }
        outbox.lease = Duration::from_secs(lease);
    }
    if let Some(n) = g.mail_concurrency.or(file.mail_concurrency) {
        if !(1..=256).contains(&n) {
            bail!("--mail-concurrency must be between 1 and 256, not {n}");
        }
        outbox.concurrency = n;
    }
    Ok((
        Ctx {
            secrets,
            store_cfg,
            listen,
            http_threads,
            secure_cookies,
            hold_days,
            catalog: std::sync::Arc::new(catalog),
            mail,
            outbox,
        },
        g.log_format.clone().or(file.log_format),
    ))
}

/// The SMTP login, from the environment only (never a flag or the file, which show in process
/// lists and backups): both variables or neither.
fn smtp_login() -> Result<Option<SmtpLogin>> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (get("DIDHUB_SMTP_USER"), get("DIDHUB_SMTP_PASSWORD")) {
        (Some(user), Some(password)) => Ok(Some(SmtpLogin { user, password })),
        (None, None) => Ok(None),
        _ => bail!("set both DIDHUB_SMTP_USER and DIDHUB_SMTP_PASSWORD, or neither"),
    }
}

/// The mail templates with those of `dir` (each `NAME.txt`) in place of the built-in ones.
fn templates(dir: &std::path::Path) -> Result<Templates> {
    let what = || format!("mail templates {}", dir.display());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(what)? {
        let path = entry.with_context(what)?.path();
        let (Some(stem), Some("txt")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if stem.starts_with('.') {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading mail template {}", path.display()))?;
        files.push((stem.to_string(), text));
    }
    Templates::with_replacements(files).with_context(what)
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
