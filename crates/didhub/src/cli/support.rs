//! `didhub sla`: the support desk's service levels.

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use didhub_core::sla::{zone, SupportHours, TicketClass};

use crate::show;

#[derive(Subcommand)]
pub enum SlaCmd {
    /// Print a ticket's first-response deadline, in UTC. Support hours are Monday to Friday,
    /// 09:00 to 18:00 on the wall clock of --tz, except the --holiday dates.
    Due {
        /// critical (30 minutes of support time) or standard (the close of the support day).
        #[arg(long)]
        class: String,
        /// When the ticket was created (RFC 3339, e.g. 2026-12-04T16:50:00Z).
        #[arg(long)]
        created: String,
        /// IANA time zone of the support hours, e.g. Europe/Rome.
        #[arg(long)]
        tz: String,
        /// A day support is closed (YYYY-MM-DD, local to --tz); repeat the flag for more.
        #[arg(long = "holiday")]
        holidays: Vec<String>,
        /// Print `{"due":"…"}` instead of the bare time.
        #[arg(long)]
        json: bool,
    },
}

/// `didhub sla`: needs no database.
pub fn sla(cmd: SlaCmd) -> Result<()> {
    let SlaCmd::Due {
        class,
        created,
        tz,
        holidays,
        json,
    } = cmd;
    let class: TicketClass = class.parse().context("--class")?;
    let created = DateTime::parse_from_rfc3339(created.trim())
        .with_context(|| format!("--created '{created}' is not an RFC 3339 time"))?
        .with_timezone(&Utc);
    let tz = zone(&tz).context("--tz")?;
    let closed = holidays
        .iter()
        .map(|h| super::date_arg("--holiday", h))
        .collect::<Result<Vec<_>>>()?;
    let due = SupportHours::new(tz, closed).first_response_due(class, created)?;
    // To the second, as the contract writes it (a fraction of the creation time is dropped).
    let due = due.to_rfc3339_opts(SecondsFormat::Secs, true);
    if json {
        show::json_line(&serde_json::json!({ "due": due }))
    } else {
        Ok(show::line(due)?)
    }
}
