//! Mail follows up on tickets, and only that. A message as delivered (raw RFC 5322) is read
//! with `mail-parser` and kept whole; it is appended to the ticket it references (a `[#N]`
//! subject tag, or an In-Reply-To / References naming a mail of that ticket) when the sender
//! is a contact of the ticket (a user of its partner, or its contact e-mail). A mail that
//! references no ticket opens none; a mail to a closed ticket is answered as a reply to a
//! closed ticket is; both are answered by mail (`mails`) unless the mail was sent
//! automatically. An unknown sender's mail is appended nowhere and not answered. Every mail is
//! recorded once (by its Message-ID, or its content when it has none): delivered twice, it
//! counts once.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use didhub_core::mail::{MailRef, RefKind};
use didhub_core::ticket::{self, MessageVisibility, Side, TicketChannel, TicketState};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::messages::NewMessage;
use super::Author;
use crate::accounts::orgs::Scope;
use crate::db::sql::{bind_all, decode_cursor, encode_cursor, on_tx, Param, Sql};
use crate::{new_id, now, on, retry, Actor, Page, Result, StoreError, Support};

/// The longest body appended to a ticket (the message itself is kept whole with the mail).
pub const MAX_MAIL_BODY: usize = 200_000;

/// What became of a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboundOutcome {
    /// Added to the ticket's conversation.
    Appended,
    /// It names no ticket: nothing opened; the sender is told tickets are opened in the
    /// portal.
    NoReference,
    /// The ticket is closed: the sender is told to open a new case referencing it.
    Closed,
    /// The sender is not a contact of the ticket: nothing appended.
    UnknownSender,
}

impl InboundOutcome {
    fn as_str(&self) -> &'static str {
        match self {
            InboundOutcome::Appended => "appended",
            InboundOutcome::NoReference => "no_reference",
            InboundOutcome::Closed => "closed",
            InboundOutcome::UnknownSender => "unknown_sender",
        }
    }

    fn parse(s: &str) -> InboundOutcome {
        match s {
            "appended" => InboundOutcome::Appended,
            "closed" => InboundOutcome::Closed,
            "unknown_sender" => InboundOutcome::UnknownSender,
            _ => InboundOutcome::NoReference,
        }
    }
}

/// A mail received, as support lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboundMail {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub outcome: InboundOutcome,
    /// The ticket it named (`#N`), if any.
    pub ticket_number: Option<i64>,
    /// True when the same mail had been received before (nothing done again).
    pub duplicate: bool,
    /// What the automatic answer to the sender says (no reference, closed ticket).
    pub answer: Option<String>,
}

/// A mail as read.
#[derive(Debug, Clone, Default)]
pub struct ParsedMail {
    /// The Message-ID without brackets, or `sha256:<hex>` of the message without one.
    pub key: String,
    pub message_id: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    /// In-Reply-To and References, without brackets.
    pub references: Vec<String>,
    /// Sent by a program, not a person (`Auto-Submitted` other than `no`, `Precedence` bulk,
    /// junk or list): never answered automatically, so two responders cannot loop.
    pub automatic: bool,
    pub attachments: Vec<Attachment>,
}

/// A file that came with a mail.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Text as stored text is: line ends as `\n`, no control or bidirectional characters.
fn clean(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .filter(|c| {
            (!c.is_control() || *c == '\n' || *c == '\t') && !didhub_core::did::is_bidi_control(*c)
        })
        .collect()
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Reads a raw message. Never fails: what cannot be read as MIME is kept as text.
pub fn parse(raw: &[u8]) -> ParsedMail {
    let digest = || format!("sha256:{}", hex::encode(Sha256::digest(raw)));
    let Some(m) = MessageParser::default().parse(raw) else {
        return ParsedMail {
            key: digest(),
            body: clean(&String::from_utf8_lossy(raw)),
            ..ParsedMail::default()
        };
    };
    let message_id = m
        .message_id()
        .map(|s| clean(s.trim()))
        .filter(|s| !s.is_empty() && s.len() <= 500);
    let sender = m
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .and_then(|a| didhub_core::access::email(a).ok());
    let mut references = ids(m.in_reply_to());
    references.extend(ids(m.references()));
    // Looked up as text: what no Message-ID can be is dropped (a NUL would be a database error).
    references.retain(|r| r.len() <= 500 && !r.chars().any(char::is_control));
    let mut body: Vec<Cow<'_, str>> = (0..m.text_body_count())
        .filter_map(|i| m.body_text(i))
        .collect();
    if body.is_empty() {
        // A message without a text part (or one the parser could not split): its whole
        // text, so that nothing said is lost.
        let raw_text = String::from_utf8_lossy(raw);
        let text = raw_text
            .split_once("\r\n\r\n")
            .or_else(|| raw_text.split_once("\n\n"))
            .map_or(raw_text.to_string(), |(_, b)| b.to_string());
        body.push(Cow::Owned(text));
    }
    let attachments = m
        .attachments()
        .enumerate()
        .map(|(i, a)| Attachment {
            name: a
                .attachment_name()
                .map(clean)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| format!("attachment-{}", i + 1)),
            content_type: a
                .content_type()
                .map(|c| match c.subtype() {
                    Some(s) => format!("{}/{s}", c.ctype()),
                    None => c.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes: a.contents().to_vec(),
        })
        .collect();
    let header = |name: &str| m.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    let automatic = header("Auto-Submitted").is_some_and(|v| !v.starts_with("no"))
        || header("Precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "junk" | "list"));
    ParsedMail {
        automatic,
        key: message_id.clone().unwrap_or_else(digest),
        message_id,
        sender,
        subject: m.subject().map(|s| clean(s.trim())),
        body: clean(body.join("\n\n").trim()),
        references,
        attachments,
    }
}

/// What the automatic answer to a mail that names no ticket says.
pub const NO_TICKET_ANSWER: &str = "Mail only follows up on an existing ticket: no ticket was \
    opened. Please open a ticket in the portal; to add to a ticket by mail, reply to a mail \
    about it and keep its [#N] tag in the subject.";

/// The body appended to the ticket: the text, and what came attached.
fn appended_body(m: &ParsedMail) -> String {
    let mut body: String = m.body.chars().take(MAX_MAIL_BODY).collect();
    if body.is_empty() {
        body = "(no text)".into();
    }
    if m.body.chars().count() > MAX_MAIL_BODY {
        body.push_str("\n\n(cut here: the whole message is kept with the mail received)");
    }
    for a in &m.attachments {
        body.push_str(&format!(
            "\n[attached: {} ({}, {} bytes)]",
            a.name,
            a.content_type,
            a.bytes.len()
        ));
    }
    body
}

impl Support<'_> {
    /// Takes a mail as delivered (see the module's text). `actor` is who delivered it (the
    /// gateway's token, the command line).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn ingest_mail(&self, actor: &Actor, raw: &[u8]) -> Result<InboundMail> {
        if raw.is_empty() {
            return Err(StoreError::invalid("body", "an empty message"));
        }
        let m = parse(raw);
        if let Some(seen) = self.inbound_by_key(&m.key).await? {
            return Ok(seen);
        }
        let ticket = self.referenced_ticket(&m).await?;
        retry(|| async {
            let mut tx = self.begin().await?;
            let (outcome, row) = match &ticket {
                None => (InboundOutcome::NoReference, None),
                Some(id) => {
                    let row = self.ticket_row(Scope::All, *id).await?;
                    let contact = match &m.sender {
                        Some(s) => self.is_contact(&row, s).await?,
                        None => false,
                    };
                    let outcome = if !contact {
                        InboundOutcome::UnknownSender
                    } else if row.state() == TicketState::Closed {
                        InboundOutcome::Closed
                    } else {
                        InboundOutcome::Appended
                    };
                    (outcome, Some(row))
                }
            };
            let mut message = None;
            if let (InboundOutcome::Appended, Some(row), Some(sender)) = (outcome, &row, &m.sender)
            {
                let author = Author {
                    name: sender.clone(),
                    side: Side::Partner,
                };
                let by = Actor(format!("mail:{sender} (via {})", actor.as_str()));
                let body = appended_body(&m);
                let new = NewMessage {
                    body: &body,
                    visibility: MessageVisibility::Public,
                    channel: TicketChannel::Email,
                    state: None,
                    mail_message_id: m.message_id.as_deref(),
                };
                message = Some(self.append(&mut tx, &by, &author, row, &body, &new).await?);
            }
            let inserted = on_tx!(&mut tx, |c| {
                sqlx::query(
                "INSERT INTO support_inbound (id, mail_key, received_at, sender, subject, outcome, \
                 ticket_id, message_id, raw) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) \
                 ON CONFLICT (mail_key) DO NOTHING"
            )
            .bind(new_id())
            .bind(&m.key)
            .bind(now())
            .bind(&m.sender)
            .bind(&m.subject)
            .bind(outcome.as_str())
            .bind(row.as_ref().map(|r| r.id))
            .bind(message)
            .bind(raw)
            .execute(&mut *c)
            .await?
            .rows_affected()
            });
            if inserted == 0 {
                // Delivered twice at once: the other delivery's record stands.
                drop(tx);
                return Err(StoreError::Conflict("duplicate".into()));
            }
            let answer = match (outcome, &row) {
                (InboundOutcome::NoReference, _) => Some(NO_TICKET_ANSWER.to_string()),
                (InboundOutcome::Closed, Some(r)) => Some(ticket::closed_refusal(r.number)),
                _ => None,
            };
            if let Some(answer) = answer {
                self.queue_answer(&mut tx, &m, &answer).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
        .or_else(|e| match e {
            StoreError::Conflict(d) if d == "duplicate" => Ok(()),
            e => Err(e),
        })?;
        let seen = self.inbound_by_key(&m.key).await?;
        let mut r = seen.ok_or_else(|| StoreError::not_found("mail", &m.key))?;
        r.duplicate = false;
        Ok(r)
    }

    /// The ticket a mail names: its subject's `[#N]`, else a mail of a ticket it answers.
    async fn referenced_ticket(&self, m: &ParsedMail) -> Result<Option<Uuid>> {
        if let Some(n) = m.subject.as_deref().and_then(ticket::subject_tag) {
            match self.ticket_id(Scope::All, n).await {
                Ok(id) => return Ok(Some(id)),
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for r in m.references.iter().rev() {
            // A mail didhub sent about the ticket, then one it received for it.
            if let Some(MailRef {
                kind: RefKind::Ticket,
                id,
            }) = self.mail().find_reference(r).await?
            {
                return Ok(Some(id));
            }
            let id: Option<Uuid> = on!(self, |p| sqlx::query_scalar(
                "SELECT ticket_id FROM ticket_messages WHERE mail_message_id = $1 LIMIT 1"
            )
            .bind(r)
            .fetch_optional(p)
            .await?);
            if id.is_some() {
                return Ok(id);
            }
        }
        Ok(None)
    }

    /// Whether `sender` may write on the ticket: an active user of its partner, or its
    /// contact e-mail.
    async fn is_contact(&self, t: &super::TicketRow, sender: &str) -> Result<bool> {
        if t.contact_email
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(sender))
        {
            return Ok(true);
        }
        let n: i64 = on!(self, |p| sqlx::query_scalar(
            "SELECT count(*) FROM users WHERE partner_id = $1 AND lower(email) = lower($2) \
             AND disabled_at IS NULL"
        )
        .bind(t.partner_id)
        .bind(sender)
        .fetch_one(p)
        .await?);
        Ok(n > 0)
    }

    async fn inbound_by_key(&self, key: &str) -> Result<Option<InboundMail>> {
        let mut sql = Sql::new(INBOUND_SELECT);
        sql.push(" WHERE i.mail_key = ")
            .bind(Param::Text(key.into()));
        let r: Option<InboundRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_optional(p)
            .await?);
        Ok(r.map(|r| {
            let mut m = InboundMail::from(r);
            m.duplicate = true;
            m
        }))
    }

    /// Mails received, newest first.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_inbound(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<InboundMail>> {
        let mut sql = Sql::new(INBOUND_SELECT);
        if let Some(c) = cursor {
            let id: Uuid = decode_cursor(c)?
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    StoreError::invalid("cursor", "not a cursor returned by this API")
                })?;
            sql.push(" WHERE i.id < ").bind(Param::Uuid(id));
        }
        let limit = limit.clamp(1, 1000);
        sql.push(&format!(" ORDER BY i.id DESC LIMIT {}", limit + 1));
        let rows: Vec<InboundRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(p)
            .await?);
        let mut items: Vec<InboundMail> = rows.into_iter().map(InboundMail::from).collect();
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items
                .last()
                .map(|m| encode_cursor(&serde_json::json!(m.id)))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

const INBOUND_SELECT: &str = "SELECT i.id, i.received_at, i.sender, i.subject, i.outcome, \
    t.ref AS ticket_number FROM support_inbound i LEFT JOIN tickets t ON t.id = i.ticket_id";

#[derive(sqlx::FromRow)]
struct InboundRow {
    id: Uuid,
    received_at: DateTime<Utc>,
    sender: Option<String>,
    subject: Option<String>,
    outcome: String,
    ticket_number: Option<i64>,
}

impl From<InboundRow> for InboundMail {
    fn from(r: InboundRow) -> Self {
        let outcome = InboundOutcome::parse(&r.outcome);
        let answer = match (outcome, r.ticket_number) {
            (InboundOutcome::NoReference, _) => Some(NO_TICKET_ANSWER.to_string()),
            (InboundOutcome::Closed, Some(n)) => Some(ticket::closed_refusal(n)),
            _ => None,
        };
        InboundMail {
            id: r.id,
            received_at: r.received_at,
            sender: r.sender,
            subject: r.subject,
            outcome,
            ticket_number: r.ticket_number,
            duplicate: false,
            answer,
        }
    }
}
