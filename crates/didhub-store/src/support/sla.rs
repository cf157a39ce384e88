//! Service levels: the lists support works from (tickets at risk of missing their first
//! response, and those that missed it), and attainment per class, centre and month. The
//! windows are the core's (`didhub_core::ticket::at_risk_window`); the lists read only
//! tickets still awaiting their first response, through the index kept for them.

use chrono::{DateTime, Utc};
use didhub_core::sla::TicketClass;
use didhub_core::ticket::at_risk_window;
use serde::Serialize;
use serde_json::json;

use didhub_core::ticket::{self, SlaStatus, TicketState};
use uuid::Uuid;

use super::{known, Ticket};
use crate::db::sql::{bind_all, decode_cursor, encode_cursor, Param, Sql};
use crate::{on, Page, Result, StoreError, Support};

/// A ticket as support's service-level lists show it: what to act on, without its details
/// (a list of hundreds stays small and quick; the ticket's page has the rest).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TicketSummary {
    pub id: Uuid,
    /// `#N`, as mail subjects tag it.
    pub number: i64,
    pub partner_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub subject: String,
    pub state: TicketState,
    pub class: TicketClass,
    pub centre: String,
    pub assignee_id: Option<Uuid>,
    pub first_response_due: DateTime<Utc>,
    /// Where the ticket stands against its deadline now.
    pub sla: SlaStatus,
    pub created_at: DateTime<Utc>,
}

impl From<&Ticket> for TicketSummary {
    fn from(t: &Ticket) -> Self {
        TicketSummary {
            id: t.id,
            number: t.number,
            partner_id: t.partner_id,
            customer_id: t.customer_id,
            subject: t.subject.clone(),
            state: t.state,
            class: t.class,
            centre: t.centre.clone(),
            assignee_id: t.assignee_id,
            first_response_due: t.first_response_due,
            sla: t.sla,
            created_at: t.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: Uuid,
    number: i64,
    partner_id: Uuid,
    customer_id: Option<Uuid>,
    subject: String,
    state: String,
    class: String,
    centre: String,
    assignee_id: Option<Uuid>,
    first_response_due: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl SummaryRow {
    fn into_summary(self, now: DateTime<Utc>) -> TicketSummary {
        let class = known(&self.class, TicketClass::Standard);
        TicketSummary {
            id: self.id,
            number: self.number,
            partner_id: self.partner_id,
            customer_id: self.customer_id,
            subject: self.subject,
            state: known(&self.state, TicketState::Open),
            class,
            centre: self.centre,
            assignee_id: self.assignee_id,
            first_response_due: self.first_response_due,
            // Unanswered, by the lists' own condition.
            sla: ticket::sla_status(class, self.first_response_due, None, now),
            created_at: self.created_at,
        }
    }
}

const SUMMARY_SELECT: &str = "SELECT t.id, t.ref AS number, t.partner_id, t.customer_id, \
    t.subject, t.state, t.class, t.centre, t.assignee_id, t.first_response_due, t.created_at \
    FROM tickets t";

/// Unanswered tickets that are not closed (the partial index `tickets_awaiting`).
const AWAITING: &str = " WHERE t.first_response_at IS NULL AND t.state <> 'closed'";

/// One line of the SLA report.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SlaReportRow {
    /// `YYYY-MM`, on the centre's clock at the ticket's creation.
    pub month: String,
    pub centre: String,
    pub class: TicketClass,
    pub tickets: i64,
    /// First response in time.
    pub met: i64,
    /// First response late, or none and the deadline past.
    pub breached: i64,
    /// No first response yet, deadline still ahead.
    pub running: i64,
    /// met / (met + breached); null while nothing is decided.
    pub attainment: Option<f64>,
}

impl Support<'_> {
    /// Unanswered tickets whose deadline is near: a critical one within 15 minutes, a
    /// standard one within 2 hours; soonest first.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn at_risk(&self, now: DateTime<Utc>) -> Result<Vec<TicketSummary>> {
        let (c, s) = (TicketClass::Critical, TicketClass::Standard);
        let mut sql = Sql::new(SUMMARY_SELECT);
        sql.push(AWAITING);
        sql.push(" AND t.first_response_due > ")
            .bind(Param::Time(now));
        let bound = now + at_risk_window(c).max(at_risk_window(s));
        sql.push(" AND t.first_response_due <= ")
            .bind(Param::Time(bound));
        sql.push(" AND ((t.class = 'critical' AND t.first_response_due <= ")
            .bind(Param::Time(now + at_risk_window(c)));
        sql.push(") OR (t.class = 'standard' AND t.first_response_due <= ")
            .bind(Param::Time(now + at_risk_window(s)));
        sql.push(")) ORDER BY t.first_response_due, t.id");
        let rows: Vec<SummaryRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(p)
            .await?);
        Ok(rows.into_iter().map(|r| r.into_summary(now)).collect())
    }

    /// Unanswered tickets past their deadline, longest overdue first, a page of `limit`.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn breached(
        &self,
        now: DateTime<Utc>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<TicketSummary>> {
        let mut sql = Sql::new(SUMMARY_SELECT);
        sql.push(AWAITING);
        sql.push(" AND t.first_response_due <= ")
            .bind(Param::Time(now));
        if let Some(c) = cursor {
            let bad = || StoreError::invalid("cursor", "not a cursor returned by this API");
            let v = decode_cursor(c)?;
            let due: DateTime<Utc> = v[0].as_str().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let id: uuid::Uuid = v[1].as_str().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            sql.push(" AND (t.first_response_due, t.id) > (")
                .bind(Param::Time(due))
                .push(", ")
                .bind(Param::Uuid(id))
                .push(")");
        }
        let limit = limit.clamp(1, 1000);
        sql.push(&format!(
            " ORDER BY t.first_response_due, t.id LIMIT {}",
            limit + 1
        ));
        let rows: Vec<SummaryRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(p)
            .await?);
        let mut items: Vec<TicketSummary> = rows.into_iter().map(|r| r.into_summary(now)).collect();
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items
                .last()
                .map(|t| encode_cursor(&json!([t.first_response_due, t.id])))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// SLA attainment per month (`from` to `to`, `YYYY-MM`, both included), centre and
    /// class.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn sla_report(
        &self,
        now: DateTime<Utc>,
        from: &str,
        to: &str,
    ) -> Result<Vec<SlaReportRow>> {
        let month = |field: &str, v: &str| {
            chrono::NaiveDate::parse_from_str(&format!("{}-01", v.trim()), "%Y-%m-%d")
                .map(|d| d.format("%Y-%m").to_string())
                .map_err(|_| StoreError::invalid(field, format!("'{v}' is not a month (YYYY-MM)")))
        };
        let (from, to) = (month("from", from)?, month("to", to)?);
        if from > to {
            return Err(StoreError::invalid(
                "to",
                "the report ends before it starts",
            ));
        }
        let rows: Vec<(String, String, String, i64, i64, i64)> = on!(self, |p| sqlx::query_as(
            "SELECT sla_month, centre, class, count(*), \
             sum(CASE WHEN first_response_at <= first_response_due THEN 1 ELSE 0 END), \
             sum(CASE WHEN first_response_at > first_response_due OR (first_response_at IS NULL \
             AND first_response_due <= $3) THEN 1 ELSE 0 END) \
             FROM tickets WHERE sla_month >= $1 AND sla_month <= $2 \
             GROUP BY sla_month, centre, class ORDER BY sla_month, centre, class"
        )
        .bind(&from)
        .bind(&to)
        .bind(now)
        .fetch_all(p)
        .await?);
        Ok(rows
            .into_iter()
            .map(
                |(month, centre, class, tickets, met, breached)| SlaReportRow {
                    month,
                    centre,
                    class: class.parse().unwrap_or(TicketClass::Standard),
                    tickets,
                    met,
                    breached,
                    running: tickets - met - breached,
                    attainment: (met + breached > 0).then(|| met as f64 / (met + breached) as f64),
                },
            )
            .collect())
    }
}
