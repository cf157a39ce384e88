//! `didhub calendar`: working days by country, and the days operators close.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Subcommand;
use didhub_core::calendar::{check_covered, Calendar, MAX_DAYS};
use didhub_store::{Actor, Store, StoreConfig};

use crate::show;

#[derive(Subcommand)]
pub enum CalendarCmd {
    /// Print the Nth working day after a date in a country: weekends, national holidays and
    /// the closures added with `calendar closures add` do not count.
    AddWorkingDays {
        /// Country (ISO 3166 alpha-2).
        #[arg(long)]
        country: String,
        /// The day counted from (YYYY-MM-DD); it never counts itself.
        #[arg(long)]
        from: String,
        /// Working days to add, 0 to 3650 (0: the day itself if it is a working day, else the
        /// next working day).
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_DAYS)))]
        days: u32,
        /// Print `{"date":"YYYY-MM-DD"}` instead of the bare date.
        #[arg(long)]
        json: bool,
    },
    /// Days closed on top of a country's weekend and national holidays.
    Closures {
        #[command(subcommand)]
        cmd: ClosuresCmd,
    },
}

#[derive(Subcommand)]
pub enum ClosuresCmd {
    /// List closures by country and date.
    List {
        /// Only this country's (ISO 3166 alpha-2).
        #[arg(long)]
        country: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Close a day in a country's calendar.
    Add {
        /// Country (ISO 3166 alpha-2).
        #[arg(long)]
        country: String,
        /// The day closed (YYYY-MM-DD).
        #[arg(long)]
        date: String,
        /// Why it is closed (kept with the closure).
        #[arg(long)]
        reason: String,
    },
    /// Open a closed day again.
    Delete {
        /// Country (ISO 3166 alpha-2).
        #[arg(long)]
        country: String,
        /// The closed day (YYYY-MM-DD).
        #[arg(long)]
        date: String,
        /// Why it opens again (for the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Runs a `calendar` command. Its input is checked before the database is opened.
pub async fn calendar(cfg: &StoreConfig, cmd: CalendarCmd) -> Result<()> {
    match cmd {
        CalendarCmd::AddWorkingDays {
            country,
            from,
            days,
            json,
        } => {
            Calendar::for_country(&country).context("--country")?;
            let from = super::date_arg("--from", &from)?;
            check_covered(from).context("--from")?;
            let store = open(cfg).await?;
            let r = add_working_days(&store, &country, from, days, json).await;
            store.close().await;
            r
        }
        CalendarCmd::Closures { cmd } => {
            let store = open(cfg).await?;
            let r = closures(&store, &Actor::cli(), cmd).await;
            store.close().await;
            r
        }
    }
}

async fn open(cfg: &StoreConfig) -> Result<Store> {
    Store::open(cfg).await.context("opening the database")
}

async fn add_working_days(
    store: &Store,
    country: &str,
    from: NaiveDate,
    days: u32,
    json: bool,
) -> Result<()> {
    let cal = store.calendar().calendar(country).await?;
    let d = cal.add_working_days(from, days)?;
    if json {
        show::json_line(&serde_json::json!({ "date": d }))
    } else {
        Ok(show::line(d)?)
    }
}

async fn closures(store: &Store, actor: &Actor, cmd: ClosuresCmd) -> Result<()> {
    let cal = store.calendar();
    match cmd {
        ClosuresCmd::List { country, json } => {
            let list = cal.list_closures(country.as_deref()).await?;
            if !json {
                show::header(&["COUNTRY", "DATE", "REASON", "CREATED_BY"])?;
            }
            for c in list {
                if json {
                    show::json_line(&c)?;
                } else {
                    show::row(&[&c.country, &c.date, &c.reason, &c.created_by])?;
                }
            }
            Ok(())
        }
        ClosuresCmd::Add {
            country,
            date: d,
            reason,
        } => {
            let d = super::date_arg("--date", &d)?;
            let c = cal.add_closure(actor, &country, d, &reason).await?;
            show::row(&[&c.country, &c.date, &c.reason])?;
            Ok(())
        }
        ClosuresCmd::Delete {
            country,
            date: d,
            reason,
        } => {
            let d = super::date_arg("--date", &d)?;
            cal.delete_closure(actor, &country, d, reason.as_deref())
                .await?;
            Ok(())
        }
    }
}
