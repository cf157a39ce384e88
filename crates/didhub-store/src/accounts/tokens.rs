//! API tokens and sessions: random, shown once, stored as a SHA-256 hash (they are 256 random
//! bits, so a slow hash adds nothing). A token acts as its user, with the user's current role.

use chrono::{DateTime, Utc};
use didhub_core::access::Role;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{new_id, now, on, Accounts, Actor, Result, StoreError};

pub const TOKEN_PREFIX: &str = "dh_";
pub const SESSION_PREFIX: &str = "dhs_";

/// The bootstrap admin owns tokens made before any user existed (`didhub token create`).
pub const BOOTSTRAP_ADMIN: &str = "admin@localhost";

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Who a credential belongs to.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    pub partner_id: Option<Uuid>,
    /// The token or session that proved it.
    pub credential_id: Uuid,
    /// Present for sessions: unsafe requests must echo it (CSRF).
    pub csrf: Option<String>,
    pub token_name: Option<String>,
    /// When the token or session stops being valid (`None`: a token that never expires).
    pub expires_at: Option<DateTime<Utc>>,
}

pub(crate) fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn random_secret(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    format!("{prefix}{}", hex::encode(raw))
}

#[derive(sqlx::FromRow)]
struct IdentityRow {
    credential_id: Uuid,
    token_name: Option<String>,
    csrf: Option<String>,
    user_id: Uuid,
    email: String,
    role: String,
    partner_id: Option<Uuid>,
    expires_at: Option<DateTime<Utc>>,
}

impl IdentityRow {
    fn into_identity(self) -> Option<Identity> {
        Some(Identity {
            user_id: self.user_id,
            email: self.email,
            role: self.role.parse().ok()?,
            partner_id: self.partner_id,
            credential_id: self.credential_id,
            csrf: self.csrf,
            token_name: self.token_name,
            expires_at: self.expires_at,
        })
    }
}

impl Accounts<'_> {
    /// The bootstrap admin's id, creating the user on first use.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn bootstrap_admin(&self) -> Result<Uuid> {
        if let Some(u) = self.find_user(BOOTSTRAP_ADMIN).await? {
            // Never hand out a token for an account of that name that is not an admin.
            if u.role != Role::Admin || u.disabled {
                return Err(StoreError::Config(format!(
                    "{BOOTSTRAP_ADMIN} is not an enabled admin; name the token's user with --user"
                )));
            }
            return Ok(u.id);
        }
        match self
            .create_user(
                &Actor::system(),
                None,
                BOOTSTRAP_ADMIN,
                Role::Admin,
                None,
                None,
            )
            .await
        {
            Ok(u) => Ok(u.id),
            // Created concurrently by another process.
            Err(StoreError::Conflict(_)) => self
                .find_user(BOOTSTRAP_ADMIN)
                .await?
                .map(|u| u.id)
                .ok_or_else(|| StoreError::not_found("user", BOOTSTRAP_ADMIN)),
            Err(e) => Err(e),
        }
    }

    /// Creates a token for a user and returns it in clear, once.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_token(
        &self,
        actor: &Actor,
        user_id: Uuid,
        name: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(TokenInfo, String)> {
        let name = didhub_core::did::name("name", name, 200)
            .map_err(|e| StoreError::invalid("name", e))?;
        if expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(StoreError::invalid("expires_at", "must be in the future"));
        }
        let user = self.get_user(None, user_id).await?;
        let token = random_secret(TOKEN_PREFIX);
        let id = new_id();
        let at = now();
        on!(self, |p| {
            sqlx::query(
                "INSERT INTO api_tokens (id, name, token_hash, role, user_id, created_at, \
                expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
            )
            .bind(id)
            .bind(&name)
            .bind(hash(&token))
            .bind(user.role.as_str())
            .bind(user_id)
            .bind(at)
            .bind(expires_at)
            .execute(p)
            .await?
            .rows_affected()
        });
        self.audit().audit_event(actor, "token.create", "token", Some(user.email.clone()),
            serde_json::json!({"id": id, "name": name, "user": user.email, "expires_at": expires_at})).await?;
        Ok((
            TokenInfo {
                id,
                name,
                user_id: Some(user_id),
                created_at: at,
                expires_at,
                revoked_at: None,
                last_used_at: None,
            },
            token,
        ))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<TokenInfo>> {
        let base = "SELECT id, name, user_id, created_at, expires_at, revoked_at, last_used_at FROM api_tokens";
        Ok(match user_id {
            Some(u) => {
                on!(self, |p| sqlx::query_as(&format!(
                    "{base} WHERE user_id = $1 ORDER BY id"
                ))
                .bind(u)
                .fetch_all(p)
                .await?)
            }
            None => {
                on!(self, |p| sqlx::query_as(&format!("{base} ORDER BY id"))
                    .fetch_all(p)
                    .await?)
            }
        })
    }

    /// Revokes a token; `owner` limits it to that user's tokens.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn revoke_token(&self, actor: &Actor, id: Uuid, owner: Option<Uuid>) -> Result<()> {
        let n = match owner {
            Some(u) => {
                on!(self, |p| {
                    sqlx::query(
                        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND \
                        revoked_at IS NULL",
                    )
                    .bind(now())
                    .bind(id)
                    .bind(u)
                    .execute(p)
                    .await?
                    .rows_affected()
                })
            }
            None => {
                on!(self, |p| sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
                )
                .bind(now())
                .bind(id)
                .execute(p)
                .await?
                .rows_affected())
            }
        };
        if n == 0 {
            return Err(StoreError::not_found("token", id));
        }
        self.audit()
            .audit_event(
                actor,
                "token.revoke",
                "token",
                None,
                serde_json::json!({"id": id}),
            )
            .await?;
        Ok(())
    }

    /// The identity of a valid token (known, not revoked, not expired, user not disabled).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn verify_token(&self, token: &str) -> Result<Option<Identity>> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
            return Ok(None);
        }
        let r: Option<IdentityRow> = on!(self, |p| {
            sqlx::query_as(
                "SELECT t.id AS credential_id, t.name AS token_name, NULL AS csrf, u.id AS \
                user_id, u.email, u.role, u.partner_id, t.expires_at FROM api_tokens t JOIN \
                users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.revoked_at IS \
                NULL AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled_at IS \
                NULL",
            )
            .bind(hash(token))
            .bind(now())
            .fetch_optional(p)
            .await?
        });
        Ok(r.and_then(IdentityRow::into_identity))
    }

    /// Opens a session for a user; returns (session token, CSRF token).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_session(
        &self,
        user_id: Uuid,
        ttl: chrono::Duration,
    ) -> Result<(String, String)> {
        let token = random_secret(SESSION_PREFIX);
        let csrf = random_secret("");
        let at = now();
        on!(self, |p| {
            sqlx::query(
                "INSERT INTO sessions (id, token_hash, csrf_token, user_id, created_at, \
                expires_at) VALUES ($1,$2,$3,$4,$5,$6)",
            )
            .bind(new_id())
            .bind(hash(&token))
            .bind(&csrf)
            .bind(user_id)
            .bind(at)
            .bind(at + ttl)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok((token, csrf))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn verify_session(&self, token: &str) -> Result<Option<Identity>> {
        if !token.starts_with(SESSION_PREFIX) || token.len() > 100 {
            return Ok(None);
        }
        let r: Option<IdentityRow> = on!(self, |p| {
            sqlx::query_as(
                "SELECT s.id AS credential_id, NULL AS token_name, s.csrf_token AS csrf, \
                u.id AS user_id, u.email, u.role, u.partner_id, s.expires_at FROM sessions \
                s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.revoked_at \
                IS NULL AND s.expires_at > $2 AND u.disabled_at IS NULL",
            )
            .bind(hash(token))
            .bind(now())
            .fetch_optional(p)
            .await?
        });
        Ok(r.and_then(IdentityRow::into_identity))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn end_session(&self, session_id: Uuid) -> Result<()> {
        on!(self, |p| sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE id = $2"
        )
        .bind(now())
        .bind(session_id)
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }
}
