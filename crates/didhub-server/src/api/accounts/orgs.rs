//! Partners, customers and PBXs. Partner users see only their partner's; others are 404.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use didhub_store::accounts::orgs::{Customer, NewPbx, Partner, Pbx};
use serde::Deserialize;
use uuid::Uuid;

use crate::api::{etag, if_match};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::{AppState, Principal};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    pub name: String,
}

/// Partners: staff see all, a partner user sees its own.
#[utoipa::path(get, path = "/api/v1/partners", tag = "organisations", responses((status = 200, body = Vec<Partner>)))]
pub async fn list_partners(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Vec<Partner>>> {
    Ok(Json(s.store.accounts().list_partners(p.scope()).await?))
}

/// Create a partner (reseller).
#[utoipa::path(post, path = "/api/v1/partners", tag = "organisations", request_body = NameBody,
    responses((status = 201, body = Partner), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_partner(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(b): Json<NameBody>,
) -> ApiResult<impl IntoResponse> {
    let v = s
        .store
        .accounts()
        .create_partner(&p.actor(), &b.name)
        .await?;
    Ok((StatusCode::CREATED, [etag(v.version)], Json(v)))
}

#[utoipa::path(get, path = "/api/v1/partners/{id}", tag = "organisations", params(("id" = Uuid, Path)),
    responses((status = 200, body = Partner), (status = 404, body = Problem)))]
pub async fn get_partner(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<impl IntoResponse> {
    let v = s.store.accounts().get_partner(p.scope(), id).await?;
    Ok(([etag(v.version)], Json(v)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    pub partner_id: Option<Uuid>,
}

/// Customers (with the derived `active` flag).
#[utoipa::path(get, path = "/api/v1/customers", tag = "organisations", params(CustomerQuery),
    responses((status = 200, body = Vec<Customer>)))]
pub async fn list_customers(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<CustomerQuery>,
) -> ApiResult<Json<Vec<Customer>>> {
    Ok(Json(
        s.store
            .accounts()
            .list_customers(p.scope(), q.partner_id)
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    /// Required for staff; partner users create customers of their own partner.
    pub partner_id: Option<Uuid>,
    pub name: String,
}

/// Create a customer.
#[utoipa::path(post, path = "/api/v1/customers", tag = "organisations", request_body = CustomerBody,
    responses((status = 201, body = Customer), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_customer(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(b): Json<CustomerBody>,
) -> ApiResult<impl IntoResponse> {
    let partner = b
        .partner_id
        .or(p.scope().partner())
        .ok_or_else(|| ApiError::field("partner_id", "required"))?;
    let v = s
        .store
        .accounts()
        .create_customer(&p.actor(), p.scope(), partner, &b.name)
        .await?;
    Ok((StatusCode::CREATED, [etag(v.version)], Json(v)))
}

#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "organisations", params(("id" = Uuid, Path)),
    responses((status = 200, body = Customer), (status = 404, body = Problem)))]
pub async fn get_customer(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<impl IntoResponse> {
    let v = s.store.accounts().get_customer(p.scope(), id).await?;
    Ok(([etag(v.version)], Json(v)))
}

/// Rename a customer (`If-Match` honoured).
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "organisations", params(("id" = Uuid, Path),
    ("If-Match" = Option<String>, Header)), request_body = NameBody, responses((status = 200, body = Customer),
    (status = 404, body = Problem), (status = 412, body = Problem)))]
pub async fn update_customer(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<NameBody>,
) -> ApiResult<impl IntoResponse> {
    let v = s
        .store
        .accounts()
        .rename_customer(&p.actor(), p.scope(), id, &b.name, if_match(&headers)?)
        .await?;
    Ok(([etag(v.version)], Json(v)))
}

/// Delete a customer without PBXs or orders.
#[utoipa::path(delete, path = "/api/v1/customers/{id}", tag = "organisations", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_customer(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.store
        .accounts()
        .delete_customer(&p.actor(), p.scope(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PbxQuery {
    pub customer_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/pbxs", tag = "organisations", params(PbxQuery), responses((status = 200,
    body = Vec<Pbx>)))]
pub async fn list_pbxs(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<PbxQuery>,
) -> ApiResult<Json<Vec<Pbx>>> {
    Ok(Json(
        s.store
            .accounts()
            .list_pbxs(p.scope(), q.customer_id)
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PbxBody {
    pub customer_id: Uuid,
    pub name: String,
    pub serial_number: String,
    pub region: Option<String>,
}

/// Create a PBX for a customer.
#[utoipa::path(post, path = "/api/v1/pbxs", tag = "organisations", request_body = PbxBody,
    responses((status = 201, body = Pbx), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 422, body = Problem)))]
pub async fn create_pbx(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(b): Json<PbxBody>,
) -> ApiResult<impl IntoResponse> {
    let v = s
        .store
        .accounts()
        .create_pbx(
            &p.actor(),
            p.scope(),
            b.customer_id,
            &NewPbx {
                name: b.name,
                serial_number: b.serial_number,
                region: b.region,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, [etag(v.version)], Json(v)))
}

#[utoipa::path(get, path = "/api/v1/pbxs/{id}", tag = "organisations", params(("id" = Uuid, Path)),
    responses((status = 200, body = Pbx), (status = 404, body = Problem)))]
pub async fn get_pbx(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<impl IntoResponse> {
    let v = s.store.accounts().get_pbx(p.scope(), id).await?;
    Ok(([etag(v.version)], Json(v)))
}

/// Edit a PBX (`If-Match` honoured).
#[utoipa::path(patch, path = "/api/v1/pbxs/{id}", tag = "organisations", params(("id" = Uuid, Path),
    ("If-Match" = Option<String>, Header)), request_body = NewPbx, responses((status = 200, body = Pbx),
    (status = 404, body = Problem), (status = 412, body = Problem)))]
pub async fn update_pbx(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<NewPbx>,
) -> ApiResult<impl IntoResponse> {
    let v = s
        .store
        .accounts()
        .update_pbx(&p.actor(), p.scope(), id, &b, if_match(&headers)?)
        .await?;
    Ok(([etag(v.version)], Json(v)))
}

/// Rename a partner (`If-Match` honoured).
#[utoipa::path(patch, path = "/api/v1/partners/{id}", tag = "organisations", params(("id" = Uuid, Path),
    ("If-Match" = Option<String>, Header)), request_body = NameBody, responses((status = 200, body = Partner),
    (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn update_partner(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<NameBody>,
) -> ApiResult<impl IntoResponse> {
    let v = s
        .store
        .accounts()
        .rename_partner(&p.actor(), id, &b.name, if_match(&headers)?)
        .await?;
    Ok(([etag(v.version)], Json(v)))
}

/// Delete a partner without customers or users.
#[utoipa::path(delete, path = "/api/v1/partners/{id}", tag = "organisations", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_partner(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.store.accounts().delete_partner(&p.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a PBX without services or DIDs routed to it (its license goes with it).
#[utoipa::path(delete, path = "/api/v1/pbxs/{id}", tag = "organisations", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_pbx(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.store
        .accounts()
        .delete_pbx(&p.actor(), p.scope(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
