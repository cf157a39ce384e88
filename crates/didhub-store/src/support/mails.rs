//! The desk's outgoing mail, queued through the outbox in the transaction of the change it
//! tells of: a new ticket to support; a public reply to the other side (support staff's to
//! the partner's contacts, a partner's to support); the SLA alerts to support (at risk, then
//! breached, each once); and the automatic answer to an inbound mail appended to no ticket.
//! Every mail about a ticket carries its `[#N]` tag and threads under the ticket's earlier
//! mails (In-Reply-To, References), so an answer to any of them finds the ticket again.

use chrono::{DateTime, Utc};
use didhub_core::mail::{
    MailRef, MailTemplate, MessageId, RefKind, TicketAnswerMail, TicketMail, TicketSlaMail,
};
use didhub_core::sla::TicketClass;
use didhub_core::ticket::at_risk_window;
use uuid::Uuid;

use super::TicketRow;
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::mail::{enqueue, partner_contacts, threaded};
use crate::{on, retry, Result, Support};

/// The ticket a mail is about, as the mail names it.
pub(crate) struct MailTicket<'a> {
    pub id: Uuid,
    pub number: i64,
    pub subject: &'a str,
    pub partner_id: Uuid,
    pub contact_email: Option<&'a str>,
}

impl<'a> From<&'a TicketRow> for MailTicket<'a> {
    fn from(t: &'a TicketRow) -> Self {
        MailTicket {
            id: t.id,
            number: t.number,
            subject: &t.subject,
            partner_id: t.partner_id,
            contact_email: t.contact_email.as_deref(),
        }
    }
}

/// Who a ticket mail goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The support desk's mailbox.
    Support,
    /// The ticket's contact and the partner's admins.
    Partner,
}

/// What a ticket mail tells.
pub(crate) enum Told<'a> {
    /// The ticket was opened with this first message.
    Opened { author: &'a str, message: &'a str },
    /// A public message was added.
    Replied { author: &'a str, message: &'a str },
}

async fn partner_name(tx: &mut Tx, partner_id: Uuid) -> Result<String> {
    let name: Option<String> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT name FROM partners WHERE id = $1"
    )
    .bind(partner_id)
    .fetch_optional(&mut *c)
    .await?);
    Ok(name.unwrap_or_else(|| partner_id.to_string()))
}

fn about(id: Uuid) -> Option<MailRef> {
    Some(MailRef {
        kind: RefKind::Ticket,
        id,
    })
}

impl Support<'_> {
    /// Queues the mail of a ticket opened or answered, in the caller's transaction.
    pub(crate) async fn queue_ticket_mail(
        &self,
        tx: &mut Tx,
        t: &MailTicket<'_>,
        told: Told<'_>,
        to: Audience,
    ) -> Result<()> {
        let recipients = match to {
            Audience::Support => vec![self.mail_settings().support().to_string()],
            Audience::Partner => partner_contacts(tx, t.partner_id, t.contact_email).await?,
        };
        if recipients.is_empty() {
            return Ok(());
        }
        let partner = partner_name(tx, t.partner_id).await?;
        let mail = |author: &str, message: &str| TicketMail {
            number: t.number,
            subject: t.subject.to_string(),
            message: message.to_string(),
            partner: partner.clone(),
            author: author.to_string(),
        };
        let template = match told {
            Told::Opened { author, message } => MailTemplate::TicketNew(mail(author, message)),
            Told::Replied { author, message } => MailTemplate::TicketReply(mail(author, message)),
        };
        let mail = self.mail().compose(&template, &recipients, about(t.id))?;
        let mail = threaded(tx, mail).await?;
        enqueue(tx, &mail).await?;
        Ok(())
    }

    /// Queues the automatic answer to an inbound mail that was appended to nothing, in the
    /// caller's transaction: to its sender, as a reply to it. Never to didhub's own
    /// addresses (a loop), and never to a mail that says it was sent automatically.
    pub(crate) async fn queue_answer(
        &self,
        tx: &mut Tx,
        m: &super::inbound::ParsedMail,
        answer: &str,
    ) -> Result<()> {
        let Some(sender) = m.sender.as_deref() else {
            return Ok(());
        };
        let s = self.mail_settings();
        let own = didhub_core::mail::from_address(s.from()).ok();
        if m.automatic
            || sender.eq_ignore_ascii_case(s.support())
            || own.is_some_and(|o| o.eq_ignore_ascii_case(sender))
        {
            return Ok(());
        }
        let template = MailTemplate::TicketAnswer(TicketAnswerMail {
            subject: m.subject.clone().unwrap_or_else(|| "(no subject)".into()),
            answer: answer.to_string(),
        });
        let mut mail = self.mail().compose(&template, &[sender], None)?;
        if let Some(parent) = m
            .message_id
            .as_deref()
            .and_then(|i| MessageId::parse(i).ok())
        {
            mail = mail.in_reply_to(parent, &[]);
        }
        enqueue(tx, &mail).await?;
        Ok(())
    }

    /// Mails support the SLA alerts that are due: each unanswered ticket once when its first
    /// response comes at risk (the windows of `didhub_core::ticket::at_risk_window`) and once
    /// when it is breached (a ticket found already breached gets the breach alone). Each
    /// alert is recorded on the ticket in the transaction that queues it, so that several
    /// servers, or a crash, never mail one twice. Returns how many were queued.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn mail_sla_alerts(&self, now: DateTime<Utc>, limit: u32) -> Result<usize> {
        let (c, s) = (TicketClass::Critical, TicketClass::Standard);
        let mut sql = Sql::new(super::TICKET_SELECT);
        sql.push(" WHERE t.first_response_at IS NULL AND t.state <> 'closed'");
        sql.push(" AND t.first_response_due <= ")
            .bind(Param::Time(now + at_risk_window(c).max(at_risk_window(s))));
        sql.push(" AND ((t.class = 'critical' AND t.first_response_due <= ")
            .bind(Param::Time(now + at_risk_window(c)));
        sql.push(") OR (t.class = 'standard' AND t.first_response_due <= ")
            .bind(Param::Time(now + at_risk_window(s)));
        sql.push(
            ")) AND (t.sla_alert IS NULL OR (t.sla_alert = 'at_risk' AND t.first_response_due <= ",
        )
        .bind(Param::Time(now));
        sql.push(&format!(
            ")) ORDER BY t.first_response_due, t.id LIMIT {}",
            limit.clamp(1, 1000)
        ));
        let rows: Vec<TicketRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(p)
            .await?);
        let mut queued = 0;
        for t in &rows {
            if self.alert_one(t, now).await? {
                queued += 1;
            }
        }
        Ok(queued)
    }

    async fn alert_one(&self, t: &TicketRow, now: DateTime<Utc>) -> Result<bool> {
        let breached = t.first_response_due <= now;
        let kind = if breached { "breached" } else { "at_risk" };
        retry(|| async {
            let mut tx = self.begin().await?;
            // The claim: only the first to move the ticket's alert on mails it.
            let moved = on_tx!(&mut tx, |c| {
                sqlx::query(
                "UPDATE tickets SET sla_alert = $2 WHERE id = $1 AND first_response_at IS NULL \
                 AND (sla_alert IS NULL OR (sla_alert = 'at_risk' AND $2 = 'breached'))"
            )
            .bind(t.id)
            .bind(kind)
            .execute(&mut *c)
            .await?
            .rows_affected()
            });
            if moved == 0 {
                return Ok(false);
            }
            let partner = partner_name(&mut tx, t.partner_id).await?;
            let template = MailTemplate::TicketSla(TicketSlaMail {
                number: t.number,
                subject: t.subject.clone(),
                partner,
                class: t.class.clone(),
                due: t.first_response_due,
                breached,
            });
            let support = [self.mail_settings().support()];
            let mail = self.mail().compose(&template, &support, about(t.id))?;
            let mail = threaded(&mut tx, mail).await?;
            enqueue(&mut tx, &mail).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }
}
