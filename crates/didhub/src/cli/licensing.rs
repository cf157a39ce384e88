//! `didhub license`: PBX licenses and co-terminated services.

use anyhow::{Context, Result};
use clap::Subcommand;
use didhub_core::licensing::{quote, TermKind};

#[derive(Subcommand)]
pub enum LicenseCmd {
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
        /// Print the quote as JSON.
        #[arg(long)]
        json: bool,
    },
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
    let ps = super::date_arg("--period-start", period_start)?;
    let ss = super::date_arg("--service-start", service_start)?;
    let price =
        didhub_core::money::parse_amount(price).with_context(|| format!("--price '{price}'"))?;
    let q = quote(term, ps, ss, price, minor_units)?;
    if json {
        crate::show::json_line(&q)?;
    } else {
        crate::show::line(format!("expires:     {}", q.expires))?;
        crate::show::line(format!("days:        {} of {}", q.days, q.period_days))?;
        crate::show::line(format!("amount:      {}", q.amount))?;
    }
    Ok(())
}

/// `didhub license`: needs no database.
pub fn license(cmd: LicenseCmd) -> Result<()> {
    let LicenseCmd::Quote {
        term,
        period_start,
        service_start,
        price,
        minor_units,
        json,
    } = cmd;
    license_quote(
        &term,
        &period_start,
        &service_start,
        &price,
        minor_units,
        json,
    )
}
