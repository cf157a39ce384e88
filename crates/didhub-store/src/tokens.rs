//! API tokens: random, shown once, stored as a SHA-256 hash (the token is 256 random bits, so
//! a fast hash is enough; nothing to brute-force).

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{new_id, now, on, Actor, Result, Store, StoreError};

pub const TOKEN_PREFIX: &str = "dh_";

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Creates a token and returns it in clear, once.
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        role: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(TokenInfo, String)> {
        let name = didhub_core::did::name("name", name, 200)
            .map_err(|e| StoreError::invalid("name", e))?;
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(raw));
        let id = new_id();
        let at = now();
        on!(self, p => sqlx::query("INSERT INTO api_tokens (id, name, token_hash, role, created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6)")
            .bind(id).bind(&name).bind(hash(&token)).bind(role).bind(at).bind(expires_at).execute(p).await?.rows_affected());
        self.audit_event(
            actor,
            "token.create",
            "token",
            Some(name.clone()),
            serde_json::json!({"id": id, "role": role}),
        )
        .await?;
        Ok((
            TokenInfo {
                id,
                name,
                role: role.to_string(),
                created_at: at,
                expires_at,
            },
            token,
        ))
    }

    /// The token's identity when it is valid (known, not revoked, not expired).
    pub async fn verify_token(&self, token: &str) -> Result<Option<TokenInfo>> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
            return Ok(None);
        }
        let t: Option<TokenInfo> = on!(self, p => sqlx::query_as("SELECT id, name, role, created_at, expires_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(hash(token)).fetch_optional(p).await?);
        Ok(t.filter(|t| t.expires_at.is_none_or(|e| e > Utc::now())))
    }
}
