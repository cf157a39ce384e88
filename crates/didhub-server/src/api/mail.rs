use axum::extract::State;
use didhub_core::mail::MailState;
use didhub_store::mail::OutboxMail;
use didhub_store::Page;
use serde::Deserialize;

use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Query};
use crate::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// Only mails in this state: `pending` (waiting for an attempt), `sent`, `failed` (given
    /// up after the last attempt).
    pub state: Option<MailState>,
    /// Page size (1 to 1000, default 100).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The mail outbox, newest first: each mail's recipients, subject and text, Message-ID, the
/// order or ticket it is about, its state, attempts, next attempt and last error.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "mail", params(OutboxQuery), responses((status = 200,
    body = Page<OutboxMail>), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<OutboxQuery>,
) -> ApiResult<Json<Page<OutboxMail>>> {
    Ok(Json(
        s.store
            .mail()
            .list(q.state, q.limit.unwrap_or(100), q.cursor.as_deref())
            .await?,
    ))
}
