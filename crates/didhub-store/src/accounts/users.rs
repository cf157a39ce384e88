//! Users, passwords (argon2id, the crate's recommended parameters), login throttling.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use didhub_core::access::{check_password, email as check_email, Role, MAX_EMAIL, MAX_PASSWORD};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::on_tx;
use crate::{new_id, now, on, retry, Accounts, Actor, Result, StoreError};

/// Failed logins allowed per account, and per address, within the window.
pub const MAX_FAILURES_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_ADDRESS: i64 = 20;
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub partner_id: Option<Uuid>,
    pub disabled: bool,
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    role: String,
    partner_id: Option<Uuid>,
    disabled_at: Option<DateTime<Utc>>,
    password_hash: Option<String>,
    created_at: DateTime<Utc>,
    version: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            email: r.email,
            // The schema's CHECK keeps roles to known names.
            role: r.role.parse().unwrap_or(Role::PartnerMember),
            partner_id: r.partner_id,
            disabled: r.disabled_at.is_some(),
            has_password: r.password_hash.is_some(),
            created_at: r.created_at,
            version: r.version,
        }
    }
}

const USER_SELECT: &str =
    "SELECT id, email, role, partner_id, disabled_at, password_hash, created_at, \
    version FROM users";

/// Why a login failed. Deliberately vague to the client: no account enumeration.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong e-mail or password")]
    Invalid,
    #[error("too many failed logins; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn hash_password(p: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(p.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Config(format!("password hashing: {e}")))
}

fn verify_password(p: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| Argon2::default().verify_password(p.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so timing does not tell.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("not a real password, only for timing").unwrap_or_default())
}

impl Accounts<'_> {
    /// Creates a user. `granter` (the caller's role) must be allowed to give `role`.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_user(
        &self,
        actor: &Actor,
        granter: Option<Role>,
        email: &str,
        role: Role,
        partner_id: Option<Uuid>,
        password: Option<&str>,
    ) -> Result<User> {
        let email = check_email(email).map_err(|e| StoreError::invalid("email", e))?;
        if email == crate::accounts::tokens::BOOTSTRAP_ADMIN && role != Role::Admin {
            // `didhub token create` without `--user` acts as this account.
            return Err(StoreError::invalid(
                "email",
                format!("{email} is reserved for the bootstrap admin"),
            ));
        }
        if let Some(g) = granter {
            g.check_grant(role)
                .map_err(|e| StoreError::invalid("role", e))?;
        }
        role.check_partner(partner_id.is_some())
            .map_err(|e| StoreError::invalid("partner_id", e))?;
        if let Some(p) = partner_id {
            self.get_partner(crate::accounts::orgs::Scope::All, p)
                .await
                .map_err(|_| {
                    StoreError::invalid("partner_id", format!("partner {p} does not exist"))
                })?;
        }
        let hash = match password {
            Some(p) => {
                check_password(p).map_err(|e| StoreError::invalid("password", e))?;
                let p = p.to_string();
                Some(
                    tokio::task::spawn_blocking(move || hash_password(&p))
                        .await
                        .map_err(|e| StoreError::Config(e.to_string()))??,
                )
            }
            None => None,
        };
        let id = new_id();
        retry(|| async {
            let mut tx = self.begin().await?;
            let at = now();
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO users (id, email, password_hash, role, partner_id, created_at, \
                updated_at) VALUES ($1,$2,$3,$4,$5,$6,$6)"
            )
            .bind(id)
            .bind(&email)
            .bind(&hash)
            .bind(role.as_str())
            .bind(partner_id)
            .bind(at)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
            .map_err(|e| {
                let e = StoreError::from(e);
                if e.is_unique_violation() {
                    StoreError::Conflict(format!("a user with e-mail {email} exists"))
                } else {
                    e
                }
            })?;
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "user.create",
                    entity: "user",
                    entity_id: Some(id),
                    subject: Some(email.clone()),
                    changes: json!({"role": [null, role], "partner_id": [null, partner_id]}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_user(None, id).await
    }

    /// A user, limited to a partner's users when `partner` is given.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_user(&self, partner: Option<Uuid>, id: Uuid) -> Result<User> {
        let r: Option<UserRow> = on!(self, |p| sqlx::query_as(&format!(
            "{USER_SELECT} WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(p)
        .await?);
        r.map(User::from)
            .filter(|u| partner.is_none() || u.partner_id == partner)
            .ok_or_else(|| StoreError::not_found("user", id))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn find_user(&self, email: &str) -> Result<Option<User>> {
        let r: Option<UserRow> = on!(self, |p| sqlx::query_as(&format!(
            "{USER_SELECT} WHERE lower(email) = lower($1)"
        ))
        .bind(email.trim())
        .fetch_optional(p)
        .await?);
        Ok(r.map(User::from))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_users(&self, partner: Option<Uuid>) -> Result<Vec<User>> {
        let r: Vec<UserRow> = match partner {
            Some(pid) => {
                on!(self, |p| sqlx::query_as(&format!(
                    "{USER_SELECT} WHERE partner_id = $1 ORDER BY email"
                ))
                .bind(pid)
                .fetch_all(p)
                .await?)
            }
            None => {
                on!(self, |p| sqlx::query_as(&format!(
                    "{USER_SELECT} ORDER BY email"
                ))
                .fetch_all(p)
                .await?)
            }
        };
        Ok(r.into_iter().map(User::from).collect())
    }

    /// Changes role, partner binding or disabled flag; a security audit entry.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn update_user(
        &self,
        actor: &Actor,
        granter: Role,
        partner: Option<Uuid>,
        id: Uuid,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<User> {
        retry(|| async {
            // Read afresh on every attempt: a race with another edit runs again on its result.
            let cur = self.get_user(partner, id).await?;
            let new_role = role.unwrap_or(cur.role);
            if role.is_some() {
                granter
                    .check_grant(new_role)
                    .map_err(|e| StoreError::invalid("role", e))?;
                new_role
                    .check_partner(cur.partner_id.is_some())
                    .map_err(|e| StoreError::invalid("role", e))?;
            }
            let disabled_at = match disabled {
                Some(true) if !cur.disabled => Some(Some(now())),
                Some(false) if cur.disabled => Some(None),
                _ => None,
            };
            let mut tx = self.begin().await?;
            let n = on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE users SET role = $1, disabled_at = CASE WHEN $2 THEN $3 ELSE \
                disabled_at END, updated_at = $4, version = version + 1 WHERE id = $5 AND \
                version = $6"
            )
            .bind(new_role.as_str())
            .bind(disabled_at.is_some())
            .bind(disabled_at.flatten())
            .bind(now())
            .bind(id)
            .bind(cur.version)
            .execute(&mut *c)
            .await?
            .rows_affected());
            if n != 1 {
                return Err(StoreError::Raced { entity: "user", id });
            }
            if new_role != cur.role {
                write_audit(
                    &mut tx,
                    AuditWrite {
                        id: None,
                        actor,
                        action: "user.role",
                        entity: "user",
                        entity_id: Some(id),
                        subject: Some(cur.email.clone()),
                        changes: json!({"role": [cur.role, new_role]}),
                        reason: None,
                    },
                )
                .await?;
            }
            if let Some(Some(at)) = disabled_at {
                // A disabled account's sessions end now: enabled again, it signs in afresh
                // (API tokens are refused while it is disabled, and are managed on their own).
                on_tx!(&mut tx, |c| sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS \
                    NULL"
                )
                .bind(at)
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected());
            }
            if let Some(d) = disabled_at {
                write_audit(
                    &mut tx,
                    AuditWrite {
                        id: None,
                        actor,
                        action: "user.disable",
                        entity: "user",
                        entity_id: Some(id),
                        subject: Some(cur.email.clone()),
                        changes: json!({"disabled": [cur.disabled, d.is_some()]}),
                        reason: None,
                    },
                )
                .await?;
            }
            tx.commit().await
        })
        .await?;
        self.get_user(partner, id).await
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn set_password(&self, actor: &Actor, id: Uuid, password: &str) -> Result<()> {
        check_password(password).map_err(|e| StoreError::invalid("password", e))?;
        let p = password.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&p))
            .await
            .map_err(|e| StoreError::Config(e.to_string()))??;
        let u = self.get_user(None, id).await?;
        // One transaction: the new password, the end of every session signed in with the old
        // one (a stolen cookie dies with the password), the audit entry.
        retry(|| async {
            let mut tx = self.begin().await?;
            let at = now();
            on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE users SET password_hash = $1, updated_at = $2, version = version + 1 \
                WHERE id = $3"
            )
            .bind(&hash)
            .bind(at)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            let ended = on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS \
                NULL"
            )
            .bind(at)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "user.password",
                    entity: "user",
                    entity_id: Some(id),
                    subject: Some(u.email.clone()),
                    changes: json!({"sessions_ended": ended}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await
    }

    /// Checks a password login, throttled per account and per address; every outcome is a
    /// security audit entry.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        address: &str,
    ) -> Result<User, LoginError> {
        // Longer than any address or password didhub accepts: wrong, and not worth hashing
        // (nor storing: the failure log and the audit log would keep whatever came).
        if email.trim().len() > MAX_EMAIL || password.chars().count() > MAX_PASSWORD {
            return Err(LoginError::Invalid);
        }
        let account = email.trim().to_lowercase();
        // What the failure log and the audit log keep of it. An account's address holds no
        // control or bidirectional characters (the e-mail rule refuses them), but a stranger may
        // send anything, and a failed attempt must still be recorded: escaped, never raw.
        let shown = didhub_core::text::escape(&account).into_owned();
        let since = now() - Duration::minutes(FAILURE_WINDOW_MINUTES);
        // The attempt is written before it is counted or checked: guesses sent in parallel
        // each see the others, so the limit holds for them too. A good password removes it.
        let attempt = new_id();
        on!(self, |p| sqlx::query(
            "INSERT INTO login_failures (id, account, address, at) VALUES ($1,$2,$3,$4)"
        )
        .bind(attempt)
        .bind(&shown)
        .bind(address)
        .bind(now())
        .execute(p)
        .await
        .map_err(StoreError::from)?
        .rows_affected());
        let (by_account, by_address): (i64, i64) = on!(self, |p| {
            sqlx::query_as(
                "SELECT (SELECT count(*) FROM login_failures WHERE account = $1 AND at > \
                $3), (SELECT count(*) FROM login_failures WHERE address = $2 AND at > $3)",
            )
            .bind(&shown)
            .bind(address)
            .bind(since)
            .fetch_one(p)
            .await
            .map_err(StoreError::from)?
        });
        if by_account > MAX_FAILURES_ACCOUNT || by_address > MAX_FAILURES_ADDRESS {
            // Refused unchecked: not a failure of its own (the lockout does not grow with it).
            on!(self, |p| sqlx::query(
                "DELETE FROM login_failures WHERE id = $1"
            )
            .bind(attempt)
            .execute(p)
            .await
            .map_err(StoreError::from)?
            .rows_affected());
            self.audit()
                .audit_event(
                    &Actor(format!("address:{address}")),
                    "auth.login_throttled",
                    "user",
                    Some(shown),
                    json!({"address": address}),
                )
                .await?;
            return Err(LoginError::Throttled {
                retry_after_secs: (FAILURE_WINDOW_MINUTES * 60) as u64,
            });
        }
        let row: Option<UserRow> = on!(self, |p| sqlx::query_as(&format!(
            "{USER_SELECT} WHERE lower(email) = $1"
        ))
        .bind(&account)
        .fetch_optional(p)
        .await
        .map_err(StoreError::from)?);
        let hash = row
            .as_ref()
            .and_then(|r| r.password_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_string());
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
            .await
            .unwrap_or(false);
        match row {
            Some(r) if ok && r.password_hash.is_some() && r.disabled_at.is_none() => {
                on!(self, |p| sqlx::query(
                    "DELETE FROM login_failures WHERE account = $1"
                )
                .bind(&shown)
                .execute(p)
                .await
                .map_err(StoreError::from)?
                .rows_affected());
                let u = User::from(r);
                self.audit()
                    .audit_event(
                        &Actor(format!("user:{}", u.email)),
                        "auth.login",
                        "user",
                        Some(u.email.clone()),
                        json!({"address": address}),
                    )
                    .await?;
                Ok(u)
            }
            _ => {
                // The attempt written above stays: it is this failure.
                self.audit()
                    .audit_event(
                        &Actor(format!("address:{address}")),
                        "auth.login_failed",
                        "user",
                        Some(shown),
                        json!({"address": address}),
                    )
                    .await?;
                Err(LoginError::Invalid)
            }
        }
    }
}
