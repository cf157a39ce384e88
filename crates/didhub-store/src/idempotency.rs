//! Stored responses of creates sent with an `Idempotency-Key`, so a retried request gets the
//! first answer instead of a second create. A key is reserved before the create runs (a row
//! with status 0), so two concurrent requests with one key never both create: the second is
//! told the first is still in progress.

use crate::{now, on, Result, Store};

/// A reservation older than this was left by a process that died mid-request; it is taken over.
pub const ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(5);

pub struct Stored {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// What to do with a request carrying a key.
pub enum Begin {
    /// The key is now reserved for this request: run it, then `idempotent_finish` or
    /// `idempotent_abandon`.
    Run,
    /// An earlier request with this key finished: its answer (or a different request hash).
    Done(Stored),
    /// An earlier request with this key is still running.
    InProgress { request_hash: String },
}

impl Store {
    /// Reserves `key` for this principal, or says what an earlier request with it did.
    pub async fn idempotent_begin(
        &self,
        principal: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<Begin> {
        let at = now();
        for _ in 0..3 {
            let n = on!(self, p => sqlx::query("INSERT INTO idempotency_keys (principal, key, request_hash, status, body, created_at) VALUES ($1,$2,$3,0,'',$4) ON CONFLICT (principal, key) DO NOTHING")
                .bind(principal).bind(key).bind(request_hash).bind(at).execute(p).await?.rows_affected());
            if n == 1 {
                return Ok(Begin::Run);
            }
            let r: Option<(String, i32, String, chrono::DateTime<chrono::Utc>)> = on!(self, p => sqlx::query_as("SELECT request_hash, status, body, created_at FROM idempotency_keys WHERE principal = $1 AND key = $2")
                .bind(principal).bind(key).fetch_optional(p).await?);
            match r {
                // Gone between the two statements (abandoned and cleared): try again.
                None => continue,
                Some((_, 0, _, created)) if at - created > ABANDONED_AFTER => {
                    // Conditional on the same stale row, so only one taker wins.
                    on!(self, p => sqlx::query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND status = 0 AND created_at = $3")
                        .bind(principal).bind(key).bind(created).execute(p).await?.rows_affected());
                    continue;
                }
                Some((request_hash, 0, _, _)) => return Ok(Begin::InProgress { request_hash }),
                Some((request_hash, status, body, _)) => {
                    return Ok(Begin::Done(Stored {
                        request_hash,
                        status: status as u16,
                        body,
                    }))
                }
            }
        }
        Err(crate::StoreError::Conflict(format!(
            "Idempotency-Key '{key}' is being reused concurrently; try again"
        )))
    }

    /// Records the answer of the request that reserved `key`.
    pub async fn idempotent_finish(
        &self,
        principal: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        on!(self, p => sqlx::query("UPDATE idempotency_keys SET status = $3, body = $4 WHERE principal = $1 AND key = $2 AND status = 0")
            .bind(principal).bind(key).bind(status as i32).bind(body).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Frees `key` after its request failed (nothing was created), so that it can be retried.
    pub async fn idempotent_abandon(&self, principal: &str, key: &str) -> Result<()> {
        on!(self, p => sqlx::query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND status = 0")
            .bind(principal).bind(key).execute(p).await?.rows_affected());
        Ok(())
    }
}
