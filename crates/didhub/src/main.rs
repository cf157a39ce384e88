//! The `didhub` binary: the server and the command line over the same store and rules.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use didhub_core::did::DidStatus;
use didhub_core::import::{Defaults, MAX_IMPORT_NUMBERS};
use didhub_core::licensing::{quote, TermKind};
use didhub_core::number::{classification, Classification, Country};
use didhub_store::dids::NewDids;
use didhub_store::import::{ImportFile, ImportOptions};
use didhub_store::{Actor, AuditFilter, DidFilter, DidSort, Store, StoreConfig};
use serde::Deserialize;

mod accounts;
mod assign_cli;

#[derive(Parser)]
#[command(
    name = "didhub",
    version,
    about = "Back office for VoIP service providers: DID inventory, ordering, licenses, support"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Global {
    /// Directory for the SQLite database and documents.
    #[arg(long, global = true, env = "DIDHUB_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…); without it the embedded SQLite database is used.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Optional TOML configuration file (keys: data_dir, database_url, listen, pool_size, http_threads, log_format, secure_cookies, hold_days, bulk_import_min_rows).
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
    /// Days a DID stays on hold after its package stops being active.
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
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the HTTP server (API, docs, health, metrics).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "DIDHUB_LISTEN")]
        listen: Option<String>,
    },
    /// Create or upgrade the database schema.
    Migrate,
    /// Phone number tools.
    Numbers {
        #[command(subcommand)]
        cmd: NumbersCmd,
    },
    /// Import DIDs from a CSV, XLSX or XLS file.
    Import(ImportArgs),
    /// Export DIDs as CSV.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Operators (DID providers).
    Operators {
        #[command(subcommand)]
        cmd: OperatorsCmd,
    },
    /// DIDs.
    Dids {
        #[command(subcommand)]
        cmd: DidsCmd,
    },
    /// The audit log, newest first.
    Audit {
        /// Number or operator name the entries are about.
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        action: Option<String>,
        /// The newest entries shown, 1 to 1000.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Users and their roles.
    Users {
        #[command(subcommand)]
        cmd: accounts::UsersCmd,
    },
    /// Partners (resellers).
    Partners {
        #[command(subcommand)]
        cmd: accounts::PartnersCmd,
    },
    /// Customers of partners.
    Customers {
        #[command(subcommand)]
        cmd: accounts::CustomersCmd,
    },
    /// PBXs, their licenses and services.
    Pbxs {
        #[command(subcommand)]
        cmd: accounts::PbxsCmd,
    },
    /// The service catalog.
    ServiceKinds {
        #[command(subcommand)]
        cmd: accounts::ServiceKindsCmd,
    },
    /// Packages (DID allowances).
    Packages {
        #[command(subcommand)]
        cmd: assign_cli::PackagesCmd,
    },
    /// Packages given to customers, and the DIDs assigned under them.
    ClientPackages {
        #[command(subcommand)]
        cmd: assign_cli::ClientPackagesCmd,
    },
    /// Where a call to a number goes.
    Route { number: String },
    /// PBX licenses and co-terminated services.
    License {
        #[command(subcommand)]
        cmd: LicenseCmd,
    },
}

#[derive(Subcommand)]
enum NumbersCmd {
    /// Read numbers (one per line) on stdin; write one JSON object per line.
    Classify {
        /// Default country for national-format numbers (ISO 3166 alpha-2).
        #[arg(long)]
        country: Option<String>,
    },
}

#[derive(Args)]
struct ImportArgs {
    file: PathBuf,
    /// Operator for rows without one (created if it does not exist).
    #[arg(long)]
    operator: Option<String>,
    /// Default country for national-format numbers.
    #[arg(long)]
    country: Option<String>,
    /// Status for rows without one: in_stock, reserved or archive.
    #[arg(long, default_value = "in_stock")]
    status: String,
    /// After-hold status for rows without one.
    #[arg(long, default_value = "in_stock")]
    after_hold: String,
    /// Tag for rows without one.
    #[arg(long)]
    tag: Option<String>,
    /// Import the valid rows and report the others (default: all or nothing).
    #[arg(long)]
    skip_invalid: bool,
    /// Check and report only; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Why, for the audit log.
    #[arg(long)]
    reason: Option<String>,
    /// Write every rejected number to this CSV file (row,value,reason); the report lists the
    /// first 1,000.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
}

#[derive(Args, Default)]
struct FilterArgs {
    /// Number prefix, e.g. +44207.
    #[arg(long)]
    prefix: Option<String>,
    #[arg(long)]
    country: Option<String>,
    /// Number type, e.g. mobile.
    #[arg(long = "type")]
    number_type: Option<String>,
    #[arg(long)]
    status: Option<String>,
    /// Operator name.
    #[arg(long)]
    operator: Option<String>,
    #[arg(long)]
    tag: Option<String>,
    /// Text in the notes.
    #[arg(long)]
    notes: Option<String>,
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create an API token and print it (it is shown only once). Without --user, the token
    /// belongs to the bootstrap admin (admin@localhost).
    Create {
        #[arg(long)]
        name: String,
        /// E-mail of the user the token acts as.
        #[arg(long)]
        user: Option<String>,
        /// Expire after this many days, 1 to 36500 (default: never).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
        expires_days: Option<u32>,
    },
}

#[derive(Subcommand)]
enum OperatorsCmd {
    List,
    Create { name: String },
    Rename { name: String, new_name: String },
    Delete { name: String },
}

#[derive(Subcommand)]
enum DidsCmd {
    /// List DIDs (first page; use the API for more).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// DIDs shown (the first, by number), 1 to 1000.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Create DIDs from numbers or ranges FIRST-LAST.
    Create {
        #[arg(required = true)]
        numbers: Vec<String>,
        #[arg(long)]
        operator: String,
        #[arg(long)]
        country: Option<String>,
        #[arg(long, default_value = "in_stock")]
        status: String,
        #[arg(long, default_value = "in_stock")]
        after_hold: String,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        notes: Option<String>,
    },
    /// A DID's history.
    History { number: String },
}

#[derive(Subcommand)]
enum LicenseCmd {
    /// Price a service co-terminated with a PBX license period.
    Quote {
        /// monthly, yearly or five_year.
        #[arg(long)]
        term: String,
        /// Start of the license's current period (YYYY-MM-DD).
        #[arg(long)]
        period_start: String,
        /// Day the service starts (YYYY-MM-DD).
        #[arg(long)]
        service_start: String,
        /// List price for a full period, e.g. 1200.00.
        #[arg(long)]
        price: String,
        /// Decimals of the currency's minor unit.
        #[arg(long, default_value_t = 2)]
        minor_units: u32,
        #[arg(long)]
        json: bool,
    },
}

struct Ctx {
    store_cfg: StoreConfig,
    listen: String,
    http_threads: Option<usize>,
    secure_cookies: bool,
    hold_days: i64,
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

fn context(g: &Global) -> Result<(Ctx, Option<String>)> {
    let file: FileConfig = match &g.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading config file {}", p.display()))?;
            toml::from_str(&text).map_err(|e| config_error(p, &text, e))?
        }
        None => FileConfig::default(),
    };
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
    let hold_days = g
        .hold_days
        .or(file.hold_days)
        .unwrap_or(didhub_core::assignment::DEFAULT_HOLD_DAYS);
    let http_threads = g.http_threads.or(file.http_threads);
    if http_threads == Some(0) {
        bail!("--http-threads must be at least 1");
    }
    if !(0..=3650).contains(&hold_days) {
        bail!("--hold-days must be between 0 and 3650, not {hold_days}");
    }
    Ok((
        Ctx {
            store_cfg,
            listen,
            http_threads,
            secure_cookies,
            hold_days,
        },
        g.log_format.clone().or(file.log_format),
    ))
}

fn init_logs(format: Option<&str>, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DIDHUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == Some("json") {
        b.json().init();
    } else {
        b.init();
    }
}

#[tokio::main]
async fn main() {
    // Usage errors exit 64 (EX_USAGE), not clap's 2, which `import` gives to "nothing was
    // imported because of errors"; help and version exit 0.
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 64 } else { 0 });
        }
    };
    if let Err(e) = run(cli).await {
        // The reader of our output went away (`| head`): not our failure. A broken pipe to
        // the database is (it comes wrapped in the store's error), so it is reported.
        let from_database = e
            .chain()
            .any(|c| c.downcast_ref::<didhub_store::StoreError>().is_some());
        if !from_database
            && e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            })
        {
            return;
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let (ctx, log_format) = context(&cli.global)?;
    let is_serve = matches!(cli.cmd, Cmd::Serve { .. });
    init_logs(
        log_format.as_deref(),
        if is_serve { "info" } else { "warn" },
    );
    match cli.cmd {
        Cmd::Numbers {
            cmd: NumbersCmd::Classify { country },
        } => classify(country.as_deref()),
        Cmd::License {
            cmd:
                LicenseCmd::Quote {
                    term,
                    period_start,
                    service_start,
                    price,
                    minor_units,
                    json,
                },
        } => license_quote(
            &term,
            &period_start,
            &service_start,
            &price,
            minor_units,
            json,
        ),
        Cmd::Serve { listen } => {
            let store = Store::open(&ctx.store_cfg)
                .await
                .context("opening the database")?;
            let addr = listen.unwrap_or(ctx.listen);
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            let threads = ctx.http_threads.unwrap_or_else(|| {
                didhub_server::HTTP_THREADS_PER_CORE
                    * std::thread::available_parallelism().map_or(1, |n| n.get())
            });
            tracing::info!(addr = %addr, backend = store.backend_name(), threads, "didhub serving");
            store
                .warm_up()
                .await
                .context("opening database connections")?;
            let mut state = didhub_server::AppState::new(store);
            state.secure_cookies = ctx.secure_cookies;
            state.hold = chrono::Duration::days(ctx.hold_days);
            state
                .start_background()
                .await
                .context("loading the routing table")?;
            didhub_server::serve(listener, state, threads, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
            Ok(())
        }
        Cmd::Migrate => {
            let store = Store::open(&ctx.store_cfg)
                .await
                .context("migrating the database")?;
            println!("database is up to date ({})", store.backend_name());
            Ok(())
        }
        cmd => {
            let store = Store::open(&ctx.store_cfg)
                .await
                .context("opening the database")?;
            let r = command(&store, cmd, chrono::Duration::days(ctx.hold_days)).await;
            store.close().await;
            r
        }
    }
}

/// Writes one result line exactly as `serde_json` writes a [`Classification`] (a test holds the
/// two equal), without the generic serializer's per-field work: a twentieth of the command's
/// time. Strings that need no escaping (the E.164 form, country and type always; the input
/// nearly always) are copied as they are.
fn write_classification(o: &mut Vec<u8>, c: &Classification) {
    fn string(o: &mut Vec<u8>, s: &str) {
        if s.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            o.push(b'"');
            o.extend_from_slice(s.as_bytes());
            o.push(b'"');
        } else {
            // Writing a string to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *o, s);
        }
    }
    fn field(o: &mut Vec<u8>, name: &[u8], v: Option<&str>) {
        o.extend_from_slice(name);
        match v {
            Some(s) => string(o, s),
            None => o.extend_from_slice(b"null"),
        }
    }
    o.extend_from_slice(b"{\"input\":");
    string(o, &c.input);
    o.extend_from_slice(if c.valid {
        b",\"valid\":true"
    } else {
        b",\"valid\":false"
    });
    field(o, b",\"e164\":", c.e164.as_deref());
    field(o, b",\"country\":", c.country.as_deref());
    field(o, b",\"type\":", c.number_type.map(|t| t.as_str()));
    field(o, b",\"error\":", c.error.as_deref());
    o.push(b'}');
}

/// Byte buffers handed back and forth between the classify pipeline's threads, so that each
/// chunk does not allocate (and fault in) fresh memory.
#[derive(Default)]
struct Buffers(std::sync::Mutex<Vec<Vec<u8>>>);

impl Buffers {
    fn take(&self, capacity: usize) -> Vec<u8> {
        let b = self.0.lock().ok().and_then(|mut v| v.pop());
        b.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    fn give(&self, mut b: Vec<u8>) {
        b.clear();
        if let Ok(mut v) = self.0.lock() {
            v.push(b);
        }
    }
}

fn classify(country: Option<&str>) -> Result<()> {
    use std::sync::mpsc::sync_channel;
    use std::sync::Mutex;
    let country = country
        .map(Country::parse)
        .transpose()
        .context("--country")?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A pipeline on long-lived threads: this thread reads blocks of whole lines, one worker
    // per core classifies them on its own metadata engine (see `use_own_engine`), and a writer
    // puts the results back in input order. Bounded queues keep memory constant.
    const LINES: usize = 4096;
    const OUT_PER_LINE: usize = 120;
    let (work_tx, work_rx) = sync_channel::<(u64, Vec<u8>)>(threads * 2);
    // Owned by the workers alone: when the last one stops (the writer failed, or a worker
    // panicked), the queue's receiver goes with it and the reader's next send fails, so the
    // reader stops instead of waiting forever on a full queue.
    let work_rx = std::sync::Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = sync_channel::<(u64, Vec<u8>)>(threads * 2);
    let (inputs, outputs) = (Buffers::default(), Buffers::default());
    std::thread::scope(|sc| -> Result<()> {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let work_rx = std::sync::Arc::clone(&work_rx);
            let (inputs, outputs) = (&inputs, &outputs);
            sc.spawn(move || {
                didhub_core::number::use_own_engine();
                loop {
                    let job = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, block)) = job else { return };
                    let mut o = outputs.take(LINES * OUT_PER_LINE);
                    // One answer per input line, blank ones included (an empty cell of a
                    // spreadsheet column), so that output line N answers input line N.
                    let body = block.strip_suffix(b"\n").unwrap_or(&block);
                    let lines = (!block.is_empty()).then(|| body.split(|&b| b == b'\n'));
                    for raw in lines.into_iter().flatten() {
                        let text = String::from_utf8_lossy(raw);
                        let text = text.trim_end_matches('\r');
                        write_classification(&mut o, &classification(text, country));
                        o.push(b'\n');
                    }
                    inputs.give(block);
                    if done_tx.send((seq, o)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        drop(work_rx);
        let outs = &outputs;
        let writer = sc.spawn(move || -> std::io::Result<()> {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut next = 0u64;
            let mut early = std::collections::BTreeMap::new();
            for (seq, bytes) in done_rx {
                early.insert(seq, bytes);
                while let Some(b) = early.remove(&next) {
                    out.write_all(&b)?;
                    outs.give(b);
                    next += 1;
                }
            }
            out.flush()
        });
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut seq = 0u64;
        let mut eof = false;
        while !eof {
            let mut block = inputs.take(LINES * 32);
            for _ in 0..LINES {
                if input.read_until(b'\n', &mut block)? == 0 {
                    eof = true;
                    break;
                }
            }
            if block.is_empty() {
                continue;
            }
            // A closed queue means every worker stopped: the writer failed (its error is
            // reported below) or a worker panicked.
            if work_tx.send((seq, block)).is_err() {
                break;
            }
            seq += 1;
        }
        drop(work_tx);
        match writer.join() {
            Ok(r) => r.context("writing the results"),
            Err(_) => bail!("the writer thread failed"),
        }
    })
}

fn license_quote(
    term: &str,
    period_start: &str,
    service_start: &str,
    price: &str,
    minor_units: u32,
    json: bool,
) -> Result<()> {
    let term: TermKind = term.parse().context("--term")?;
    let ps = chrono::NaiveDate::parse_from_str(period_start, "%Y-%m-%d")
        .with_context(|| format!("--period-start '{period_start}' is not a date YYYY-MM-DD"))?;
    let ss = chrono::NaiveDate::parse_from_str(service_start, "%Y-%m-%d")
        .with_context(|| format!("--service-start '{service_start}' is not a date YYYY-MM-DD"))?;
    let price: rust_decimal::Decimal = price
        .trim()
        .parse()
        .with_context(|| format!("--price '{price}' is not a decimal amount"))?;
    let q = quote(term, ps, ss, price, minor_units)?;
    if json {
        println!("{}", serde_json::to_string(&q)?);
    } else {
        println!(
            "expires:     {}\ndays:        {} of {}\namount:      {}",
            q.expires, q.days, q.period_days, q.amount
        );
    }
    Ok(())
}

async fn operator_id(store: &Store, name: &str) -> Result<uuid::Uuid> {
    match store.find_operator(name).await? {
        Some(o) => Ok(o.id),
        None => bail!("no operator named '{name}'"),
    }
}

async fn filter(store: &Store, f: FilterArgs) -> Result<DidFilter> {
    Ok(DidFilter {
        prefix: f.prefix,
        country: f.country,
        number_type: f.number_type,
        status: f
            .status
            .map(|s| s.parse::<DidStatus>())
            .transpose()
            .context("--status")?,
        operator_id: match f.operator {
            Some(n) => Some(operator_id(store, &n).await?),
            None => None,
        },
        tag: f.tag,
        notes: f.notes,
    })
}

/// Exports to `path`. A regular file (or none yet) is written beside it and renamed over it
/// once whole, keeping an existing file's permissions: an export that fails part-way leaves
/// the previous file as it was, never a cut one under its name. Anything else at the path (a
/// symlink, a FIFO, a device, `/dev/stdout`) is written into as it is, as a shell would.
async fn export_to_file(store: &Store, f: &DidFilter, path: &std::path::Path) -> Result<u64> {
    let existing = tokio::fs::symlink_metadata(path).await.ok();
    if existing.as_ref().is_some_and(|m| !m.file_type().is_file()) {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        return Ok(store.export_dids(f, &mut file).await?);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export.csv".into());
    // A name of its own (never another run's file) and created new, never truncated.
    let partial = path.with_file_name(format!(".{name}.{}.partial", uuid::Uuid::new_v4()));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .await
        .with_context(|| {
            format!(
                "writing {} (through a temporary file beside it)",
                path.display()
            )
        })?;
    let written = async {
        let rows = store.export_dids(f, &mut file).await?;
        if let Some(m) = &existing {
            file.set_permissions(m.permissions()).await?;
        }
        file.sync_all().await?;
        tokio::fs::rename(&partial, path)
            .await
            .with_context(|| format!("moving the export to {}", path.display()))?;
        Ok::<u64, anyhow::Error>(rows)
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    written
}

async fn command(store: &Store, cmd: Cmd, hold: chrono::Duration) -> Result<()> {
    let actor = Actor::cli();
    match cmd {
        Cmd::Users { cmd } => accounts::users(store, &actor, cmd).await,
        Cmd::Packages { cmd } => assign_cli::packages(store, &actor, cmd).await,
        Cmd::ClientPackages { cmd } => assign_cli::client_packages(store, &actor, cmd, hold).await,
        Cmd::Route { number } => assign_cli::route(store, &number).await,
        Cmd::Partners { cmd } => accounts::partners(store, &actor, cmd).await,
        Cmd::Customers { cmd } => accounts::customers(store, &actor, cmd).await,
        Cmd::Pbxs { cmd } => accounts::pbxs(store, &actor, cmd).await,
        Cmd::ServiceKinds { cmd } => accounts::service_kinds(store, &actor, cmd).await,
        Cmd::Import(a) => import(store, &actor, a).await,
        Cmd::Export { filter: f, output } => {
            let f = filter(store, f).await?;
            // A bad filter is refused before any file is touched.
            store.count_dids_check(&f)?;
            let rows = match output {
                Some(path) => export_to_file(store, &f, &path).await?,
                None => match store.export_dids(&f, &mut tokio::io::stdout()).await {
                    Ok(n) => n,
                    // The reader stopped early (`| head`): not an error.
                    Err(didhub_store::StoreError::Io(e))
                        if e.kind() == std::io::ErrorKind::BrokenPipe =>
                    {
                        return Ok(())
                    }
                    Err(e) => return Err(e.into()),
                },
            };
            tracing::info!(rows, "exported");
            Ok(())
        }
        Cmd::Token {
            cmd:
                TokenCmd::Create {
                    name,
                    user,
                    expires_days,
                },
        } => {
            let expires =
                expires_days.map(|d| chrono::Utc::now() + chrono::Duration::days(d as i64));
            let user_id = match user {
                Some(email) => {
                    store
                        .find_user(&email)
                        .await?
                        .with_context(|| format!("no user with e-mail {email}"))?
                        .id
                }
                None => store.bootstrap_admin().await?,
            };
            let (_info, token) = store.create_token(&actor, user_id, &name, expires).await?;
            println!("{token}");
            eprintln!("This token is shown once; store it safely. Use it as 'Authorization: Bearer <token>'.");
            Ok(())
        }
        Cmd::Operators { cmd } => match cmd {
            OperatorsCmd::List => {
                for o in store.list_operators().await? {
                    println!("{}\t{}\t{} DIDs", o.id, o.name, o.did_count);
                }
                Ok(())
            }
            OperatorsCmd::Create { name } => {
                let o = store.create_operator(&actor, &name).await?;
                println!("{}\t{}", o.id, o.name);
                Ok(())
            }
            OperatorsCmd::Rename { name, new_name } => {
                let id = operator_id(store, &name).await?;
                let o = store.rename_operator(&actor, id, &new_name, None).await?;
                println!("{}\t{}", o.id, o.name);
                Ok(())
            }
            OperatorsCmd::Delete { name } => {
                let id = operator_id(store, &name).await?;
                store.delete_operator(&actor, id).await?;
                Ok(())
            }
        },
        Cmd::Dids { cmd } => match cmd {
            DidsCmd::List {
                filter: f,
                limit,
                json,
            } => {
                let f = filter(store, f).await?;
                let page = store
                    .list_dids(&f, DidSort::Number, false, limit, None)
                    .await?;
                for d in page.items {
                    if json {
                        println!("{}", serde_json::to_string(&d)?);
                    } else {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            d.number,
                            d.country,
                            d.number_type,
                            d.operator,
                            d.status,
                            d.tag.unwrap_or_default()
                        );
                    }
                }
                Ok(())
            }
            DidsCmd::Create {
                numbers,
                operator,
                country,
                status,
                after_hold,
                tag,
                notes,
            } => {
                let req = NewDids {
                    numbers,
                    country: country
                        .map(|c| Country::parse(&c))
                        .transpose()
                        .context("--country")?,
                    operator_id: operator_id(store, &operator).await?,
                    status: status.parse().context("--status")?,
                    after_hold: after_hold.parse().context("--after-hold")?,
                    tag,
                    notes,
                    reason: None,
                };
                let c = store.create_dids(&actor, req).await?;
                println!("created {} DID(s)", c.created);
                Ok(())
            }
            DidsCmd::History { number } => {
                let e164 = didhub_core::number::E164::parse(&number, None)
                    .with_context(|| format!("'{number}'"))?;
                for e in store.number_history(e164.as_str()).await? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        e.at.to_rfc3339(),
                        e.actor,
                        e.action,
                        e.changes,
                        e.reason.unwrap_or_default()
                    );
                }
                Ok(())
            }
        },
        Cmd::Audit {
            subject,
            action,
            limit,
        } => {
            let f = AuditFilter {
                subject,
                action,
                ..Default::default()
            };
            for e in store.list_audit(&f, limit, None).await?.items {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    e.at.to_rfc3339(),
                    e.actor,
                    e.action,
                    e.subject.unwrap_or_default(),
                    e.changes,
                    e.reason.unwrap_or_default()
                );
            }
            Ok(())
        }
        Cmd::Serve { .. } | Cmd::Migrate | Cmd::Numbers { .. } | Cmd::License { .. } => {
            unreachable!("handled before opening the store")
        }
    }
}

async fn import(store: &Store, actor: &Actor, a: ImportArgs) -> Result<()> {
    // Read as it is imported, never whole; opened here first for a plain error.
    std::fs::File::open(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    if let Some(r) = &a.rejects {
        std::fs::File::create(r).with_context(|| format!("--rejects {}", r.display()))?;
    }
    let defaults = Defaults {
        operator: a.operator.clone().filter(|o| !o.trim().is_empty()),
        status: a
            .status
            .parse::<DidStatus>()
            .and_then(DidStatus::initial)
            .context("--status")?,
        after_hold: a
            .after_hold
            .parse::<DidStatus>()
            .and_then(DidStatus::after_hold)
            .context("--after-hold")?,
        tag: a.tag.clone(),
        country: a
            .country
            .as_deref()
            .map(Country::parse)
            .transpose()
            .context("--country")?,
    };
    let opts = ImportOptions {
        defaults,
        skip_invalid: a.skip_invalid,
        dry_run: a.dry_run,
        file_name: a
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        reason: a.reason.clone(),
        max_numbers: MAX_IMPORT_NUMBERS,
        rejects_csv: a.rejects.clone(),
        rejects_csv_limit: None,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} rows checked ({per_sec}) {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    });
    let progress = |n: usize| {
        if let Some(b) = &bar {
            b.set_position(n as u64);
        }
    };
    let report = store
        .import_dids(
            actor,
            ImportFile::Path(a.file.clone()),
            opts,
            Some(&progress),
        )
        .await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = match report {
        Ok(r) => r,
        // The file (or a default) is refused as a whole: nothing imported because of errors,
        // exit 2 like a refused row, and under --json the report, saying why.
        Err(
            e @ (didhub_store::StoreError::Invalid { .. }
            | didhub_store::StoreError::InvalidFields(_)),
        ) => {
            if a.json {
                let error = match &e {
                    didhub_store::StoreError::Invalid { field, message } => {
                        serde_json::json!({"field": field, "message": message})
                    }
                    other => serde_json::json!({"field": null, "message": other.to_string()}),
                };
                let report = serde_json::json!({
                    "imported": 0, "valid": 0, "rejected": [], "rejected_total": 0,
                    "rejected_truncated": false, "duplicates": 0,
                    "operators_created": [], "dry_run": a.dry_run, "batch_id": null,
                    "error": error,
                });
                writeln!(std::io::stdout().lock(), "{report}")?;
            }
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        for r in report.rejected.iter().take(50) {
            writeln!(out, "row {}: {} — {}", r.row, r.value, r.reason)?;
        }
        if report.rejected_total > 50 {
            let all = match &a.rejects {
                Some(f) => format!("all are in {}", f.display()),
                None => "use --rejects FILE for all".to_string(),
            };
            writeln!(
                out,
                "… and {} more rejected rows ({all})",
                report.rejected_total - 50
            )?;
        }
        let verb = if a.dry_run { "would create" } else { "created" };
        for o in &report.operators_created {
            writeln!(out, "{verb} operator '{o}'")?;
        }
        if a.dry_run {
            writeln!(
                out,
                "dry run: {} DID(s) would be imported, {} rejected ({} duplicates)",
                report.valid, report.rejected_total, report.duplicates
            )?;
        } else {
            writeln!(
                out,
                "imported {} DID(s), {} rejected ({} duplicates)",
                report.imported, report.rejected_total, report.duplicates
            )?;
        }
    }
    // A dry run answers for the run it stands for: non-zero when that run would import
    // nothing because of errors (so a "check the file" step can use the exit status).
    let would_import = if a.dry_run {
        report.valid
    } else {
        report.imported
    };
    if would_import == 0 && !report.rejected.is_empty() {
        let (nothing, what) = if a.dry_run {
            ("nothing would be imported", "every row would be rejected")
        } else {
            ("nothing was imported", "every row was rejected")
        };
        if !a.json && a.skip_invalid {
            eprintln!("{nothing}: {what}");
        } else if !a.json {
            eprintln!("{nothing}: fix the rows above or use --skip-invalid");
        }
        std::process::exit(2);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_lines_are_what_serde_writes() {
        let gb = Country::parse("GB").ok();
        for (input, cc) in [
            ("+442079460018", None),
            ("020 7946 0018", gb),
            ("+1 201 555 0123", None),
            ("+80012345678", None),
            ("+44 20 7946 001", None),
            ("0800 \"free\"", gb),
            ("back\\slash\t+44", None),
            ("\u{1}\u{7f}", None),
            ("tél. +33 1 23 45 67 89", None),
            ("+33 1 23 45 67 89", None),
            ("", None),
            ("0207946001", None),
        ] {
            let c = classification(input, cc);
            let mut fast = Vec::new();
            write_classification(&mut fast, &c);
            let serde = serde_json::to_vec(&c).unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&serde),
                "input {input:?}"
            );
        }
    }
}
