//! Settings of the server's configuration that every process changing data applies alike,
//! stored once (table `settings`): the hold period, written when the server starts and read by
//! the command line, so that a DID put on hold from either waits the same number of days.

use serde_json::json;

use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::on_tx;
use crate::{now, on, retry, Actor, Db, Result, StoreError};

const HOLD_DAYS: &str = "hold_days";

const UPSERT: &str = "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

impl Db {
    /// Records the server's hold period (`didhub serve` at start). A change of the value is an
    /// audit entry (`setting.update`, subject `hold_days`).
    pub async fn record_hold_days(&self, actor: &Actor, days: i64) -> Result<()> {
        let value = days.to_string();
        retry(|| async {
            let mut tx = self.begin().await?;
            let read = format!(
                "SELECT value FROM settings WHERE key = $1{}",
                tx.row_lock(" FOR UPDATE")
            );
            let was: Option<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(&read)
                .bind(HOLD_DAYS)
                .fetch_optional(&mut *c)
                .await?);
            if was.as_deref() == Some(value.as_str()) {
                return Ok(());
            }
            on_tx!(&mut tx, |c| sqlx::query(UPSERT)
                .bind(HOLD_DAYS)
                .bind(&value)
                .bind(now())
                .execute(&mut *c)
                .await?
                .rows_affected());
            let was: Option<i64> = was.and_then(|v| v.parse().ok());
            let entry = AuditWrite {
                id: None,
                actor,
                action: "setting.update",
                entity: "setting",
                entity_id: None,
                subject: Some(HOLD_DAYS.into()),
                changes: didhub_core::audit::diff([("value", json!(was), json!(days))]),
                reason: None,
            };
            write_audit(&mut tx, entry).await?;
            tx.commit().await
        })
        .await
    }

    /// The hold period the server recorded at its last start, if one has run on this database.
    pub async fn recorded_hold_days(&self) -> Result<Option<i64>> {
        let v: Option<String> = on!(self, |p| sqlx::query_scalar(
            "SELECT value FROM settings WHERE key = $1"
        )
        .bind(HOLD_DAYS)
        .fetch_optional(p)
        .await?);
        v.map(|v| {
            v.parse().map_err(|_| {
                let why = format!("the recorded hold period '{v}' is not a number of days");
                StoreError::invalid(HOLD_DAYS, why)
            })
        })
        .transpose()
    }
}
