//! Closures: a day a country's calendar counts as non-working, added by an operator (an
//! office closed, a national day the data does not know). The calendar rule and its covered
//! years are `didhub_core::calendar`'s.

use chrono::{DateTime, NaiveDate, Utc};
use didhub_core::calendar::{check_covered, Calendar};
use didhub_core::did::{name, MAX_REASON};
use serde::Serialize;
use serde_json::json;

use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{on_tx, Tx};
use crate::{now, on, retry, Actor, Calendars, Result, StoreError};

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow, utoipa::ToSchema)]
pub struct Closure {
    /// ISO 3166 alpha-2, upper case.
    pub country: String,
    #[sqlx(rename = "closed_on")]
    pub date: NaiveDate,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

const CLOSURE_SELECT: &str =
    "SELECT country, closed_on, reason, created_at, created_by FROM calendar_closures";

/// The country's calendar (its code as the calendar spells it), or why not.
fn calendar_of(country: &str) -> Result<Calendar> {
    Calendar::for_country(country).map_err(|e| StoreError::invalid("country", e))
}

fn covered(date: NaiveDate) -> Result<NaiveDate> {
    check_covered(date).map_err(|e| StoreError::invalid("date", e))
}

fn subject(c: &Closure) -> String {
    format!("{} {}", c.country, c.date)
}

async fn closure_in_tx(tx: &mut Tx, country: &str, date: NaiveDate) -> Result<Option<Closure>> {
    let lock = tx.row_lock(" FOR UPDATE");
    let sql = format!("{CLOSURE_SELECT} WHERE country = $1 AND closed_on = $2{lock}");
    Ok(on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(country)
        .bind(date)
        .fetch_optional(&mut *c)
        .await?))
}

impl Calendars<'_> {
    /// Closes `date` in `country`'s calendar. A day already closed there is a conflict.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn add_closure(
        &self,
        actor: &Actor,
        country: &str,
        date: NaiveDate,
        reason: &str,
    ) -> Result<Closure> {
        let cal = calendar_of(country)?;
        let date = covered(date)?;
        let reason =
            name("reason", reason, MAX_REASON).map_err(|e| StoreError::invalid("reason", e))?;
        let closure = Closure {
            country: cal.country().to_string(),
            date,
            reason,
            created_at: now(),
            created_by: actor.as_str().to_string(),
        };
        retry(|| async {
            let mut tx = self.begin().await?;
            let c = &closure;
            let r = on_tx!(&mut tx, |x| sqlx::query(
                "INSERT INTO calendar_closures (country, closed_on, reason, created_at, \
                created_by) VALUES ($1,$2,$3,$4,$5)"
            )
            .bind(&c.country)
            .bind(c.date)
            .bind(&c.reason)
            .bind(c.created_at)
            .bind(&c.created_by)
            .execute(&mut *x)
            .await
            .map(|r| r.rows_affected()));
            if let Err(e) = r {
                let e = StoreError::from(e);
                return Err(if e.is_unique_violation() {
                    StoreError::Conflict(format!("{} is already closed", subject(c)))
                } else {
                    e
                });
            }
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "closure.create",
                    entity: "closure",
                    entity_id: None,
                    subject: Some(subject(c)),
                    changes: json!({
                        "country": [null, c.country],
                        "date": [null, c.date],
                        "reason": [null, c.reason],
                    }),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        Ok(closure)
    }

    /// Closures by country and date; one country's only when it is given.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_closures(&self, country: Option<&str>) -> Result<Vec<Closure>> {
        let country = country
            .map(|c| calendar_of(c).map(|cal| cal.country().to_string()))
            .transpose()?;
        Ok(on!(self, |p| {
            match &country {
                Some(cc) => {
                    sqlx::query_as(&format!(
                        "{CLOSURE_SELECT} WHERE country = $1 ORDER BY closed_on"
                    ))
                    .bind(cc)
                    .fetch_all(p)
                    .await?
                }
                None => {
                    sqlx::query_as(&format!("{CLOSURE_SELECT} ORDER BY country, closed_on"))
                        .fetch_all(p)
                        .await?
                }
            }
        }))
    }

    /// Opens a closed day again; returns the closure removed.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn delete_closure(
        &self,
        actor: &Actor,
        country: &str,
        date: NaiveDate,
        reason: Option<&str>,
    ) -> Result<Closure> {
        let cc = calendar_of(country)?.country().to_string();
        retry(|| async {
            let mut tx = self.begin().await?;
            let cur = closure_in_tx(&mut tx, &cc, date)
                .await?
                .ok_or_else(|| StoreError::not_found("closure", format!("{cc} {date}")))?;
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM calendar_closures WHERE country = $1 AND closed_on = $2"
            )
            .bind(&cc)
            .bind(date)
            .execute(&mut *c)
            .await?
            .rows_affected());
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "closure.delete",
                    entity: "closure",
                    entity_id: None,
                    subject: Some(subject(&cur)),
                    changes: json!({
                        "country": [cur.country, null],
                        "date": [cur.date, null],
                        "reason": [cur.reason, null],
                    }),
                    reason,
                },
            )
            .await?;
            tx.commit().await?;
            Ok(cur)
        })
        .await
    }

    /// The working-day calendar of `country` with the closures added to it.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn calendar(&self, country: &str) -> Result<Calendar> {
        let cal = calendar_of(country)?;
        let days: Vec<NaiveDate> = on!(self, |p| sqlx::query_scalar(
            "SELECT closed_on FROM calendar_closures WHERE country = $1"
        )
        .bind(cal.country())
        .fetch_all(p)
        .await?);
        Ok(cal.with_closures(days))
    }
}
