use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use didhub_store::Operator;
use serde::Deserialize;
use uuid::Uuid;

use crate::api::{etag, if_match};
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::{AppState, Principal};

#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorBody {
    /// Name of the DID provider; unique, case-insensitively.
    pub name: String,
}

/// List operators (DID providers) with their DID counts.
#[utoipa::path(get, path = "/api/v1/operators", tag = "operators", responses((status = 200,
    body = Vec<Operator>), (status = 401, body = Problem)))]
pub async fn list(State(s): State<AppState>) -> ApiResult<Json<Vec<Operator>>> {
    Ok(Json(s.store.inventory().list_operators().await?))
}

/// Create an operator.
#[utoipa::path(post, path = "/api/v1/operators", tag = "operators", request_body = OperatorBody,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, body = Operator),
    (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Json(b): Json<OperatorBody>,
) -> ApiResult<axum::response::Response> {
    crate::api::idempotent(s, p, &headers, b, |s, p, b| async move {
        let o = s
            .store
            .inventory()
            .create_operator(&p.actor(), &b.name)
            .await?;
        Ok((
            StatusCode::CREATED,
            serde_json::to_value(o).unwrap_or_default(),
        ))
    })
    .await
}

/// Get one operator.
#[utoipa::path(get, path = "/api/v1/operators/{id}", tag = "operators", params(("id" = Uuid, Path)),
    responses((status = 200, body = Operator), (status = 404, body = Problem)))]
pub async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<impl IntoResponse> {
    let o = s.store.inventory().get_operator(id).await?;
    Ok(([etag(o.version)], Json(o)))
}

/// Rename an operator. Send `If-Match` with the version you read to avoid lost updates.
#[utoipa::path(patch, path = "/api/v1/operators/{id}", tag = "operators", params(("id" = Uuid, Path),
    ("If-Match" = Option<String>, Header)), request_body = OperatorBody, responses((status = 200,
    body = Operator), (status = 412, body = Problem), (status = 409, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<OperatorBody>,
) -> ApiResult<impl IntoResponse> {
    let o = s
        .store
        .inventory()
        .rename_operator(&p.actor(), id, &b.name, if_match(&headers)?)
        .await?;
    Ok(([etag(o.version)], Json(o)))
}

/// Delete an operator; refused while DIDs reference it.
#[utoipa::path(delete, path = "/api/v1/operators/{id}", tag = "operators", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.store.inventory().delete_operator(&p.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
