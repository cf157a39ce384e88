use axum::extract::State;
use didhub_store::{AuditEntry, AuditFilter, Page};
use serde::Deserialize;

use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Query};
use crate::AppState;

/// The filter's fields are listed here rather than flattened from `AuditFilter`: a flattened
/// struct loses the name of the parameter a bad value was given for.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub entity: Option<String>,
    pub entity_id: Option<uuid::Uuid>,
    pub action: Option<String>,
    pub actor: Option<String>,
    /// The number (or operator name) the entry is about.
    pub subject: Option<String>,
    /// RFC 3339, e.g. `2026-11-01T00:00:00Z`.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// RFC 3339; entries before this instant.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Page size (1 to 1000, default 100).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The global audit log, newest first. Filter by entity, entity id, action, actor, subject
/// (a number or operator name) and time.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery), responses((status = 200,
    body = Page<AuditEntry>), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    Ok(Json(
        s.store
            .audit()
            .list_audit(
                &AuditFilter {
                    entity: q.entity,
                    entity_id: q.entity_id,
                    action: q.action,
                    actor: q.actor,
                    subject: q.subject,
                    since: q.since,
                    until: q.until,
                },
                q.limit.unwrap_or(100),
                q.cursor.as_deref(),
            )
            .await?,
    ))
}
