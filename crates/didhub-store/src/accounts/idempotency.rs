//! Stored responses of creates sent with an `Idempotency-Key`, so a retried request gets the
//! first answer instead of a second create. A key is reserved before the create runs (a row
//! with status 0 whose body holds the reservation's own token), so two concurrent requests with
//! one key never both create: the second is told the first is still in progress. Only the
//! request holding the token records its answer or frees the key. A reservation never
//! finished (its process died) is not taken over, since its create may have committed: the
//! key answers 409 saying so, and the client checks and retries with a new key.

use crate::{now, on, Accounts, Result};

/// A reservation older than this was left by a process that died mid-request.
pub const ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(15);

pub struct Stored {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// What to do with a request carrying a key.
pub enum Begin {
    /// The key is now reserved for this request (by `token`): run it, then
    /// `idempotent_finish` or `idempotent_abandon` with the token.
    Run { token: String },
    /// An earlier request with this key finished: its answer (or a different request hash).
    Done(Stored),
    /// An earlier request with this key is still running.
    InProgress { request_hash: String },
    /// An earlier request with this key started at this time and never finished.
    Abandoned {
        request_hash: String,
        since: chrono::DateTime<chrono::Utc>,
    },
}

impl Accounts<'_> {
    /// Reserves `key` for this principal, or says what an earlier request with it did. Each of
    /// these single writes runs again on a busy database or a serialization failure, like every
    /// transaction: a long import holding SQLite's write lock must not turn a request that
    /// succeeded into a 500 with its key stuck "in progress".
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn idempotent_begin(
        &self,
        principal: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<Begin> {
        crate::retry(|| self.idempotent_begin_once(principal, key, request_hash)).await
    }

    async fn idempotent_begin_once(
        &self,
        principal: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<Begin> {
        let at = now();
        let token = crate::new_id().to_string();
        let n = on!(self, |p| {
            sqlx::query(
                "INSERT INTO idempotency_keys (principal, key, request_hash, status, body, \
                created_at) VALUES ($1,$2,$3,0,$4,$5) ON CONFLICT (principal, key) DO \
                NOTHING",
            )
            .bind(principal)
            .bind(key)
            .bind(request_hash)
            .bind(&token)
            .bind(at)
            .execute(p)
            .await?
            .rows_affected()
        });
        if n == 1 {
            return Ok(Begin::Run { token });
        }
        let r: Option<(String, i32, String, chrono::DateTime<chrono::Utc>)> = on!(self, |p| {
            sqlx::query_as(
                "SELECT request_hash, status, body, created_at FROM idempotency_keys WHERE \
                principal = $1 AND key = $2",
            )
            .bind(principal)
            .bind(key)
            .fetch_optional(p)
            .await?
        });
        Ok(match r {
            // Freed between the two statements by a request that failed: this one may run.
            None => {
                return Box::pin(self.idempotent_begin_once(principal, key, request_hash)).await
            }
            Some((request_hash, 0, _, since)) if at - since > ABANDONED_AFTER => Begin::Abandoned {
                request_hash,
                since,
            },
            Some((request_hash, 0, _, _)) => Begin::InProgress { request_hash },
            Some((request_hash, status, body, _)) => Begin::Done(Stored {
                request_hash,
                status: status as u16,
                body,
            }),
        })
    }

    /// Records the answer of the request that reserved `key`.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn idempotent_finish(
        &self,
        principal: &str,
        key: &str,
        token: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        crate::retry(|| async {
            on!(self, |p| sqlx::query(
                "UPDATE idempotency_keys SET status = $3, body = $4 WHERE principal = $1 AND \
                key = $2 AND status = 0 AND body = $5"
            )
            .bind(principal)
            .bind(key)
            .bind(status as i32)
            .bind(body)
            .bind(token)
            .execute(p)
            .await?
            .rows_affected());
            Ok(())
        })
        .await
    }

    /// Frees `key` after its request failed (nothing was created), so that it can be retried.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn idempotent_abandon(&self, principal: &str, key: &str, token: &str) -> Result<()> {
        crate::retry(|| async {
            on!(self, |p| sqlx::query(
                "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND status = \
                0 AND body = $3"
            )
            .bind(principal)
            .bind(key)
            .bind(token)
            .execute(p)
            .await?
            .rows_affected());
            Ok(())
        })
        .await
    }
}
