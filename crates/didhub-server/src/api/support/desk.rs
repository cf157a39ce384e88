//! The desk's own routes: the tickets at risk of missing their first response and those that
//! missed it, attainment per class, centre and month, and the support centres partners
//! belong to.

use axum::extract::State;
use axum::Extension;
use chrono::{Datelike, Months, Utc};
use didhub_store::support::centres::SupportCentre;
use didhub_store::support::sla::{SlaReportRow, TicketSummary};
use didhub_store::Page;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::{AppState, Principal};

/// Unanswered tickets whose deadline is near: critical within 15 minutes, standard within 2
/// hours; soonest first.
#[utoipa::path(get, path = "/api/v1/support/at-risk", tag = "support",
    responses((status = 200, body = Vec<TicketSummary>)))]
pub async fn at_risk(State(s): State<AppState>) -> ApiResult<Json<Vec<TicketSummary>>> {
    Ok(Json(s.store.support().at_risk(Utc::now()).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BreachedQuery {
    /// Page size (1 to 1000, default 100).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Unanswered tickets past their first-response deadline, longest overdue first.
#[utoipa::path(get, path = "/api/v1/support/breached", tag = "support", params(BreachedQuery),
    responses((status = 200, body = Page<TicketSummary>), (status = 422, body = Problem)))]
pub async fn breached(
    State(s): State<AppState>,
    Query(q): Query<BreachedQuery>,
) -> ApiResult<Json<Page<TicketSummary>>> {
    Ok(Json(
        s.store
            .support()
            .breached(Utc::now(), q.cursor.as_deref(), q.limit.unwrap_or(100))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// First month, `YYYY-MM` (default: eleven months before `to`).
    pub from: Option<String>,
    /// Last month, `YYYY-MM` (default: this month).
    pub to: Option<String>,
}

/// First-response attainment per month (on each centre's clock), centre and class: tickets,
/// met, breached, still running, and met / (met + breached).
#[utoipa::path(get, path = "/api/v1/support/sla-report", tag = "support", params(ReportQuery),
    responses((status = 200, body = Vec<SlaReportRow>), (status = 422, body = Problem)))]
pub async fn sla_report(
    State(s): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<Vec<SlaReportRow>>> {
    let now = Utc::now();
    let (from, to) = report_months(now, q.from, q.to);
    Ok(Json(s.store.support().sla_report(now, &from, &to).await?))
}

/// The report's months as asked, by default this month and the eleven before it (`to` alone:
/// the twelve months ending there).
pub fn report_months(
    now: chrono::DateTime<Utc>,
    from: Option<String>,
    to: Option<String>,
) -> (String, String) {
    let this = now.date_naive().with_day(1).unwrap_or(now.date_naive());
    let to = to.unwrap_or_else(|| this.format("%Y-%m").to_string());
    let from = from.unwrap_or_else(|| {
        let to_day =
            chrono::NaiveDate::parse_from_str(&format!("{to}-01"), "%Y-%m-%d").unwrap_or(this);
        (to_day - Months::new(11)).format("%Y-%m").to_string()
    });
    (from, to)
}

/// The support centres: each one's zone and the country whose calendar closes its days.
#[utoipa::path(get, path = "/api/v1/support/centres", tag = "support",
    responses((status = 200, body = Vec<SupportCentre>)))]
pub async fn centres(State(s): State<AppState>) -> ApiResult<Json<Vec<SupportCentre>>> {
    Ok(Json(s.store.support().list_centres().await?))
}

/// The support centre a partner belongs to.
#[utoipa::path(get, path = "/api/v1/partners/{id}/support-centre", tag = "support",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SupportCentre), (status = 404, body = Problem)))]
pub async fn partner_centre(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<SupportCentre>> {
    Ok(Json(s.store.support().partner_centre(p.scope(), id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CentreBody {
    /// The centre's code: `europe`, `americas`, …
    pub centre: String,
}

/// Moves a partner to another support centre: its new tickets run on that centre's hours.
#[utoipa::path(put, path = "/api/v1/partners/{id}/support-centre", tag = "support",
    params(("id" = Uuid, Path)), request_body = CentreBody,
    responses((status = 200, body = SupportCentre), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_partner_centre(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    Json(b): Json<CentreBody>,
) -> ApiResult<Json<SupportCentre>> {
    Ok(Json(
        s.store
            .support()
            .set_partner_centre(&p.actor(), id, &b.centre)
            .await?,
    ))
}
