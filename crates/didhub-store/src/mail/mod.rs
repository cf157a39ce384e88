//! The mail outbox: mails written in the transaction of the change they tell of (the mail
//! exists if and only if the change committed), sent by a worker (`didhub-server`'s
//! `jobs/outbox.rs`) that claims them, records each one sent as soon as the SMTP server
//! accepted it, and retries the others with backoff until the last attempt allowed.
//!
//! Another room mails inside its own transaction:
//!
//! ```text
//! let mail = self.mail().compose(&MailTemplate::OrderStatus(…), &[contact, partner], about)?;
//! crate::mail::enqueue(&mut tx, &mail).await?;
//! ```

use std::sync::Arc;

use chrono::{DateTime, Utc};
use didhub_core::mail::{
    self as rules, MailError, MailRef, MailState, MailTemplate, MessageId, NewMail, RefKind,
    Templates,
};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::db::sql::{bind_all, decode_cursor, encode_cursor, on_tx, Param, Sql, Tx};
use crate::{new_id, now, on, retry, Page, Result, StoreError};

pub mod worker;

pub use worker::{Attempted, Claim};

crate::handle!(
    /// The mail outbox: composing, queueing, the worker's claims, lists.
    Mail,
    mail
);

/// What composing a mail needs: its sender, the domain of its Message-ID, the templates, and
/// the support desk's mailbox (where new tickets, partners' replies and SLA alerts go).
#[derive(Clone, Debug)]
pub struct MailSettings {
    from: String,
    domain: String,
    templates: Option<Arc<Templates>>,
    support: String,
}

/// The sender when none is configured.
pub const DEFAULT_FROM: &str = "didhub@localhost";

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            from: DEFAULT_FROM.into(),
            domain: "localhost".into(),
            templates: None,
            support: DEFAULT_FROM.into(),
        }
    }
}

impl MailSettings {
    /// `from` (`Name <address>` or `address`); the Message-IDs' domain, by default the host
    /// part of the From address; templates replacing the built-in ones, if any.
    pub fn new(
        from: &str,
        domain: Option<&str>,
        templates: Option<Arc<Templates>>,
    ) -> Result<MailSettings, MailError> {
        let support = rules::from_address(from)?;
        let domain = match domain {
            Some(d) => rules::domain(d)?,
            None => rules::domain_of(from)?,
        };
        Ok(MailSettings {
            from: from.trim().to_string(),
            domain,
            templates,
            support,
        })
    }

    /// The support desk's mailbox, when it is not the From address.
    pub fn with_support(mut self, support: Option<&str>) -> Result<MailSettings, MailError> {
        if let Some(s) = support {
            self.support = didhub_core::access::email(s)
                .map_err(|_| MailError::Address(s.trim().to_string()))?;
        }
        Ok(self)
    }

    /// The support desk's mailbox: new tickets, partners' replies and SLA alerts go there.
    pub fn support(&self) -> &str {
        &self.support
    }

    pub fn from(&self) -> &str {
        &self.from
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn templates(&self) -> &Templates {
        self.templates
            .as_deref()
            .unwrap_or_else(|| Templates::builtin())
    }
}

impl crate::Store {
    /// The store with these mail settings (sender, Message-ID domain, templates).
    pub fn with_mail(mut self, settings: MailSettings) -> crate::Store {
        self.db.mail = Arc::new(settings);
        self
    }
}

/// A mail in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = OutboxMail)]
pub struct OutboxMail {
    pub id: Uuid,
    /// `<uuid@domain>`, the same on every attempt.
    #[schema(value_type = String)]
    pub message_id: MessageId,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    #[schema(value_type = Option<String>)]
    pub in_reply_to: Option<MessageId>,
    #[schema(value_type = Vec<String>)]
    pub references: Vec<MessageId>,
    /// The order or ticket the mail is about.
    pub about: Option<MailRef>,
    pub state: MailState,
    /// Attempts made (claims by a worker, including one cut short by a crash).
    pub attempts: i32,
    /// When the next attempt is due (pending mails).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failed attempt's error.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A mail just queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    pub id: Uuid,
    pub message_id: MessageId,
}

pub(crate) const MAIL_COLUMNS: &str = "id, message_id, sender, recipients, subject, body, \
    in_reply_to, refs, about_kind, about_id, state, attempts, next_attempt_at, last_error, \
    created_at, sent_at";

#[derive(sqlx::FromRow)]
pub(crate) struct MailRow {
    id: Uuid,
    message_id: String,
    sender: String,
    recipients: String,
    subject: String,
    body: String,
    in_reply_to: Option<String>,
    refs: String,
    about_kind: Option<String>,
    about_id: Option<Uuid>,
    state: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

impl TryFrom<MailRow> for OutboxMail {
    type Error = StoreError;
    fn try_from(r: MailRow) -> Result<OutboxMail> {
        let id = r.id;
        let corrupt = |what: &str| StoreError::Config(format!("outbox mail {id}: {what}"));
        let mid = |s: &str| MessageId::parse(s).map_err(|e| corrupt(&e.to_string()));
        let refs: Vec<String> =
            serde_json::from_str(&r.refs).map_err(|_| corrupt("references are not a list"))?;
        let about = match (r.about_kind, r.about_id) {
            (Some(k), Some(id)) => Some(MailRef {
                kind: k.parse::<RefKind>().map_err(|e| corrupt(&e))?,
                id,
            }),
            _ => None,
        };
        Ok(OutboxMail {
            id,
            message_id: mid(&r.message_id)?,
            from: r.sender,
            to: serde_json::from_str(&r.recipients)
                .map_err(|_| corrupt("recipients are not a list"))?,
            subject: r.subject,
            body: r.body,
            in_reply_to: r.in_reply_to.as_deref().map(mid).transpose()?,
            references: refs.iter().map(|s| mid(s)).collect::<Result<_>>()?,
            about,
            state: r.state.parse().map_err(|e: String| corrupt(&e))?,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
        })
    }
}

pub(crate) fn rows_to_mails(rows: Vec<MailRow>) -> Result<Vec<OutboxMail>> {
    rows.into_iter().map(OutboxMail::try_from).collect()
}

/// A core mail error where the store reports it: a bad address names the field `to`, a
/// template that does not render is the configuration's fault.
fn mail_error(e: MailError) -> StoreError {
    match e {
        MailError::Address(_) | MailError::Recipients(_) => StoreError::invalid("to", e),
        MailError::MessageId(_) => StoreError::invalid("message_id", e),
        _ => StoreError::Config(e.to_string()),
    }
}

/// Queues `mail` in the caller's transaction: it is sent if and only if that transaction
/// commits. The same Message-ID twice is a conflict (a mail is queued once).
pub(crate) async fn enqueue(tx: &mut Tx, mail: &NewMail) -> Result<Enqueued> {
    let to = rules::recipients(&mail.to).map_err(mail_error)?;
    rules::from_address(&mail.from).map_err(|e| StoreError::invalid("from", e))?;
    if mail.subject.trim().is_empty() {
        return Err(StoreError::invalid("subject", "a mail needs a subject"));
    }
    let id = new_id();
    let at = now();
    let refs: Vec<&str> = mail.references.iter().map(|m| m.as_str()).collect();
    let r = on_tx!(tx, |c| sqlx::query(
        "INSERT INTO mail_outbox (id, message_id, sender, recipients, subject, body, \
        in_reply_to, refs, about_kind, about_id, state, attempts, next_attempt_at, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11)"
    )
    .bind(id)
    .bind(mail.message_id.as_str())
    .bind(&mail.from)
    .bind(json!(to).to_string())
    .bind(&mail.subject)
    .bind(&mail.body)
    .bind(mail.in_reply_to.as_ref().map(|m| m.as_str()))
    .bind(json!(refs).to_string())
    .bind(mail.about.map(|a| a.kind.as_str()))
    .bind(mail.about.map(|a| a.id))
    .bind(at)
    .execute(&mut *c)
    .await
    .map(|_| ()));
    if let Err(e) = r {
        let e = StoreError::from(e);
        return Err(if e.is_unique_violation() {
            StoreError::Conflict(format!("mail {} is already queued", mail.message_id))
        } else {
            e
        });
    }
    Ok(Enqueued {
        id,
        message_id: mail.message_id.clone(),
    })
}

/// Who hears from didhub about a partner's order or ticket: its contact e-mail first (when it
/// is an address), then the partner's active admins; nobody when there are neither.
pub(crate) async fn partner_contacts(
    tx: &mut Tx,
    partner_id: Uuid,
    contact: Option<&str>,
) -> Result<Vec<String>> {
    let mut recipients: Vec<String> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT email FROM users WHERE partner_id = $1 AND role = 'partner_admin' AND \
         disabled_at IS NULL ORDER BY email"
    )
    .bind(partner_id)
    .fetch_all(&mut *c)
    .await?);
    if let Some(e) = contact.map(str::trim) {
        if didhub_core::access::email(e).is_ok()
            && !recipients.iter().any(|r| r.eq_ignore_ascii_case(e))
        {
            recipients.insert(0, e.to_string());
        }
    }
    Ok(recipients)
}

/// `mail` threaded under the mails queued before it about the same order or ticket: a reply
/// to the latest, with all of them as References (oldest first), so that mail clients show
/// one conversation and an answer to any of them names one didhub knows.
pub(crate) async fn threaded(tx: &mut Tx, mail: NewMail) -> Result<NewMail> {
    let Some(about) = mail.about else {
        return Ok(mail);
    };
    let earlier: Vec<String> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT message_id FROM mail_outbox WHERE about_kind = $1 AND about_id = $2 \
         ORDER BY created_at, id"
    )
    .bind(about.kind.as_str())
    .bind(about.id)
    .fetch_all(&mut *c)
    .await?);
    let earlier: Vec<MessageId> = earlier
        .iter()
        .filter_map(|m| MessageId::parse(m).ok())
        .collect();
    Ok(match earlier.split_last() {
        Some((parent, before)) => mail.in_reply_to(parent.clone(), before),
        None => mail,
    })
}

impl crate::Db {
    /// The mail settings of this store.
    pub fn mail_settings(&self) -> &MailSettings {
        &self.mail
    }
}

impl Mail<'_> {
    /// A mail from a template, to `to`, about `about`: rendered now (every attempt sends
    /// these bytes), from the configured sender, under a new Message-ID. Queue it with
    /// [`enqueue`] inside the transaction of the change it tells of.
    pub fn compose<S: AsRef<str>>(
        &self,
        template: &MailTemplate,
        to: &[S],
        about: Option<MailRef>,
    ) -> Result<NewMail> {
        let s = self.mail_settings();
        let to = rules::recipients(to).map_err(mail_error)?;
        let r = s.templates().render(template).map_err(mail_error)?;
        Ok(NewMail {
            from: s.from().to_string(),
            to,
            subject: r.subject,
            body: r.body,
            message_id: MessageId::new(new_id(), s.domain()),
            in_reply_to: None,
            references: Vec::new(),
            about,
        })
    }

    /// Queues one mail in a transaction of its own (a test mail; a room with a change to
    /// make queues its mails in that change's transaction with [`enqueue`]).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn enqueue_one(&self, mail: &NewMail) -> Result<Enqueued> {
        retry(|| async {
            let mut tx = self.begin().await?;
            let q = enqueue(&mut tx, mail).await?;
            tx.commit().await?;
            Ok(q)
        })
        .await
    }

    /// The order or ticket a mail didhub sent was about, by its Message-ID (with or without
    /// angle brackets): how an inbound reply finds its ticket. None for a Message-ID that is
    /// not one of didhub's, or a mail about nothing.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn find_reference(&self, message_id: &str) -> Result<Option<MailRef>> {
        let Ok(m) = MessageId::parse(message_id) else {
            return Ok(None);
        };
        let row: Option<(Option<String>, Option<Uuid>)> = on!(self, |p| sqlx::query_as(
            "SELECT about_kind, about_id FROM mail_outbox WHERE message_id = $1"
        )
        .bind(m.as_str())
        .fetch_optional(p)
        .await?);
        Ok(match row {
            Some((Some(k), Some(id))) => Some(MailRef {
                kind: k.parse().map_err(StoreError::Config)?,
                id,
            }),
            _ => None,
        })
    }

    /// One mail by its Message-ID.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get(&self, message_id: &str) -> Result<OutboxMail> {
        let m = MessageId::parse(message_id).map_err(mail_error)?;
        let sql = format!("SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE message_id = $1");
        let row: Option<MailRow> = on!(self, |p| sqlx::query_as(&sql)
            .bind(m.as_str())
            .fetch_optional(p)
            .await?);
        row.ok_or_else(|| StoreError::not_found("mail", m))?
            .try_into()
    }

    /// The outbox, newest first, of one state or all.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list(
        &self,
        state: Option<MailState>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<OutboxMail>> {
        let limit = limit.clamp(1, 1000) as i64;
        let mut sql = Sql::new(&format!("SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE 1=1"));
        if let Some(s) = state {
            sql.push(" AND state = ")
                .bind(Param::Text(s.as_str().into()));
        }
        if let Some(c) = cursor {
            let id = decode_cursor(c)?
                .get(0)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Uuid>().ok())
                .ok_or_else(|| StoreError::invalid("cursor", "not an outbox cursor"))?;
            sql.push(" AND id < ").bind(Param::Uuid(id));
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(Param::Int(limit + 1));
        let rows: Vec<MailRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(p)
            .await?);
        let mut items = rows_to_mails(rows)?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items
                .last()
                .map(|m| encode_cursor(&json!([m.id.to_string()])))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// How many mails are in each state.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn counts(&self) -> Result<Vec<(MailState, i64)>> {
        let rows: Vec<(String, i64)> = on!(self, |p| sqlx::query_as(
            "SELECT state, count(*) FROM mail_outbox GROUP BY state"
        )
        .fetch_all(p)
        .await?);
        Ok(MailState::ALL
            .into_iter()
            .map(|s| {
                let n = rows
                    .iter()
                    .find(|(r, _)| r == s.as_str())
                    .map_or(0, |(_, n)| *n);
                (s, n)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use didhub_core::mail::TestMail;

    use super::*;

    /// A mail queued in a transaction exists if and only if that transaction commits.
    #[tokio::test]
    async fn a_mail_lives_and_dies_with_its_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(&crate::StoreConfig {
            database_url: None,
            data_dir: dir.path().to_path_buf(),
            pool_size: 2,
            bulk_import_min_rows: crate::DEFAULT_BULK_IMPORT_MIN_ROWS,
            documents: Default::default(),
        })
        .await
        .unwrap();
        let compose = || {
            store
                .mail()
                .compose(
                    &MailTemplate::Test(TestMail {
                        requested_by: "test".into(),
                        at: now(),
                    }),
                    &["a@example.com"],
                    None,
                )
                .unwrap()
        };
        let dropped = compose();
        let mut tx = store.begin().await.unwrap();
        enqueue(&mut tx, &dropped).await.unwrap();
        drop(tx);
        let kept = compose();
        let mut tx = store.begin().await.unwrap();
        enqueue(&mut tx, &kept).await.unwrap();
        tx.commit().await.unwrap();
        let all = store.mail().list(None, 10, None).await.unwrap().items;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].message_id, kept.message_id);
        assert!(store.mail().get(dropped.message_id.as_str()).await.is_err());
        // A bad address is refused naming the field.
        let mut bad = compose();
        bad.to = vec!["nobody".into()];
        let e = store.mail().enqueue_one(&bad).await.unwrap_err();
        assert!(
            matches!(e, StoreError::Invalid { ref field, .. } if field == "to"),
            "{e}"
        );
    }
}
