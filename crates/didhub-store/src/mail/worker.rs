//! The outbox worker's side: claims under a lease, the record of a mail sent, of a failed
//! attempt (retried later, or failed for good after the last), and failed mails queued again.
//!
//! A claim takes due pending mails for a lease: until `locked_until` no other worker takes
//! them (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent claims never wait for each other
//! or take the same mail; SQLite has one writer). A worker that dies holding a claim leaves
//! its mails to be claimed again when the lease ends: at least once, under the same
//! Message-ID.

use std::time::Duration;

use chrono::{DateTime, Utc};
use didhub_core::mail::{AfterFailure, RetryPolicy};
use serde_json::json;
use uuid::Uuid;

use super::{rows_to_mails, MailRow, OutboxMail, MAIL_COLUMNS};
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::on_tx;
use crate::{new_id, now, retry, Actor, Mail, Result, StoreError};

/// Mails claimed by one worker until `until`.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Names the claim: a failed attempt or a release counts only while the claim holds.
    pub token: Uuid,
    pub until: DateTime<Utc>,
    /// Oldest due first.
    pub mails: Vec<OutboxMail>,
}

/// What a failed attempt led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    /// Pending again, due then.
    Retry(DateTime<Utc>),
    /// That was the last attempt allowed: failed, with the error kept.
    Failed,
    /// The claim had ended and the mail was claimed again (or sent) meanwhile: nothing
    /// recorded.
    NotMine,
}

/// Longest error text kept with a mail.
const MAX_ERROR: usize = 1000;

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Mail<'_> {
    /// Claims up to `batch` due pending mails for `lease`, oldest due first, and counts an
    /// attempt for each.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn claim(&self, batch: u32, lease: Duration) -> Result<Claim> {
        let token = new_id();
        retry(|| async {
            let at = now();
            let until = at + chrono(lease);
            let mut tx = self.begin().await?;
            let skip = tx.row_lock(" FOR UPDATE SKIP LOCKED");
            let sql = format!(
                "UPDATE mail_outbox SET locked_until = $1, locked_by = $2, attempts = attempts + 1 \
                WHERE id IN (SELECT id FROM mail_outbox WHERE state = 'pending' \
                AND next_attempt_at <= $3 AND (locked_until IS NULL OR locked_until <= $3) \
                ORDER BY next_attempt_at, id LIMIT $4{skip}) RETURNING {MAIL_COLUMNS}"
            );
            let rows: Vec<MailRow> = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
                .bind(until)
                .bind(token)
                .bind(at)
                .bind(i64::from(batch.max(1)))
                .fetch_all(&mut *c)
                .await?);
            tx.commit().await?;
            let mut mails = rows_to_mails(rows)?;
            mails.sort_by_key(|a| (a.next_attempt_at, a.id));
            Ok(Claim {
                token,
                until,
                mails,
            })
        })
        .await
    }

    /// Records a mail sent (the SMTP server accepted it): whoever's claim it was, since it
    /// left. False when it was not pending any more.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn mark_sent(&self, id: Uuid) -> Result<bool> {
        let n = retry(|| async {
            let mut tx = self.begin().await?;
            let n = on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE mail_outbox SET state = 'sent', sent_at = $1, locked_until = NULL, \
                locked_by = NULL, last_error = NULL WHERE id = $2 AND state = 'pending'"
            )
            .bind(now())
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            tx.commit().await?;
            Ok(n)
        })
        .await?;
        Ok(n == 1)
    }

    /// Records a failed attempt of a claimed mail: due again after the policy's wait, or
    /// failed when it was the last attempt allowed. Counts only while `token`'s claim holds.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn mark_attempt_failed(
        &self,
        mail: &OutboxMail,
        token: Uuid,
        error: &str,
        policy: &RetryPolicy,
    ) -> Result<Attempted> {
        let error: String = error.chars().take(MAX_ERROR).collect();
        let attempts = u32::try_from(mail.attempts).unwrap_or(0);
        let (state, outcome_of) = match policy.after_failure(attempts) {
            AfterFailure::GiveUp => ("failed", None),
            AfterFailure::RetryIn(d) => ("pending", Some(d)),
        };
        retry(|| async {
            let at = now();
            let due = outcome_of.map_or(at, |d| at + chrono(d));
            let mut tx = self.begin().await?;
            let n = on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE mail_outbox SET state = $1, next_attempt_at = $2, last_error = $3, \
                locked_until = NULL, locked_by = NULL WHERE id = $4 AND locked_by = $5 \
                AND state = 'pending'"
            )
            .bind(state)
            .bind(due)
            .bind(&error)
            .bind(mail.id)
            .bind(token)
            .execute(&mut *c)
            .await?
            .rows_affected());
            tx.commit().await?;
            Ok(match (n, outcome_of) {
                (0, _) => Attempted::NotMine,
                (_, Some(_)) => Attempted::Retry(due),
                (_, None) => Attempted::Failed,
            })
        })
        .await
    }

    /// Gives back a claimed mail that was not attempted (its claim was running out): due at
    /// once again, its attempt not counted.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn release(&self, id: Uuid, token: Uuid) -> Result<()> {
        retry(|| async {
            let mut tx = self.begin().await?;
            on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE mail_outbox SET locked_until = NULL, locked_by = NULL, \
                attempts = attempts - 1 WHERE id = $1 AND locked_by = $2 AND state = 'pending' \
                AND attempts > 0"
            )
            .bind(id)
            .bind(token)
            .execute(&mut *c)
            .await?
            .rows_affected());
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Queues failed mails again (one by its Message-ID, or every failed one), with their
    /// attempts counted from zero and due at once. Audited; returns how many.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn retry_failed(&self, actor: &Actor, message_id: Option<&str>) -> Result<u64> {
        let one = match message_id {
            Some(m) => Some(self.get(m).await?),
            None => None,
        };
        if let Some(m) = &one {
            if m.state != didhub_core::mail::MailState::Failed {
                return Err(StoreError::Conflict(format!(
                    "mail {} is {}, not failed",
                    m.message_id, m.state
                )));
            }
        }
        retry(|| async {
            let mut tx = self.begin().await?;
            let at = now();
            let n = match one.as_ref().map(|m| m.id) {
                Some(id) => on_tx!(&mut tx, |c| {
                    sqlx::query(
                    "UPDATE mail_outbox SET state = 'pending', attempts = 0, next_attempt_at = $1 \
                    WHERE state = 'failed' AND id = $2"
                )
                .bind(at)
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected()
                }),
                None => on_tx!(&mut tx, |c| {
                    sqlx::query(
                    "UPDATE mail_outbox SET state = 'pending', attempts = 0, next_attempt_at = $1 \
                    WHERE state = 'failed'"
                )
                .bind(at)
                .execute(&mut *c)
                .await?
                .rows_affected()
                }),
            };
            if n > 0 {
                write_audit(
                    &mut tx,
                    AuditWrite {
                        id: None,
                        actor,
                        action: "mail.retry",
                        entity: "mail",
                        entity_id: one.as_ref().map(|m| m.id),
                        subject: one.as_ref().map(|m| m.message_id.to_string()),
                        changes: json!({"state": ["failed", "pending"], "mails": n}),
                        reason: None,
                    },
                )
                .await?;
            }
            tx.commit().await?;
            Ok(n)
        })
        .await
    }
}
