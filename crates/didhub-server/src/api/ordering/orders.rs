//! Orders: a partner's users create, edit, submit, sign and cancel their customers' orders;
//! operations register, schedule, complete and reject them. Every change of state is one
//! store call (`store.ordering()`), which applies the core's transition rule.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use chrono::{DateTime, NaiveDate, Utc};
use didhub_core::order::{OrderBody, Problem as OrderProblem};
use didhub_core::order_flow::{RejectReason, Side};
use didhub_store::ordering::fulfil::{CompleteOrder, RegisterOrder};
use didhub_store::ordering::orders::{Order, OrderDetail, OrderEvent, OrderFilter};
use didhub_store::Page;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{etag, if_match};
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::{AppState, Principal};

/// A new order: the customer it is for, and the order's fields.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewOrder {
    pub customer_id: Uuid,
    #[serde(flatten)]
    pub order: OrderBody,
}

/// An order with its numbers and what still stops its submission.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderView {
    #[serde(flatten)]
    pub order: OrderDetail,
    /// What the check finds wrong now (empty: it can be submitted), each under its field.
    pub problems: Vec<OrderProblem>,
}

async fn view(s: &AppState, d: OrderDetail) -> ApiResult<OrderView> {
    let problems = if d.order.state.is_editable() {
        s.store.ordering().problems(&d.order, &s.catalog).await?
    } else {
        Vec::new()
    };
    Ok(OrderView { order: d, problems })
}

fn answer(v: OrderView) -> impl IntoResponse {
    ([etag(v.order.order.version)], Json(v))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    /// `quote`, `draft`, `submitted`, `awaiting_documents`, `awaiting_signature`,
    /// `awaiting_stock`, `registered`, `scheduled`, `completed`, `rejected`, `cancelled`.
    pub state: Option<String>,
    pub customer_id: Option<Uuid>,
    /// `overdue` or `at_risk` (operations' lists: the whole list, oldest promise first).
    pub attention: Option<String>,
    /// `newest` (the default) or `oldest` first.
    pub sort: Option<String>,
    /// Page size (1 to 1000, default 100).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl OrderQuery {
    /// The store's filter, as the list reads it (the portal's list of orders reads the same
    /// query string).
    pub fn filter(&self) -> ApiResult<OrderFilter> {
        Ok(OrderFilter {
            state: self
                .state
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e: String| crate::error::ApiError::field("state", e))?,
            customer_id: self.customer_id,
            attention: self
                .attention
                .as_deref()
                .map(|a| serde_json::from_value(serde_json::Value::String(a.into())))
                .transpose()
                .map_err(|_| {
                    crate::error::ApiError::field("attention", "expected overdue or at_risk")
                })?,
            sort: self
                .sort
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(str::parse)
                .transpose()
                .map_err(|e: String| crate::error::ApiError::field("sort", e))?
                .unwrap_or_default(),
        })
    }
}

/// Orders, newest first unless `sort=oldest` (a partner's users see their partner's).
#[utoipa::path(get, path = "/api/v1/orders", tag = "ordering", params(OrderQuery),
    responses((status = 200, body = Page<Order>), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<OrderQuery>,
) -> ApiResult<Json<Page<Order>>> {
    let f = q.filter()?;
    let page = s
        .store
        .ordering()
        .list_orders(p.scope(), &f, q.cursor.as_deref(), q.limit.unwrap_or(100))
        .await?;
    Ok(Json(page))
}

/// Creates an order for a customer: a draft when the customer has an active license, else a
/// quote to confirm first. It may be saved part filled; `problems` says what is left.
#[utoipa::path(post, path = "/api/v1/orders", tag = "ordering", request_body = NewOrder,
    responses((status = 201, body = OrderView), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(b): Json<NewOrder>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .ordering()
        .create_order(&p.actor(), p.scope(), b.customer_id, b.order, &s.catalog)
        .await?;
    let v = view(&s, d).await?;
    Ok((StatusCode::CREATED, answer(v)))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "ordering", params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = Problem)))]
pub async fn get(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<impl IntoResponse> {
    let d = s.store.ordering().get_order(p.scope(), id).await?;
    Ok(answer(view(&s, d).await?))
}

/// Changes an open order's fields (quote, draft, awaiting documents) by JSON merge patch:
/// `null` removes a field (`If-Match` honoured).
#[utoipa::path(patch, path = "/api/v1/orders/{id}", tag = "ordering", params(("id" = Uuid, Path),
    ("If-Match" = Option<String>, Header)), request_body = OrderBody,
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(patch): Json<serde_json::Value>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .ordering()
        .update_order(
            &p.actor(),
            p.scope(),
            id,
            if_match(&headers)?,
            &patch,
            &s.catalog,
        )
        .await?;
    Ok(answer(view(&s, d).await?))
}

/// The pre-filled letter of authorisation of a porting order (PDF): the customer, address,
/// contact and every number, for the end user to sign and upload back as the order's `loa`.
#[utoipa::path(get, path = "/api/v1/orders/{id}/loa.pdf", tag = "ordering", params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 404, body = Problem),
    (status = 409, body = Problem)))]
pub async fn loa(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<impl IntoResponse> {
    let pdf = s
        .store
        .ordering()
        .loa_pdf(p.scope(), id, &s.catalog)
        .await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/pdf".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"loa-{id}.pdf\""),
            ),
        ],
        pdf,
    ))
}

/// The order's timeline: every change of state, who, when and why.
#[utoipa::path(get, path = "/api/v1/orders/{id}/timeline", tag = "ordering", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<OrderEvent>), (status = 404, body = Problem)))]
pub async fn timeline(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<OrderEvent>>> {
    Ok(Json(s.store.ordering().timeline(p.scope(), id).await?))
}

/// Confirms a quote: it becomes an order to finalise and submit.
#[utoipa::path(post, path = "/api/v1/orders/{id}/confirm", tag = "ordering",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn confirm(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .ordering()
        .confirm_quote(&p.actor(), p.scope(), id, if_match(&headers)?)
        .await?;
    Ok(answer(view(&s, d).await?))
}

/// Submits an order. Every problem is reported at once (422); missing documents leave it
/// `awaiting_documents`, and AE/SA orders wait for the agreement's signature.
#[utoipa::path(post, path = "/api/v1/orders/{id}/submit", tag = "ordering",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 422, body = Problem)))]
pub async fn submit(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .ordering()
        .submit_order(&p.actor(), p.scope(), id, if_match(&headers)?, &s.catalog)
        .await?;
    Ok(answer(view(&s, d).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    /// When the agreement was signed (default: now).
    pub signed_at: Option<DateTime<Utc>>,
}

/// Records the signing of the agreement (AE, SA): delivery is promised from that day.
#[utoipa::path(post, path = "/api/v1/orders/{id}/sign", tag = "ordering",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = SignBody,
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn sign(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<SignBody>,
) -> ApiResult<impl IntoResponse> {
    let at = b.signed_at.unwrap_or_else(Utc::now);
    let d = s
        .store
        .ordering()
        .sign_order(
            &p.actor(),
            p.scope(),
            id,
            if_match(&headers)?,
            at,
            &s.catalog,
        )
        .await?;
    Ok(answer(view(&s, d).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    pub reason: Option<String>,
}

/// Cancels an order: its partner until registration, operations until completion.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "ordering",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = ReasonBody,
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<ReasonBody>,
) -> ApiResult<impl IntoResponse> {
    let side = if p.role.is_partner() {
        Side::Partner
    } else {
        Side::Operations
    };
    let d = s
        .store
        .ordering()
        .cancel_order(
            &p.actor(),
            p.scope(),
            side,
            id,
            if_match(&headers)?,
            b.reason.as_deref(),
        )
        .await?;
    Ok(answer(view(&s, d).await?))
}

/// Registers an order (operations): new numbers are allocated from stock under the named
/// client package (too little stock: `awaiting_stock`, with what is missing); porting and
/// outbound-only numbers are registered.
#[utoipa::path(post, path = "/api/v1/orders/{id}/register", tag = "ordering",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = RegisterOrder,
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 422, body = Problem)))]
pub async fn register(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<RegisterOrder>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .ordering()
        .register_order(&p.actor(), id, if_match(&headers)?, &b)
        .await?;
    Ok(answer(view(&s, d).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// The porting date, `YYYY-MM-DD`.
    pub date: NaiveDate,
    /// Required when the date moves: shown in the timeline.
    pub reason: Option<String>,
}

/// Sets or moves the porting date (operations).
#[utoipa::path(post, path = "/api/v1/orders/{id}/schedule", tag = "ordering",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = ScheduleBody,
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 422, body = Problem)))]
pub async fn schedule(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<ScheduleBody>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .ordering()
        .schedule_order(
            &p.actor(),
            id,
            if_match(&headers)?,
            b.date,
            b.reason.as_deref(),
        )
        .await?;
    Ok(answer(view(&s, d).await?))
}

/// Completes an order (operations). Numbers ported in are assigned to the customer under
/// the client package named, with their destination; they can make emergency calls from now.
#[utoipa::path(post, path = "/api/v1/orders/{id}/complete", tag = "ordering",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = CompleteOrder,
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 422, body = Problem)))]
pub async fn complete(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<CompleteOrder>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .ordering()
        .complete_order(&p.actor(), id, if_match(&headers)?, &b)
        .await?;
    Ok(answer(view(&s, d).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    pub code: RejectReason,
    pub reason: Option<String>,
    /// Only these numbers (porting, outbound only): the order goes on with the others.
    pub numbers: Option<Vec<String>>,
}

/// Rejects an order, or some of its numbers, with a reason code (operations).
#[utoipa::path(post, path = "/api/v1/orders/{id}/reject", tag = "ordering",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = RejectBody,
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 422, body = Problem)))]
pub async fn reject(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<RejectBody>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .ordering()
        .reject_order(
            &p.actor(),
            id,
            if_match(&headers)?,
            b.code,
            b.reason.as_deref(),
            b.numbers.as_deref(),
        )
        .await?;
    Ok(answer(view(&s, d).await?))
}
