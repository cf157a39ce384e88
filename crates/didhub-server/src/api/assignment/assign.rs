//! Packages, client packages, assignment and routing.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use chrono::NaiveDate;
use didhub_core::assignment::{PackageState, Route};
use didhub_core::number::{Country, NumberType};
use didhub_store::assignment::assign::{AssignRequest, ClientPackage, NewPackage, Package};
use didhub_store::Did;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::{AppState, Principal};

/// The package catalog.
#[utoipa::path(get, path = "/api/v1/packages", tag = "assignment", responses((status = 200, body = Vec<Package>)))]
pub async fn list_packages(State(s): State<AppState>) -> ApiResult<Json<Vec<Package>>> {
    Ok(Json(s.store.assignment().list_packages().await?))
}

/// Create a package: how many DIDs, which qualify (tag, country, type), prices. Accepts
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/packages", tag = "assignment", request_body = NewPackage,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, body = Package),
    (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_package(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Json(b): Json<NewPackage>,
) -> ApiResult<Response> {
    crate::api::idempotent(s, p, &headers, b, |s, p, b| async move {
        let v = s.store.assignment().create_package(&p.actor(), &b).await?;
        Ok((StatusCode::CREATED, v))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/packages/{id}", tag = "assignment", params(("id" = Uuid, Path)),
    responses((status = 200, body = Package), (status = 404, body = Problem)))]
pub async fn get_package(
    State(s): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<impl axum::response::IntoResponse> {
    let v = s.store.assignment().get_package(id).await?;
    Ok(([crate::api::etag(v.version)], Json(v)))
}

/// Replace a package's definition (`If-Match` required: 428 without it, 412 when stale). Its rule
/// applies to assignments from
/// now on; the allowance cannot go below what one of its client packages holds.
#[utoipa::path(put, path = "/api/v1/packages/{id}", tag = "assignment", params(("id" = Uuid, Path),
    ("If-Match" = String, Header)), request_body = NewPackage, responses((status = 200, body = Package),
    (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem),
    (status = 422, body = Problem), (status = 428, body = Problem)))]
pub async fn update_package(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<NewPackage>,
) -> ApiResult<impl axum::response::IntoResponse> {
    let version = crate::api::if_match(&headers)?.ok_or_else(|| {
        ApiError::PreconditionRequired(
            "send If-Match with the package's version (its ETag) to replace it".into(),
        )
    })?;
    let v = s
        .store
        .assignment()
        .update_package(&p.actor(), id, Some(version), &b)
        .await?;
    Ok(([crate::api::etag(v.version)], Json(v)))
}

/// Delete a package; refused while a client package (terminated ones too) refers to it.
#[utoipa::path(delete, path = "/api/v1/packages/{id}", tag = "assignment", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_package(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    s.store.assignment().delete_package(&p.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CpQuery {
    pub customer_id: Option<Uuid>,
}

/// Client packages (partner users: their customers').
#[utoipa::path(get, path = "/api/v1/client-packages", tag = "assignment", params(CpQuery),
    responses((status = 200, body = Vec<ClientPackage>)))]
pub async fn list_client_packages(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<CpQuery>,
) -> ApiResult<Json<Vec<ClientPackage>>> {
    Ok(Json(
        s.store
            .assignment()
            .list_client_packages(p.scope(), q.customer_id)
            .await?,
    ))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CpBody {
    pub customer_id: Uuid,
    pub package_id: Uuid,
    pub start_date: NaiveDate,
}

/// Assign a package to a customer: active, or `pending` until a start date still to come
/// (its DIDs may be assigned meanwhile and route as unreachable, reason `pending`, until that
/// day). Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/client-packages", tag = "assignment", request_body = CpBody,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, body = ClientPackage),
    (status = 422, body = Problem)))]
pub async fn create_client_package(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Json(b): Json<CpBody>,
) -> ApiResult<Response> {
    crate::api::idempotent(s, p, &headers, b, |s, p, b| async move {
        let v = s
            .store
            .assignment()
            .create_client_package(&p.actor(), b.customer_id, b.package_id, b.start_date)
            .await?;
        Ok((StatusCode::CREATED, v))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/client-packages/{id}", tag = "assignment", params(("id" = Uuid, Path)),
    responses((status = 200, body = ClientPackage), (status = 404, body = Problem)))]
pub async fn get_client_package(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<impl axum::response::IntoResponse> {
    let v = s
        .store
        .assignment()
        .get_client_package(p.scope(), id)
        .await?;
    Ok(([crate::api::etag(v.version)], Json(v)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    pub state: PackageState,
}

/// Change the state: `inactive` puts its DIDs on hold (routing unreachable) for the hold
/// period, `active` brings them back, `terminated` releases them to their after-hold status.
/// `If-Match` (the version) is honoured.
#[utoipa::path(patch, path = "/api/v1/client-packages/{id}", tag = "assignment", params(("id" = Uuid, Path),
    ("If-Match" = Option<String>, Header)), request_body = StateBody, responses((status = 200,
    body = ClientPackage), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422,
    body = Problem)))]
pub async fn set_state(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<StateBody>,
) -> ApiResult<impl axum::response::IntoResponse> {
    let (cp, _) = s
        .store
        .assignment()
        .set_client_package_state_if(
            &p.actor(),
            id,
            b.state,
            s.hold,
            crate::api::if_match(&headers)?,
        )
        .await?;
    Ok(([crate::api::etag(cp.version)], Json(cp)))
}

/// Assign in-stock DIDs to the customer under this package, with a routing destination.
/// Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/client-packages/{id}/dids", tag = "assignment", params(("id" = Uuid,
    Path), ("Idempotency-Key" = Option<String>, Header)), request_body = AssignRequest,
    responses((status = 200, body = Vec<Did>), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn assign(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<AssignRequest>,
) -> ApiResult<Response> {
    crate::api::idempotent(s, p, &headers, (id, b), |s, p, (id, b)| async move {
        let dids = s.store.assignment().assign_dids(&p.actor(), id, &b).await?;
        Ok((StatusCode::OK, dids))
    })
    .await
}

/// Unassign a DID: it goes to its after-hold status and loses customer and routing. An optional
/// `?reason=` (or a JSON body `{"reason": …}`) is kept in the audit entry.
#[utoipa::path(delete, path = "/api/v1/client-packages/{id}/dids/{did_id}", tag = "assignment",
    params(("id" = Uuid, Path), ("did_id" = Uuid, Path), crate::api::dids::ReasonQuery),
    responses((status = 200, body = Did), (status = 404, body = Problem)))]
pub async fn unassign(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((id, did)): Path<(Uuid, Uuid)>,
    headers: axum::http::HeaderMap,
    Query(q): Query<crate::api::dids::ReasonQuery>,
    crate::extract::RawBody(body): crate::extract::RawBody,
) -> ApiResult<Json<Did>> {
    let reason = q.with_body(&headers, &body)?;
    let d = s
        .store
        .assignment()
        .unassign_did(&p.actor(), id, did, reason.as_deref())
        .await?;
    Ok(Json(d))
}

/// A customer's DIDs (assigned or on hold).
#[utoipa::path(get, path = "/api/v1/customers/{id}/dids", tag = "assignment", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Did>), (status = 404, body = Problem)))]
pub async fn customer_dids(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<Did>>> {
    Ok(Json(
        s.store.assignment().customer_dids(p.scope(), id).await?,
    ))
}

/// Where a call to this number goes: the destination of an assigned DID, or unreachable
/// (on hold, its client package pending, porting, not assigned, unknown). Answered from memory.
#[utoipa::path(get, path = "/api/v1/routing/{number}", tag = "assignment", params(("number" = String, Path)),
    responses((status = 200, body = Route), (status = 422, body = Problem)))]
pub async fn routing(
    State(s): State<AppState>,
    Path(number): Path<String>,
) -> ApiResult<Json<Route>> {
    let e164 = didhub_core::number::E164::lookup_key(&number)
        .map_err(|e| ApiError::field("number", format!("'{number}': {e}")))?;
    Ok(Json(s.routing.lookup(&e164)))
}

/// A block request and where its numbers route (fields listed rather than flattened from
/// `BlockRequest`, so that a bad value is reported under its own name).
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockBody {
    /// 10, 100, 1000 or 10000.
    pub size: u32,
    /// ISO 3166 alpha-2.
    #[schema(value_type = String)]
    pub country: Country,
    /// e.g. `fixed_line`.
    #[schema(value_type = String)]
    pub number_type: NumberType,
    /// Only from this operator (default: any; a block never mixes operators).
    pub operator_id: Option<Uuid>,
    /// Only numbers starting with this (`+3220`: a country and area code).
    pub within: Option<String>,
    /// `pbx:<id>` or a SIP URI for every number of the block.
    pub destination: String,
    pub reason: Option<String>,
}

/// Allocate a block of 10, 100, 1,000 or 10,000 consecutive in-stock numbers (same operator,
/// aligned to the block size) to this client package, best fit. Nothing found: 409 saying what
/// is available.
#[utoipa::path(post, path = "/api/v1/client-packages/{id}/blocks", tag = "assignment", params(("id" = Uuid,
    Path), ("Idempotency-Key" = Option<String>, Header)), request_body = BlockBody, responses((status = 200,
    body = didhub_store::assignment::allocate::Allocated), (status = 409, body = Problem), (status = 422,
    body = Problem)))]
pub async fn allocate_block(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<BlockBody>,
) -> ApiResult<Response> {
    crate::api::idempotent(s, p, &headers, (id, b), |s, p, (id, b)| async move {
        let (a, _) = s
            .store
            .assignment()
            .allocate_block(
                &p.actor(),
                id,
                &didhub_store::assignment::blocks::BlockRequest {
                    size: b.size,
                    country: b.country,
                    number_type: b.number_type,
                    operator_id: b.operator_id,
                    within: b.within,
                },
                &b.destination,
                b.reason.as_deref(),
            )
            .await?;
        Ok((StatusCode::OK, a))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityQuery {
    #[param(value_type = String)]
    pub country: Country,
    #[param(value_type = String)]
    pub number_type: NumberType,
    pub operator_id: Option<Uuid>,
    /// Only numbers starting with this (`+3220`: a country and area code).
    pub within: Option<String>,
}

/// Free numbers and whole free blocks (100 … 100,000) for a country and type.
#[utoipa::path(get, path = "/api/v1/stock/blocks", tag = "assignment", params(AvailabilityQuery),
    responses((status = 200, body = Vec<didhub_store::assignment::blocks::Availability>), (status = 422,
    body = Problem)))]
pub async fn availability(
    State(s): State<AppState>,
    Query(q): Query<AvailabilityQuery>,
) -> ApiResult<Json<Vec<didhub_store::assignment::blocks::Availability>>> {
    let req = didhub_store::assignment::blocks::BlockRequest {
        size: 10,
        country: q.country,
        number_type: q.number_type,
        operator_id: q.operator_id,
        within: q.within,
    };
    Ok(Json(s.store.assignment().block_availability(&req).await?))
}
