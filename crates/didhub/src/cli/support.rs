//! The support desk on the command line: `didhub sla` (first-response deadlines, no
//! database), `tickets`, `support` (centres), `secrets` (keys and their rotation) and `mail
//! ingest`.

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use didhub_core::secret::{Keyring, SecretError, SecretKey};
use didhub_core::sla::{zone, SupportHours, TicketClass};
use didhub_core::ticket::TicketState;
use didhub_store::accounts::orgs::Scope;
use didhub_store::support::sla::TicketSummary;
use didhub_store::support::tickets::TicketFilter;
use didhub_store::{Actor, Store, StoreConfig};

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

#[derive(Subcommand)]
pub enum TicketsCmd {
    /// List tickets, newest first; or the desk's lists (--at-risk, --breached).
    List {
        /// Only tickets in this state: open, pending, solved, closed.
        #[arg(long)]
        state: Option<String>,
        /// Unanswered tickets near their deadline (critical within 15 min, standard 2 h).
        #[arg(long, conflicts_with_all = ["breached", "state"])]
        at_risk: bool,
        /// Unanswered tickets past their deadline.
        #[arg(long, conflicts_with = "state")]
        breached: bool,
        /// The most tickets shown, 1 to 1000.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a ticket by number, with its conversation (internal notes included).
    Show {
        /// The ticket's number (`42` or `#42`).
        number: String,
    },
}

#[derive(Subcommand)]
pub enum SupportCmd {
    /// The support centres: zone and calendar country of each.
    Centres,
    /// Move a partner to another support centre (its new tickets run on that centre's hours).
    SetCentre {
        /// The partner's name.
        #[arg(long)]
        partner: String,
        /// The centre's code: europe, americas, …
        #[arg(long)]
        centre: String,
    },
}

#[derive(Subcommand)]
pub enum SecretsCmd {
    /// Print a new random secret key (64 hex digits) for DIDHUB_SECRET_KEY.
    NewKey,
    /// Seal every stored secret under the current key (DIDHUB_SECRET_KEY), opening those
    /// sealed under an older one with the old keys given (DIDHUB_SECRET_OLD_KEYS).
    Rotate,
}

async fn open(cfg: &StoreConfig) -> Result<Store> {
    Store::open(cfg).await.context("opening the database")
}

/// Runs `f` on an open store, closing it after.
async fn with_store<F, Fut>(cfg: &StoreConfig, f: F) -> Result<()>
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let store = open(cfg).await?;
    let r = f(store.clone()).await;
    store.close().await;
    r
}

fn ticket_row(t: &TicketSummary) -> std::io::Result<()> {
    show::row(&[
        &format!("#{}", t.number),
        &t.state,
        &t.class,
        &t.sla,
        &t.first_response_due
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        &t.centre,
        &t.subject,
    ])
}

/// `didhub tickets`.
pub async fn tickets(cfg: &StoreConfig, cmd: TicketsCmd) -> Result<()> {
    match cmd {
        TicketsCmd::List {
            state,
            at_risk,
            breached,
            limit,
            json,
        } => {
            let state: Option<TicketState> = state
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("--state")?;
            with_store(cfg, |store| async move {
                let desk = store.support();
                // The service-level lists give summaries; the plain list whole tickets.
                let (summaries, whole) = if at_risk {
                    (desk.at_risk(Utc::now()).await?, None)
                } else if breached {
                    (desk.breached(Utc::now(), None, limit).await?.items, None)
                } else {
                    let f = TicketFilter {
                        state,
                        ..TicketFilter::default()
                    };
                    let items = desk.list_tickets(Scope::All, &f, None, limit).await?.items;
                    (items.iter().map(TicketSummary::from).collect(), Some(items))
                };
                if json {
                    match &whole {
                        Some(items) => items.iter().try_for_each(show::json_line)?,
                        None => summaries.iter().try_for_each(show::json_line)?,
                    }
                    return Ok(());
                }
                show::header(&[
                    "TICKET", "STATE", "CLASS", "SLA", "DUE", "CENTRE", "SUBJECT",
                ])?;
                for t in summaries.iter().take(limit as usize) {
                    ticket_row(t)?;
                }
                Ok(())
            })
            .await
        }
        TicketsCmd::Show { number } => {
            let n: i64 = number
                .trim()
                .trim_start_matches('#')
                .parse()
                .map_err(|_| anyhow::anyhow!("'{number}' is not a ticket number"))?;
            with_store(cfg, |store| async move {
                let desk = store.support();
                let id = desk.ticket_id(Scope::All, n).await?;
                let t = desk.get_ticket(Scope::All, id).await?;
                let messages = desk.list_messages(Scope::All, id, true).await?;
                show::json(&serde_json::json!({"ticket": t, "messages": messages}))
            })
            .await
        }
    }
}

/// `didhub support`.
pub async fn support(cfg: &StoreConfig, cmd: SupportCmd) -> Result<()> {
    with_store(cfg, |store| async move {
        let desk = store.support();
        match cmd {
            SupportCmd::Centres => {
                show::header(&["CENTRE", "NAME", "TIME_ZONE", "COUNTRY"])?;
                for c in desk.list_centres().await? {
                    show::row(&[&c.code, &c.name, &c.time_zone, &c.country])?;
                }
            }
            SupportCmd::SetCentre { partner, centre } => {
                let p = store.accounts().find_partner(&partner).await?;
                let c = desk
                    .set_partner_centre(&Actor::cli(), p.id, &centre)
                    .await?;
                show::row(&[&p.name, &c.code, &c.time_zone])?;
            }
        }
        Ok(())
    })
    .await
}

/// `didhub secrets`.
pub async fn secrets(cfg: &StoreConfig, keys: &Keyring, cmd: SecretsCmd) -> Result<()> {
    match cmd {
        SecretsCmd::NewKey => Ok(show::line(SecretKey::generate())?),
        SecretsCmd::Rotate => {
            if keys.current_id().is_none() {
                return Err(SecretError::NoKey.into());
            }
            with_store(cfg, |store| async move {
                let r = store.support().rotate_secrets(&Actor::cli(), keys).await?;
                show::line(format!(
                    "{} sealed again under key {}, {} already under it",
                    show::count(r.rotated, "secret"),
                    keys.current_id().unwrap_or_default(),
                    r.current
                ))?;
                for (n, why) in &r.failed {
                    show::error_line(format!("ticket #{n}: {why}"));
                }
                if r.failed.is_empty() {
                    Ok(())
                } else {
                    anyhow::bail!(
                        "{} could not be opened: give the keys they were sealed under in \
                         DIDHUB_SECRET_OLD_KEYS",
                        show::count(r.failed.len(), "secret")
                    )
                }
            })
            .await
        }
    }
}

/// `didhub mail ingest`: one mail (raw RFC 5322) from `file` or standard input, on `store`.
pub async fn ingest(store: &Store, file: Option<std::path::PathBuf>) -> Result<()> {
    let raw = match &file {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
                .context("reading the message from standard input")?;
            b
        }
    };
    let r = store.support().ingest_mail(&Actor::cli(), &raw).await?;
    show::json_line(&r)
}
