//! Stored responses of creates sent with an `Idempotency-Key`, so a retried request gets the
//! first answer instead of a second create.

use crate::{now, on, Result, Store};

pub struct Stored {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

impl Store {
    pub async fn idempotent_get(&self, principal: &str, key: &str) -> Result<Option<Stored>> {
        let r: Option<(String, i32, String)> = on!(self, p => sqlx::query_as("SELECT request_hash, status, body FROM idempotency_keys WHERE principal = $1 AND key = $2")
            .bind(principal).bind(key).fetch_optional(p).await?);
        Ok(r.map(|(request_hash, status, body)| Stored {
            request_hash,
            status: status as u16,
            body,
        }))
    }

    /// Records a response; a concurrent duplicate keeps the first.
    pub async fn idempotent_put(
        &self,
        principal: &str,
        key: &str,
        request_hash: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        on!(self, p => sqlx::query("INSERT INTO idempotency_keys (principal, key, request_hash, status, body, created_at) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (principal, key) DO NOTHING")
            .bind(principal).bind(key).bind(request_hash).bind(status as i32).bind(body).bind(now()).execute(p).await?.rows_affected());
        Ok(())
    }
}
