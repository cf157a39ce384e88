//! Support centres: each has an IANA zone and a country whose working-day calendar (with the
//! closures operators added: `store.calendar()`) closes its support days. Every partner
//! belongs to one (`europe` until given another). A ticket's first-response deadline is the
//! core's (`SupportHours::first_response_due`, the function `didhub sla due` prints) on the
//! hours of the centre the ticket was opened under.

use chrono::{DateTime, Utc};
use didhub_core::sla::{zone, SupportHours, TicketClass};
use didhub_core::ticket::{centre_hours, DEFAULT_CENTRE};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::accounts::orgs::Scope;
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::on_tx;
use crate::{now, on, retry, Actor, Result, StoreError, Support};

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow, utoipa::ToSchema)]
pub struct SupportCentre {
    /// `europe`, `americas`, …
    pub code: String,
    pub name: String,
    /// IANA time zone of its support hours (Monday to Friday, 09:00 to 18:00).
    pub time_zone: String,
    /// The country whose working-day calendar (with its closures) closes its support days.
    pub country: String,
}

impl SupportCentre {
    fn tz(&self) -> Result<chrono_tz::Tz> {
        zone(&self.time_zone)
            .map_err(|e| StoreError::Config(format!("support centre {}: {e}", self.code)))
    }

    /// The month (`YYYY-MM`) `t` falls in on the centre's clock: the SLA report's month.
    pub fn month_of(&self, t: DateTime<Utc>) -> Result<String> {
        Ok(t.with_timezone(&self.tz()?).format("%Y-%m").to_string())
    }
}

const CENTRE_SELECT: &str = "SELECT code, name, time_zone, country FROM support_centres";

impl Support<'_> {
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_centres(&self) -> Result<Vec<SupportCentre>> {
        Ok(on!(self, |p| sqlx::query_as(&format!(
            "{CENTRE_SELECT} ORDER BY code"
        ))
        .fetch_all(p)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_centre(&self, code: &str) -> Result<SupportCentre> {
        let code = code.trim().to_lowercase();
        // Codes are short names; anything else names no centre (and never reaches the query).
        let plausible = code.len() <= 50
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !plausible {
            return Err(StoreError::not_found(
                "support centre",
                "(not a centre code)",
            ));
        }
        let r: Option<SupportCentre> = on!(self, |p| sqlx::query_as(&format!(
            "{CENTRE_SELECT} WHERE code = $1"
        ))
        .bind(&code)
        .fetch_optional(p)
        .await?);
        r.ok_or_else(|| StoreError::not_found("support centre", code))
    }

    /// The centre a partner belongs to (within the caller's scope).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn partner_centre(&self, scope: Scope, partner_id: Uuid) -> Result<SupportCentre> {
        self.accounts().get_partner(scope, partner_id).await?;
        let code: Option<String> = on!(self, |p| sqlx::query_scalar(
            "SELECT centre FROM partner_support_centres WHERE partner_id = $1"
        )
        .bind(partner_id)
        .fetch_optional(p)
        .await?);
        self.get_centre(code.as_deref().unwrap_or(DEFAULT_CENTRE))
            .await
    }

    /// Moves a partner to another centre. Its open tickets keep the deadlines they have; new
    /// ones run on the new centre's hours.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn set_partner_centre(
        &self,
        actor: &Actor,
        partner_id: Uuid,
        code: &str,
    ) -> Result<SupportCentre> {
        let partner = self.accounts().get_partner(Scope::All, partner_id).await?;
        let centre = self.get_centre(code).await.map_err(|_| {
            StoreError::invalid(
                "centre",
                format!(
                    "no support centre '{}'",
                    code.trim().chars().take(50).collect::<String>()
                ),
            )
        })?;
        let before = self.partner_centre(Scope::All, partner_id).await?;
        if before.code == centre.code {
            return Ok(centre);
        }
        retry(|| async {
            let mut tx = self.begin().await?;
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO partner_support_centres (partner_id, centre, updated_at) \
                 VALUES ($1,$2,$3) ON CONFLICT (partner_id) DO UPDATE SET centre = $2, \
                 updated_at = $3"
            )
            .bind(partner_id)
            .bind(&centre.code)
            .bind(now())
            .execute(&mut *c)
            .await?
            .rows_affected());
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "partner.support_centre",
                    entity: "partner",
                    entity_id: Some(partner_id),
                    subject: Some(partner.name.clone()),
                    changes: json!({"support_centre": [before.code, centre.code]}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        Ok(centre)
    }

    /// The support hours of the centre `code` around `t` (its zone, its country's calendar and
    /// closures): what a deadline near `t` runs on.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn hours_around(&self, code: &str, t: DateTime<Utc>) -> Result<SupportHours> {
        let centre = self.get_centre(code).await?;
        let cal = self.calendar().calendar(&centre.country).await?;
        Ok(centre_hours(centre.tz()?, &cal, t))
    }

    /// The first-response deadline of a ticket of `class` created at `created` under
    /// `centre`: the core's rule on the centre's hours, its country's calendar and closures.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn first_response_due(
        &self,
        centre: &SupportCentre,
        class: TicketClass,
        created: DateTime<Utc>,
    ) -> Result<DateTime<Utc>> {
        let tz = centre.tz()?;
        let cal = self.calendar().calendar(&centre.country).await?;
        centre_hours(tz, &cal, created)
            .first_response_due(class, created)
            .map_err(|e| StoreError::invalid("created_at", e))
    }
}
