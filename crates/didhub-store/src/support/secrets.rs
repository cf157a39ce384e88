//! Remote access credentials: sealed when stored (`tickets`), opened only on an explicit
//! reveal by support staff or admins, which the audit log records, and sealed again under the
//! current key by `didhub secrets rotate`.

use didhub_core::secret::{Keyring, SecretError};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::tickets::{secret_place, Credentials};
use crate::accounts::orgs::Scope;
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::on_tx;
use crate::{on, retry, Actor, Result, StoreError, Support};

/// A ticket's remote access in clear, for the support staff member who asked.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RevealedAccess {
    pub address: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
}

// Never printed: the credentials stay out of logs even at debug level.
impl std::fmt::Debug for RevealedAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevealedAccess(…)")
    }
}

/// What a rotation did.
#[derive(Debug, Default, Serialize)]
pub struct RotateReport {
    /// Sealed again under the current key.
    pub rotated: u64,
    /// Already under the current key.
    pub current: u64,
    /// Tickets (by number) whose value no configured key opens, with why.
    pub failed: Vec<(i64, String)>,
}

fn open_error(e: SecretError) -> StoreError {
    StoreError::Conflict(format!("the remote access cannot be opened: {e}"))
}

impl Support<'_> {
    /// The remote access of a ticket in clear; the audit log records who asked.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn reveal_remote_access(
        &self,
        actor: &Actor,
        id: Uuid,
        keys: &Keyring,
    ) -> Result<RevealedAccess> {
        let row = self.ticket_row(Scope::All, id).await?;
        if row.remote_address.is_none() && row.remote_secret.is_none() {
            return Err(StoreError::not_found(
                "remote access of ticket",
                format!("#{}", row.number),
            ));
        }
        let creds = match &row.remote_secret {
            Some(s) => {
                let plain = keys.open(s, &secret_place(id)).map_err(open_error)?;
                serde_json::from_str::<Credentials>(&plain)
                    .map_err(|_| open_error(SecretError::Damaged))?
            }
            None => Credentials {
                login: None,
                password: None,
            },
        };
        retry(|| async {
            let mut tx = self.begin().await?;
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "ticket.remote_access.reveal",
                    entity: "ticket",
                    entity_id: Some(id),
                    subject: Some(format!("#{}", row.number)),
                    changes: json!({}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        Ok(RevealedAccess {
            address: row.remote_address,
            login: creds.login,
            password: creds.password,
        })
    }

    /// Seals every stored secret not under the current key again under it, opening it with
    /// the older keys of `keys`. Each value is replaced only if it is still the one read.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn rotate_secrets(&self, actor: &Actor, keys: &Keyring) -> Result<RotateReport> {
        let current = keys
            .current_id()
            .ok_or_else(|| StoreError::invalid("secret_key", SecretError::NoKey))?
            .to_string();
        let prefix = format!("{current}.%");
        let under_current: i64 = on!(self, |p| sqlx::query_scalar(
            "SELECT count(*) FROM tickets WHERE remote_secret LIKE $1"
        )
        .bind(&prefix)
        .fetch_one(p)
        .await?);
        let mut report = RotateReport {
            current: under_current as u64,
            ..RotateReport::default()
        };
        let mut after = 0i64;
        loop {
            let rows: Vec<(Uuid, i64, String)> = on!(self, |p| sqlx::query_as(
                "SELECT id, ref, remote_secret FROM tickets WHERE remote_secret IS NOT NULL \
                 AND remote_secret NOT LIKE $1 AND ref > $2 ORDER BY ref LIMIT 500"
            )
            .bind(&prefix)
            .bind(after)
            .fetch_all(p)
            .await?);
            let Some(last) = rows.last() else { break };
            after = last.1;
            let mut sealed = Vec::new();
            for (id, number, old) in rows {
                let place = secret_place(id);
                match keys.open(&old, &place).and_then(|p| keys.seal(&p, &place)) {
                    Ok(new) => sealed.push((id, old, new)),
                    Err(e) => report.failed.push((number, e.to_string())),
                }
            }
            let n = retry(|| async {
                let mut tx = self.begin().await?;
                let mut n = 0;
                for (id, old, new) in &sealed {
                    n += on_tx!(&mut tx, |c| {
                        sqlx::query(
                        "UPDATE tickets SET remote_secret = $1 WHERE id = $2 AND remote_secret = $3"
                    )
                    .bind(new)
                    .bind(id)
                    .bind(old)
                    .execute(&mut *c)
                    .await?
                    .rows_affected()
                    });
                }
                tx.commit().await?;
                Ok(n)
            })
            .await?;
            report.rotated += n;
        }
        self.audit()
            .audit_event(
                actor,
                "secrets.rotate",
                "secret",
                Some(current),
                json!({"rotated": report.rotated, "failed": report.failed.len()}),
            )
            .await?;
        Ok(report)
    }
}
