//! `didhub mail` and `didhub outbox`: the mail outbox from the command line: send what is due
//! once (as the server's worker does), queue test mails, list the outbox, queue failed mails
//! again.

use anyhow::{bail, Context, Result};
use chrono::{SecondsFormat, SubsecRound, Utc};
use clap::Subcommand;
use didhub_core::mail::{MailState, MailTemplate, TestMail};
use didhub_server::jobs::outbox::Outbox;
use didhub_store::Actor;

use crate::config::Ctx;
use crate::show;

#[derive(Subcommand)]
pub enum MailCmd {
    /// Send every mail that is due now, once, as the server's worker does, and exit: over
    /// SMTP when smtp_url is set, else as .eml files in DATA_DIR/outbox.
    SendPending {
        /// Print {"sent","retrying","failed","released"} instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Queue a test mail to check the mail path end to end (the server's worker, or
    /// `mail send-pending`, sends it). Prints each mail's Message-ID.
    Test {
        /// Recipient; repeat the flag for more.
        #[arg(long = "to", required = true)]
        to: Vec<String>,
        /// How many mails to queue (each its own transaction).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        count: u32,
    },
    /// Take one mail as delivered (raw RFC 5322) from standard input or a file: appended to
    /// the ticket it references when its sender is a contact; prints what became of it.
    Ingest {
        /// The message file (default: standard input).
        file: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum OutboxCmd {
    /// The outbox, newest first: created, state, attempts, Message-ID, recipients, subject,
    /// next attempt, last error.
    List {
        /// Only mails in this state: pending, sent or failed.
        #[arg(long)]
        state: Option<String>,
        /// The newest mails shown, 1 to 1000.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// One JSON object per line (every field, the body included).
        #[arg(long)]
        json: bool,
    },
    /// Queue failed mails again, their attempts counted afresh: one by --message-id, or
    /// every failed mail with --all-failed.
    Retry {
        /// The Message-ID of a failed mail.
        #[arg(long, conflicts_with = "all_failed")]
        message_id: Option<String>,
        /// Every failed mail.
        #[arg(long)]
        all_failed: bool,
    },
}

pub async fn mail(ctx: &Ctx, cmd: MailCmd) -> Result<()> {
    let store = ctx.open_store().await?;
    let r = match cmd {
        MailCmd::SendPending { json } => {
            let outbox = Outbox::new(store.clone(), ctx.outbox.clone())?;
            let d = outbox.drain().await.context("sending mail")?;
            if json {
                show::json_line(&d)
            } else {
                let mut line = format!(
                    "{} sent ({}), {} to retry, {} failed",
                    show::count(d.sent as i64, "mail"),
                    ctx.outbox.delivery,
                    d.retrying,
                    d.failed
                );
                if d.released > 0 {
                    line.push_str(&format!(", {} left for later", d.released));
                }
                Ok(show::line(line)?)
            }
        }
        MailCmd::Test { to, count } => {
            let actor = Actor::cli();
            for _ in 0..count {
                let mail = store.mail().compose(
                    &MailTemplate::Test(TestMail {
                        requested_by: actor.as_str().to_string(),
                        at: Utc::now().trunc_subsecs(0),
                    }),
                    &to,
                    None,
                )?;
                let q = store.mail().enqueue_one(&mail).await?;
                show::line(q.message_id)?;
            }
            Ok(())
        }
        MailCmd::Ingest { file } => super::support::ingest(&store, file).await,
    };
    store.close().await;
    r
}

pub async fn outbox(ctx: &Ctx, cmd: OutboxCmd) -> Result<()> {
    let store = ctx.open_store().await?;
    let r = match cmd {
        OutboxCmd::List { state, limit, json } => {
            let state = state
                .map(|s| s.parse::<MailState>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("--state: {e}"))?;
            let page = store.mail().list(state, limit, None).await?;
            if !json {
                show::header(&[
                    "created",
                    "state",
                    "attempts",
                    "message_id",
                    "to",
                    "subject",
                    "next_attempt",
                    "last_error",
                ])?;
            }
            for m in page.items {
                if json {
                    show::json_line(&m)?;
                    continue;
                }
                let time = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
                let next = match m.state {
                    MailState::Pending => time(m.next_attempt_at),
                    _ => String::new(),
                };
                show::row(&[
                    &time(m.created_at),
                    &m.state,
                    &m.attempts,
                    &m.message_id,
                    &m.to.join(", "),
                    &m.subject,
                    &next,
                    &m.last_error.unwrap_or_default(),
                ])?;
            }
            Ok(())
        }
        OutboxCmd::Retry {
            message_id,
            all_failed,
        } => {
            if message_id.is_none() && !all_failed {
                bail!("name a mail with --message-id, or give --all-failed");
            }
            let n = store
                .mail()
                .retry_failed(&Actor::cli(), message_id.as_deref())
                .await?;
            Ok(show::line(format!(
                "{} queued again",
                show::count(n as i64, "mail")
            ))?)
        }
    };
    store.close().await;
    r
}
