//! Licenses, the service catalog and co-terminated services.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::NaiveDate;
use didhub_core::licensing::{Quote, TermKind};
use didhub_store::licensing::licenses::{
    Cancelled, License, Price, Service, ServiceKind, ServiceQuote, ServiceRequest,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::{AppState, Principal};

/// The PBX's license (null when it has none).
#[utoipa::path(get, path = "/api/v1/pbxs/{id}/license", tag = "licenses", params(("id" = Uuid, Path)),
    responses((status = 200, body = Option<License>), (status = 404, body = Problem)))]
pub async fn get_license(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Option<License>>> {
    Ok(Json(s.store.licensing().get_license(p.scope(), id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseBody {
    pub term_kind: TermKind,
    /// Start of the current period; the expiry is computed.
    pub period_start: NaiveDate,
}

/// Set the PBX's license: term kind and current period start.
#[utoipa::path(put, path = "/api/v1/pbxs/{id}/license", tag = "licenses", params(("id" = Uuid, Path)),
    request_body = LicenseBody, responses((status = 200, body = License), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn set_license(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    Json(b): Json<LicenseBody>,
) -> ApiResult<Json<License>> {
    Ok(Json(
        s.store
            .licensing()
            .set_license(&p.actor(), p.scope(), id, b.term_kind, b.period_start)
            .await?,
    ))
}

/// Renew: the next period starts at the expiry; every service renews at full price. Send an
/// `Idempotency-Key`: a retried renewal must not move the license on twice (and bill twice).
#[utoipa::path(post, path = "/api/v1/pbxs/{id}/license/renew", tag = "licenses", params(("id" = Uuid, Path),
    ("Idempotency-Key" = Option<String>, Header)), responses((status = 200, body = License), (status = 404,
    body = Problem), (status = 422, body = Problem)))]
pub async fn renew_license(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let request = serde_json::json!({ "renew": id });
    crate::api::idempotent(s, p, &headers, request, move |s, p, _| async move {
        let l = s
            .store
            .licensing()
            .renew_license(&p.actor(), p.scope(), id)
            .await?;
        Ok((StatusCode::OK, l))
    })
    .await
}

/// Services of a PBX with their charges.
#[utoipa::path(get, path = "/api/v1/pbxs/{id}/services", tag = "licenses", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Service>), (status = 404, body = Problem)))]
pub async fn list_services(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<Service>>> {
    Ok(Json(
        s.store.licensing().list_services(p.scope(), id).await?,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AddedService {
    pub service: Service,
    pub quote: ServiceQuote,
}

/// Add a service: it takes the license's term kind and expiry and costs its pro-rata price.
/// Accepts `Idempotency-Key` (a retried add must not bill a second service).
#[utoipa::path(post, path = "/api/v1/pbxs/{id}/services", tag = "licenses", params(("id" = Uuid, Path),
    ("Idempotency-Key" = Option<String>, Header)), request_body = ServiceRequest, responses((status = 201,
    body = AddedService), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_service(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<ServiceRequest>,
) -> ApiResult<Response> {
    crate::api::idempotent(s, p, &headers, (id, b), |s, p, (id, b)| async move {
        let (service, quote) = s
            .store
            .licensing()
            .add_service(&p.actor(), p.scope(), id, &b)
            .await?;
        Ok((StatusCode::CREATED, AddedService { service, quote }))
    })
    .await
}

/// Cancel a service of a PBX today: it goes with its charges, and each charge whose period has
/// days left is credited pro rata for them by the rule that charged it (`credits`, `credit`);
/// the audit entry `service.cancel` keeps the service, its charges and the credit. A PBX with
/// no services left can be deleted. An optional `?reason=` (or a JSON body `{"reason": …}`)
/// is kept in the audit entry.
#[utoipa::path(delete, path = "/api/v1/pbxs/{id}/services/{service_id}", tag = "licenses", params(("id" = Uuid,
    Path), ("service_id" = Uuid, Path), crate::api::dids::ReasonQuery), responses((status = 200,
    body = Cancelled), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn cancel_service(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((id, service)): Path<(Uuid, Uuid)>,
    headers: HeaderMap,
    Query(q): Query<crate::api::dids::ReasonQuery>,
    crate::extract::RawBody(body): crate::extract::RawBody,
) -> ApiResult<Json<Cancelled>> {
    let reason = q.with_body(&headers, &body)?;
    Ok(Json(
        s.store
            .licensing()
            .cancel_service(&p.actor(), p.scope(), id, service, reason.as_deref())
            .await?,
    ))
}

/// Price a service for a PBX without adding it.
#[utoipa::path(post, path = "/api/v1/pbxs/{id}/services/preview", tag = "licenses", params(("id" = Uuid,
    Path)), request_body = ServiceRequest, responses((status = 200, body = ServiceQuote), (status = 404,
    body = Problem), (status = 422, body = Problem)))]
pub async fn preview_service(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    Json(b): Json<ServiceRequest>,
) -> ApiResult<Json<ServiceQuote>> {
    Ok(Json(
        s.store
            .licensing()
            .quote_service(p.scope(), id, &b)
            .await?
            .1,
    ))
}

/// The service catalog.
#[utoipa::path(get, path = "/api/v1/service-kinds", tag = "licenses", responses((status = 200,
    body = Vec<ServiceKind>)))]
pub async fn list_service_kinds(State(s): State<AppState>) -> ApiResult<Json<Vec<ServiceKind>>> {
    Ok(Json(s.store.licensing().list_service_kinds().await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceKindBody {
    pub code: String,
    pub name: String,
    pub prices: Vec<Price>,
}

/// Add a service kind with its list prices per term kind and currency.
#[utoipa::path(post, path = "/api/v1/service-kinds", tag = "licenses", request_body = ServiceKindBody,
    responses((status = 201, body = ServiceKind), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_service_kind(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(b): Json<ServiceKindBody>,
) -> ApiResult<impl IntoResponse> {
    let k = s
        .store
        .licensing()
        .create_service_kind(&p.actor(), &b.code, &b.name, &b.prices)
        .await?;
    Ok((StatusCode::CREATED, Json(k)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    pub term_kind: TermKind,
    pub period_start: NaiveDate,
    pub service_start: NaiveDate,
    #[schema(value_type = String, example = "1200.00")]
    #[serde(deserialize_with = "didhub_core::money::deserialize_amount")]
    pub price: rust_decimal::Decimal,
    /// ISO 4217 code (default EUR); sets the rounding unit.
    pub currency: Option<String>,
}

/// The pro-rata calculation on its own (what `didhub license quote` prints).
#[utoipa::path(post, path = "/api/v1/licenses/quote", tag = "licenses", request_body = QuoteBody,
    responses((status = 200, body = Quote), (status = 422, body = Problem)))]
pub async fn quote(Json(b): Json<QuoteBody>) -> ApiResult<Json<Quote>> {
    let cur = didhub_core::money::currency(b.currency.as_deref().unwrap_or("EUR"))
        .map_err(|e| ApiError::field("currency", e))?;
    didhub_core::licensing::quote(
        b.term_kind,
        b.period_start,
        b.service_start,
        b.price,
        didhub_core::money::minor_units(cur),
    )
    .map(Json)
    .map_err(|e| ApiError::field(e.field(), e))
}
