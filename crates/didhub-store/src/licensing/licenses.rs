//! PBX licenses: reading, setting and renewing a PBX's license period (a renewal renews the
//! PBX's services with it). The rules (expiry, renewal, same term kind, pro-rata amount and
//! its rounding) are `didhub_core::licensing`'s. The service catalog and the services that
//! co-terminate with a license are in `services.rs`; their types are re-exported here.

use chrono::{NaiveDate, Utc};
use didhub_core::licensing::{check_date, renew, TermKind};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::accounts::orgs::Scope;
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::on_tx;
use crate::db::versioned::{col, VersionedUpdate};
use crate::{new_id, now, on, retry, Actor, Licensing, Result, StoreError};

pub use super::services::{
    Cancelled, Charge, Credit, Price, Service, ServiceKind, ServiceQuote, ServiceRequest,
};

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct License {
    pub pbx_id: Uuid,
    pub term_kind: TermKind,
    pub period_start: NaiveDate,
    pub expires: NaiveDate,
    /// Whether today is within the period.
    pub active: bool,
    pub version: i64,
}

#[derive(sqlx::FromRow)]
struct LicenseRow {
    pbx_id: Uuid,
    term_kind: String,
    period_start: NaiveDate,
    expires: NaiveDate,
    version: i64,
}

pub(super) fn term(s: &str) -> TermKind {
    // The schema's CHECK keeps term kinds to known names.
    s.parse().unwrap_or(TermKind::Monthly)
}

impl From<LicenseRow> for License {
    fn from(r: LicenseRow) -> Self {
        License {
            pbx_id: r.pbx_id,
            term_kind: term(&r.term_kind),
            period_start: r.period_start,
            expires: r.expires,
            active: didhub_core::licensing::is_active(
                r.period_start,
                r.expires,
                Utc::now().date_naive(),
            ),
            version: r.version,
        }
    }
}

fn license_err(field: &str, e: impl ToString) -> StoreError {
    StoreError::invalid(field, e)
}

impl Licensing<'_> {
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_license(&self, scope: Scope, pbx_id: Uuid) -> Result<Option<License>> {
        self.accounts().get_pbx(scope, pbx_id).await?;
        let r: Option<LicenseRow> = on!(self, |p| {
            sqlx::query_as(
                "SELECT pbx_id, term_kind, period_start, expires, version FROM licenses \
                WHERE pbx_id = $1",
            )
            .bind(pbx_id)
            .fetch_optional(p)
            .await?
        });
        Ok(r.map(License::from))
    }

    /// Sets a PBX's license (its current period). Changing the term kind of a PBX that has
    /// services is refused: they would no longer co-terminate.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn set_license(
        &self,
        actor: &Actor,
        scope: Scope,
        pbx_id: Uuid,
        term_kind: TermKind,
        period_start: NaiveDate,
    ) -> Result<License> {
        let pbx = self.accounts().get_pbx(scope, pbx_id).await?;
        let expires = check_date("period_start", period_start)
            .and_then(|d| term_kind.expiry(d))
            .map_err(|e| license_err("period_start", e))?;
        retry(|| async {
            let mut tx = self.begin().await?;
            // Locked before the services are counted: a service being added (which holds the
            // row `FOR SHARE`) is then counted, not left on a period replaced under it.
            let lock = tx.row_lock(" FOR UPDATE");
            let cur: Option<LicenseRow> = on_tx!(&mut tx, |c| sqlx::query_as(&format!(
                "SELECT pbx_id, term_kind, period_start, expires, version FROM licenses \
                WHERE pbx_id = $1{lock}"
            ))
            .bind(pbx_id)
            .fetch_optional(&mut *c)
            .await?);
            let services: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT count(*) FROM services WHERE pbx_id = $1"
            )
            .bind(pbx_id)
            .fetch_one(&mut *c)
            .await?);
            if services > 0
                && cur.as_ref().is_some_and(|l| {
                    term(&l.term_kind) != term_kind || l.period_start != period_start
                })
            {
                return Err(StoreError::Conflict(
                    "this PBX has services tied to its current license period; renew the license \
                    instead of replacing it"
                        .into(),
                ));
            }
            let at = now();
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO licenses (pbx_id, term_kind, period_start, expires, created_at, \
                updated_at) VALUES ($1,$2,$3,$4,$5,$5) ON CONFLICT (pbx_id) DO UPDATE SET \
                term_kind = excluded.term_kind, period_start = excluded.period_start, \
                expires = excluded.expires, updated_at = excluded.updated_at, version = \
                licenses.version + 1"
            )
            .bind(pbx_id)
            .bind(term_kind.as_str())
            .bind(period_start)
            .bind(expires)
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected());
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "license.set",
                    entity: "pbx",
                    entity_id: Some(pbx_id),
                    subject: Some(pbx.serial_number.clone()),
                    changes: didhub_core::audit::diff([
                        (
                            "term_kind",
                            json!(cur.as_ref().map(|l| l.term_kind.clone())),
                            json!(term_kind),
                        ),
                        (
                            "period_start",
                            json!(cur.as_ref().map(|l| l.period_start)),
                            json!(period_start),
                        ),
                        (
                            "expires",
                            json!(cur.as_ref().map(|l| l.expires)),
                            json!(expires),
                        ),
                    ]),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_license(scope, pbx_id)
            .await?
            .ok_or_else(|| StoreError::not_found("license", pbx_id))
    }

    /// Starts the next period at the previous expiry; every service of the PBX renews with it
    /// at its full list price.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn renew_license(
        &self,
        actor: &Actor,
        scope: Scope,
        pbx_id: Uuid,
    ) -> Result<License> {
        let pbx = self.accounts().get_pbx(scope, pbx_id).await?;
        retry(|| async {
            let mut tx = self.begin().await?;
            // Locked: services being added finish first, and are renewed with the rest.
            let lock = tx.row_lock(" FOR UPDATE");
            let cur: LicenseRow = on_tx!(&mut tx, |c| sqlx::query_as(&format!(
                "SELECT pbx_id, term_kind, period_start, expires, version FROM licenses \
                WHERE pbx_id = $1{lock}"
            ))
            .bind(pbx_id)
            .fetch_optional(&mut *c)
            .await?)
            .ok_or_else(|| StoreError::invalid("license", "this PBX has no license to renew"))?;
            let t = term(&cur.term_kind);
            let (start, expires) = renew(t, cur.expires).map_err(|e| license_err("license", e))?;
            let update = VersionedUpdate {
                table: "licenses",
                key: "pbx_id",
                noun: "license",
                entity: "pbx",
                id: pbx_id,
                client: None,
                read: cur.version,
                action: "license.renew",
                subject: Some(pbx.serial_number.clone()),
                unique: None,
            };
            let columns = vec![
                col("period_start", cur.period_start, &start),
                col("expires", cur.expires, &expires),
            ];
            let services: Vec<(Uuid, Uuid, String)> = on_tx!(&mut tx, |c| sqlx::query_as(
                "SELECT id, service_kind_id, currency FROM services WHERE pbx_id = $1 AND \
                expires = $2"
            )
            .bind(pbx_id)
            .bind(cur.expires)
            .fetch_all(&mut *c)
            .await?);
            let mut renewed = Vec::new();
            for (sid, kind, cur_code) in services {
                let list: Option<i64> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                    "SELECT amount_minor FROM service_prices WHERE service_kind_id = $1 AND \
                    term_kind = $2 AND currency = $3"
                )
                .bind(kind)
                .bind(t.as_str())
                .bind(&cur_code)
                .fetch_optional(&mut *c)
                .await?);
                let list = list.ok_or_else(|| {
                    StoreError::Conflict(format!(
                        "service {sid} has no {cur_code} price for {t}; add one to the catalog \
                    before renewing"
                    ))
                })?;
                let days = (expires - start).num_days();
                on_tx!(&mut tx, |c| sqlx::query(
                    "UPDATE services SET expires = $1, updated_at = $2, version = version + 1 \
                    WHERE id = $3"
                )
                .bind(expires)
                .bind(now())
                .bind(sid)
                .execute(&mut *c)
                .await?
                .rows_affected());
                on_tx!(&mut tx, |c| sqlx::query(
                    "INSERT INTO service_charges (id, service_id, period_start, charged_from, \
                    expires, days, period_days, list_minor, amount_minor, currency, kind, \
                    created_at) VALUES ($1,$2,$3,$3,$4,$5,$5,$6,$6,$7,'renewal',$8)"
                )
                .bind(new_id())
                .bind(sid)
                .bind(start)
                .bind(expires)
                .bind(days as i32)
                .bind(list)
                .bind(&cur_code)
                .bind(now())
                .execute(&mut *c)
                .await?
                .rows_affected());
                renewed.push(sid);
            }
            let renewed = ("services_renewed", json!([]), json!(renewed));
            update.apply(&mut tx, actor, columns, vec![renewed]).await?;
            tx.commit().await
        })
        .await?;
        self.get_license(scope, pbx_id)
            .await?
            .ok_or_else(|| StoreError::not_found("license", pbx_id))
    }
}
