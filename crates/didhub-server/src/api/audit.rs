use axum::extract::State;
use didhub_store::{AuditEntry, AuditFilter, Page};
use serde::Deserialize;

use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Query};
use crate::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[serde(flatten)]
    #[param(inline)]
    pub filter: AuditFilter,
    /// Page size (1 to 1000, default 100).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The global audit log, newest first. Filter by entity, entity id, action, actor, subject
/// (a number or operator name) and time.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery), responses((status = 200, body = Page<AuditEntry>), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    Ok(Json(
        s.store
            .list_audit(&q.filter, q.limit.unwrap_or(100), q.cursor.as_deref())
            .await?,
    ))
}
