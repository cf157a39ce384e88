//! The command line: one module per domain, each with its subcommands and their handlers.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use didhub_store::{Actor, Store};

pub mod accounts;
pub mod assignment;
pub mod calendar;
pub mod documents;
pub mod ids;
pub mod inventory;
pub mod licensing;
pub mod mail;
pub mod numbers;
pub mod ordering;
pub mod serve;
pub mod support;

#[derive(Subcommand)]
pub enum Cmd {
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
        cmd: numbers::NumbersCmd,
    },
    /// Import DIDs from a CSV, XLSX or XLS file.
    Import(inventory::ImportArgs),
    /// Export DIDs as CSV.
    Export {
        #[command(flatten)]
        filter: inventory::FilterArgs,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        cmd: accounts::TokenCmd,
    },
    /// Operators (DID providers).
    Operators {
        #[command(subcommand)]
        cmd: inventory::OperatorsCmd,
    },
    /// DIDs.
    Dids {
        #[command(subcommand)]
        cmd: inventory::DidsCmd,
    },
    /// The audit log, newest first.
    Audit {
        /// Number or operator name the entries are about.
        #[arg(long)]
        subject: Option<String>,
        /// Only entries of this action, e.g. did.update.
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
        cmd: assignment::PackagesCmd,
    },
    /// Packages given to customers, and the DIDs assigned under them.
    ClientPackages {
        #[command(subcommand)]
        cmd: assignment::ClientPackagesCmd,
    },
    /// Where a call to a number goes.
    Route {
        /// The number called (any format).
        number: String,
    },
    /// PBX licenses and co-terminated services.
    License {
        #[command(subcommand)]
        cmd: licensing::LicenseCmd,
    },
    /// What can be ordered in each country, and what an order needs.
    Catalog {
        #[command(subcommand)]
        cmd: ordering::CatalogCmd,
    },
    /// Orders of numbers and porting: checks, lists and one order with its timeline.
    Orders {
        #[command(subcommand)]
        cmd: ordering::OrdersCmd,
    },
    /// Documents of partners (letters of authorisation, invoices, …): upload, show, get.
    Documents {
        #[command(subcommand)]
        cmd: documents::DocumentsCmd,
    },
    /// Business identifiers: company and tax numbers (SIRET, NIF, …).
    Ids {
        #[command(subcommand)]
        cmd: ids::IdsCmd,
    },
    /// Working days by country (weekends, national holidays, closures).
    Calendar {
        #[command(subcommand)]
        cmd: calendar::CalendarCmd,
    },
    /// Support service levels: first-response deadlines.
    Sla {
        #[command(subcommand)]
        cmd: support::SlaCmd,
    },
    /// Outgoing mail: send what is due, queue a test mail.
    Mail {
        #[command(subcommand)]
        cmd: mail::MailCmd,
    },
    /// The mail outbox: list it, queue failed mails again.
    Outbox {
        #[command(subcommand)]
        cmd: mail::OutboxCmd,
    },
    /// Support tickets: lists (at risk, breached) and one ticket with its conversation.
    Tickets {
        #[command(subcommand)]
        cmd: support::TicketsCmd,
    },
    /// The support desk's centres and the partners they serve.
    Support {
        #[command(subcommand)]
        cmd: support::SupportCmd,
    },
    /// Secrets at rest: a new key, and sealing stored secrets again under the current key.
    Secrets {
        #[command(subcommand)]
        cmd: support::SecretsCmd,
    },
}

/// The hold period a command applies: the one the server recorded at its start (its
/// configuration decides, whichever process makes the change), else this process's
/// configuration, else the default. A different value configured here is reported, not used.
async fn hold_period(store: &Store, configured: Option<i64>) -> Result<chrono::Duration> {
    let recorded = store.recorded_hold_days().await?;
    if let (Some(r), Some(c)) = (recorded, configured) {
        if r != c {
            crate::show::error_line(format!(
                "warning: hold_days is {c} here but {r} in the server's configuration \
                 (recorded when it started); {r} applies"
            ));
        }
    }
    Ok(chrono::Duration::days(
        recorded
            .or(configured)
            .unwrap_or(didhub_core::assignment::DEFAULT_HOLD_DAYS),
    ))
}

/// Runs a command that needs the database.
pub async fn command(store: &Store, cmd: Cmd, hold_days: Option<i64>) -> Result<()> {
    let actor = Actor::cli();
    match cmd {
        Cmd::Users { cmd } => accounts::users(store, &actor, cmd).await,
        Cmd::Token { cmd } => accounts::token(store, &actor, cmd).await,
        Cmd::Partners { cmd } => accounts::partners(store, &actor, cmd).await,
        Cmd::Customers { cmd } => accounts::customers(store, &actor, cmd).await,
        Cmd::Pbxs { cmd } => accounts::pbxs(store, &actor, cmd).await,
        Cmd::ServiceKinds { cmd } => accounts::service_kinds(store, &actor, cmd).await,
        Cmd::Packages { cmd } => assignment::packages(store, &actor, cmd).await,
        Cmd::ClientPackages { cmd } => {
            let hold = hold_period(store, hold_days).await?;
            assignment::client_packages(store, &actor, cmd, hold).await
        }
        Cmd::Route { number } => assignment::route(store, &number).await,
        Cmd::Import(a) => inventory::import(store, &actor, a).await,
        Cmd::Export { filter, output } => inventory::export(store, filter, output).await,
        Cmd::Operators { cmd } => inventory::operators(store, &actor, cmd).await,
        Cmd::Documents { cmd } => documents::documents(store, &actor, cmd).await,
        Cmd::Dids { cmd } => inventory::dids(store, &actor, cmd).await,
        Cmd::Audit {
            subject,
            action,
            limit,
        } => inventory::audit(store, subject, action, limit).await,
        Cmd::Serve { .. }
        | Cmd::Migrate
        | Cmd::Numbers { .. }
        | Cmd::License { .. }
        | Cmd::Catalog { .. }
        | Cmd::Orders { .. }
        | Cmd::Ids { .. }
        | Cmd::Calendar { .. }
        | Cmd::Sla { .. }
        | Cmd::Mail { .. }
        | Cmd::Outbox { .. }
        | Cmd::Tickets { .. }
        | Cmd::Support { .. }
        | Cmd::Secrets { .. } => {
            unreachable!("handled before opening the store")
        }
    }
}

/// A date flag's value (`YYYY-MM-DD`); the error names the flag.
pub fn date_arg(flag: &str, v: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
        .map_err(|e| anyhow::anyhow!("{flag} '{v}' is not a date YYYY-MM-DD: {e}"))
}

/// One JSON document on its own line.
pub fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    crate::show::json(v)
}
