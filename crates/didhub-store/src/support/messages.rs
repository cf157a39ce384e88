//! A ticket's conversation: public messages and internal notes (support staff only). The
//! first public reply by support staff records the first response, which meets or misses the
//! deadline; a partner's answer opens a pending or solved ticket again; a closed ticket takes
//! no message at all (409, saying to open a new case referencing it).

use chrono::{DateTime, Utc};
use didhub_core::ticket::{
    after_reply, required, FieldErrors, MessageVisibility, Side, TicketChannel, TicketState,
    MAX_MESSAGE,
};
use serde::Serialize;
use uuid::Uuid;

use super::mails::{Audience, MailTicket, Told};
use super::ticket_changes::{change_state_with, refuse_closed};
use super::{fields, side, Author, TicketRow};
use crate::accounts::orgs::Scope;
use crate::db::sql::{on_tx, Tx};
use crate::db::versioned::col;
use crate::{new_id, now, on, retry, Actor, Result, StoreError, Support};

/// One message of a ticket's conversation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketMessage {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Who wrote it (an e-mail address).
    pub author: String,
    pub side: Side,
    pub visibility: MessageVisibility,
    pub channel: TicketChannel,
    pub body: String,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    at: DateTime<Utc>,
    author: String,
    side: String,
    visibility: String,
    channel: String,
    body: String,
}

impl From<MessageRow> for TicketMessage {
    fn from(r: MessageRow) -> Self {
        TicketMessage {
            id: r.id,
            at: r.at,
            author: r.author,
            side: side(&r.side),
            visibility: r.visibility.parse().unwrap_or(MessageVisibility::Internal),
            channel: r.channel.parse().unwrap_or(TicketChannel::Portal),
            body: r.body,
        }
    }
}

/// A message to add.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub body: &'a str,
    pub visibility: MessageVisibility,
    pub channel: TicketChannel,
    /// Support staff: the state the reply leaves the ticket in (`pending`: waiting on the
    /// partner, `solved`, `closed`).
    pub state: Option<TicketState>,
    /// The Message-ID of the mail it came in.
    pub mail_message_id: Option<&'a str>,
}

/// Writes one message in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_message(
    tx: &mut Tx,
    ticket_id: Uuid,
    author: &Author,
    visibility: MessageVisibility,
    channel: TicketChannel,
    body: &str,
    mail_message_id: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Uuid> {
    let id = new_id();
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO ticket_messages (id, ticket_id, at, author, side, visibility, channel, body, \
         mail_message_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
    )
    .bind(id)
    .bind(ticket_id)
    .bind(at)
    .bind(&author.name)
    .bind(author.side.as_str())
    .bind(visibility.as_str())
    .bind(channel.as_str())
    .bind(body)
    .bind(mail_message_id)
    .execute(&mut *c)
    .await?
    .rows_affected());
    Ok(id)
}

impl Support<'_> {
    /// Adds a message to a ticket's conversation.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn add_message(
        &self,
        actor: &Actor,
        author: &Author,
        scope: Scope,
        id: Uuid,
        m: &NewMessage<'_>,
    ) -> Result<TicketMessage> {
        let mut errors = FieldErrors::new();
        let body = required(&mut errors, "body", m.body, MAX_MESSAGE);
        let staff = author.side == Side::Staff;
        if !staff && m.visibility == MessageVisibility::Internal {
            errors.push((
                "visibility".into(),
                "internal notes are written by support staff".into(),
            ));
        }
        if !staff && m.state.is_some() {
            errors.push((
                "state".into(),
                "a partner's answer opens the ticket again; close it on its own route".into(),
            ));
        }
        fields(errors)?;
        let message_id = retry(|| async {
            let cur = self.ticket_row(scope, id).await?;
            let mut tx = self.begin().await?;
            let id = self.append(&mut tx, actor, author, &cur, &body, m).await?;
            tx.commit().await?;
            Ok(id)
        })
        .await?;
        self.message(message_id).await
    }

    /// Appends a message to `cur` in the caller's transaction, with what it does to the
    /// ticket (its state, its first response).
    pub(crate) async fn append(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        author: &Author,
        cur: &TicketRow,
        body: &str,
        m: &NewMessage<'_>,
    ) -> Result<Uuid> {
        refuse_closed(cur)?;
        let at = now();
        let public = m.visibility == MessageVisibility::Public;
        let staff = author.side == Side::Staff;
        let from = cur.state();
        let to = match m.state {
            Some(s) => s,
            None if public => after_reply(from, author.side),
            None => from,
        };
        let mut columns = Vec::new();
        if staff && public && cur.first_response_at.is_none() {
            columns.push(col("first_response_at", None::<DateTime<Utc>>, &Some(at)));
        }
        let id = insert_message(
            tx,
            cur.id,
            author,
            m.visibility,
            m.channel,
            body,
            m.mail_message_id,
            at,
        )
        .await?;
        if to != from || !columns.is_empty() {
            change_state_with(tx, actor, cur, None, to, author.side, None, columns).await?;
        }
        // A public message goes to the other side; a partner's mail came from the support
        // mailbox's own inbox, so it is not sent there again.
        let audience = match author.side {
            Side::Staff => Some(Audience::Partner),
            Side::Partner if m.channel != TicketChannel::Email => Some(Audience::Support),
            Side::Partner => None,
        };
        if let (true, Some(to)) = (public, audience) {
            let told = Told::Replied {
                author: &author.name,
                message: body,
            };
            self.queue_ticket_mail(tx, &MailTicket::from(cur), told, to)
                .await?;
        }
        Ok(id)
    }

    async fn message(&self, id: Uuid) -> Result<TicketMessage> {
        let r: Option<MessageRow> = on!(self, |p| sqlx::query_as(
            "SELECT id, at, author, side, visibility, channel, body FROM ticket_messages \
             WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await?);
        r.map(TicketMessage::from)
            .ok_or_else(|| StoreError::not_found("message", id))
    }

    /// The conversation, oldest first; internal notes only for support staff.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_messages(
        &self,
        scope: Scope,
        id: Uuid,
        internal: bool,
    ) -> Result<Vec<TicketMessage>> {
        self.ticket_row(scope, id).await?;
        // Internal notes are filtered in the query, so a partner's answer never holds them.
        let sql = if internal && scope.partner().is_none() {
            "SELECT id, at, author, side, visibility, channel, body FROM ticket_messages \
             WHERE ticket_id = $1 ORDER BY at, id"
        } else {
            "SELECT id, at, author, side, visibility, channel, body FROM ticket_messages \
             WHERE ticket_id = $1 AND visibility = 'public' ORDER BY at, id"
        };
        let rows: Vec<MessageRow> =
            on!(self, |p| sqlx::query_as(sql).bind(id).fetch_all(p).await?);
        Ok(rows.into_iter().map(TicketMessage::from).collect())
    }
}
