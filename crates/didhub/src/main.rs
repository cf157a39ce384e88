//! The `didhub` binary: the server and the command line over the same store and rules.

use anyhow::{Context, Result};
use clap::Parser;
use cli::numbers::NumbersCmd;
use cli::Cmd;
use config::Global;
use didhub_store::Store;

mod cli;
mod config;
mod show;

#[derive(Parser)]
#[command(
    name = "didhub",
    version,
    about = "Back office for VoIP service providers: DID inventory, packages and \
        assignment, partners, customers, PBX licenses, the ordering catalog, business \
        identifiers, working-day calendars, support SLAs, outgoing mail"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

/// glibc's malloc arenas: at most this many, unless `MALLOC_ARENA_MAX` says otherwise.
///
/// Why: glibc gives each thread that meets contention an arena of its own (up to 8 per core)
/// and never hands memory freed in one arena to another. `serve` runs many threads (HTTP,
/// import decoders, workers), so an idle server held 106 MB and a large import uploaded after
/// three others peaked at 300 MB, the limit; with two arenas, 91 MB and 212 MB
/// (bench/import_memory.sh; bench/JOURNAL.md). Small allocations still take each thread's own
/// cache without a lock.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: libc::c_int = 2;

/// Bounds the malloc arenas before any thread starts (see [`MALLOC_ARENAS`]).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tunable of the allocator; called before any other
        // thread exists, so no allocation runs concurrently with it.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        }
    }
}

fn main() {
    limit_malloc_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            show::error_line(format!("error: starting the runtime: {e}"));
            std::process::exit(1);
        }
    };
    runtime.block_on(async_main());
}

async fn async_main() {
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
        show::error_line(format!("error: {e:#}"));
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let (ctx, log_format) = config::context(&cli.global)?;
    let is_serve = matches!(cli.cmd, Cmd::Serve { .. });
    config::init_logs(
        log_format.as_deref(),
        if is_serve { "info" } else { "warn" },
    );
    match cli.cmd {
        Cmd::Numbers {
            cmd: NumbersCmd::Classify { country },
        } => cli::numbers::classify(country.as_deref()),
        Cmd::License { cmd } => cli::licensing::license(cmd),
        Cmd::Catalog { cmd } => cli::ordering::catalog(&ctx.catalog, cmd),
        Cmd::Orders { cmd } => cli::ordering::orders(&ctx.store_cfg, &ctx.catalog, cmd).await,
        Cmd::Ids { cmd } => cli::ids::ids(cmd),
        Cmd::Sla { cmd } => cli::support::sla(cmd),
        Cmd::Tickets { cmd } => cli::support::tickets(&ctx.store_cfg, cmd).await,
        Cmd::Support { cmd } => cli::support::support(&ctx.store_cfg, cmd).await,
        Cmd::Secrets { cmd } => cli::support::secrets(&ctx.store_cfg, &ctx.secrets, cmd).await,
        Cmd::Calendar { cmd } => cli::calendar::calendar(&ctx.store_cfg, cmd).await,
        Cmd::Serve { listen } => cli::serve::serve(&ctx, listen).await,
        Cmd::Mail { cmd } => cli::mail::mail(&ctx, cmd).await,
        Cmd::Outbox { cmd } => cli::mail::outbox(&ctx, cmd).await,
        Cmd::Migrate => {
            let store = Store::open(&ctx.store_cfg)
                .await
                .context("migrating the database")?;
            println!("database is up to date ({})", store.backend_name());
            Ok(())
        }
        cmd => {
            let store = ctx.open_store().await?;
            let r = cli::command(&store, cmd, ctx.hold_days).await;
            store.close().await;
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand and every argument says what it is for in `--help`.
    fn missing_help(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let has = a
                .get_help()
                .or(a.get_long_help())
                .is_some_and(|h| !h.to_string().trim().is_empty());
            if !has {
                missing.push(format!("{path} {id}"));
            }
        }
        for s in cmd.get_subcommands() {
            let sub = format!("{path} {}", s.get_name());
            if s.get_name() == "help" {
                continue;
            }
            let has = s
                .get_about()
                .or(s.get_long_about())
                .is_some_and(|h| !h.to_string().trim().is_empty());
            if !has {
                missing.push(sub.clone());
            }
            missing_help(s, &sub, missing);
        }
    }

    #[test]
    fn every_argument_and_subcommand_has_help() {
        let mut missing = Vec::new();
        missing_help(&super::Cli::command(), "didhub", &mut missing);
        assert!(
            missing.is_empty(),
            "without help text:\n{}",
            missing.join("\n")
        );
    }
}
