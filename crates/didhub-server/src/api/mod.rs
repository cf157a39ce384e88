//! `/api/v1` handlers and the access policy of every route. Handlers are thin: parse, call the
//! store (which applies core rules, scoped to the caller), answer.

use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Principal;
use didhub_core::access::Need;
use didhub_store::accounts::idempotency::Begin;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub mod accounts;
pub mod assignment;
pub mod audit;
pub mod documents;
pub mod inventory;
pub mod licensing;
pub mod mail;
pub mod ordering;
pub mod support;

use accounts::{orgs, users};
use assignment::assign;
use inventory::{dids, operators};
use licensing::licenses;
use ordering::{catalog, orders};
use support::{desk, inbound, tickets};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No credentials needed (login only).
    Public,
    Need(Need),
}

use Need::*;
use Policy::Need as N;

/// What each route needs. The authorisation middleware refuses any route missing here, and a
/// test checks this table against the OpenAPI document and walks it with every role.
pub const POLICY: &[(&str, &str, Policy)] = &[
    ("POST", "/api/v1/auth/login", Policy::Public),
    ("POST", "/api/v1/auth/logout", N(Authenticated)),
    ("GET", "/api/v1/auth/me", N(Authenticated)),
    ("GET", "/api/v1/tokens", N(Authenticated)),
    ("POST", "/api/v1/tokens", N(Authenticated)),
    ("DELETE", "/api/v1/tokens/{id}", N(Authenticated)),
    ("GET", "/api/v1/users", N(Users)),
    ("POST", "/api/v1/users", N(Users)),
    ("GET", "/api/v1/users/{id}", N(Users)),
    ("PATCH", "/api/v1/users/{id}", N(Users)),
    ("PUT", "/api/v1/users/{id}/password", N(Users)),
    ("GET", "/api/v1/partners", N(OrgRead)),
    ("POST", "/api/v1/partners", N(StaffAdmin)),
    ("GET", "/api/v1/partners/{id}", N(OrgRead)),
    ("PATCH", "/api/v1/partners/{id}", N(StaffAdmin)),
    ("DELETE", "/api/v1/partners/{id}", N(StaffAdmin)),
    ("GET", "/api/v1/customers", N(OrgRead)),
    ("POST", "/api/v1/customers", N(OrgWrite)),
    ("GET", "/api/v1/customers/{id}", N(OrgRead)),
    ("PATCH", "/api/v1/customers/{id}", N(OrgWrite)),
    ("DELETE", "/api/v1/customers/{id}", N(OrgWrite)),
    ("GET", "/api/v1/pbxs", N(OrgRead)),
    ("POST", "/api/v1/pbxs", N(OrgWrite)),
    ("GET", "/api/v1/pbxs/{id}", N(OrgRead)),
    ("PATCH", "/api/v1/pbxs/{id}", N(OrgWrite)),
    ("DELETE", "/api/v1/pbxs/{id}", N(OrgWrite)),
    ("GET", "/api/v1/pbxs/{id}/license", N(OrgRead)),
    ("PUT", "/api/v1/pbxs/{id}/license", N(OrgWrite)),
    ("POST", "/api/v1/pbxs/{id}/license/renew", N(OrgWrite)),
    ("GET", "/api/v1/pbxs/{id}/services", N(OrgRead)),
    ("POST", "/api/v1/pbxs/{id}/services", N(OrgWrite)),
    ("POST", "/api/v1/pbxs/{id}/services/preview", N(OrgRead)),
    (
        "DELETE",
        "/api/v1/pbxs/{id}/services/{service_id}",
        N(OrgWrite),
    ),
    ("GET", "/api/v1/catalog", N(Authenticated)),
    ("GET", "/api/v1/catalog/{country}", N(Authenticated)),
    ("GET", "/api/v1/orders", N(OrgRead)),
    ("POST", "/api/v1/orders", N(OrgWrite)),
    ("GET", "/api/v1/orders/{id}", N(OrgRead)),
    ("PATCH", "/api/v1/orders/{id}", N(OrgWrite)),
    ("GET", "/api/v1/orders/{id}/timeline", N(OrgRead)),
    ("GET", "/api/v1/orders/{id}/loa.pdf", N(OrgRead)),
    ("POST", "/api/v1/orders/{id}/confirm", N(OrgWrite)),
    ("POST", "/api/v1/orders/{id}/submit", N(OrgWrite)),
    ("POST", "/api/v1/orders/{id}/sign", N(OrgWrite)),
    ("POST", "/api/v1/orders/{id}/cancel", N(OrgWrite)),
    ("POST", "/api/v1/orders/{id}/register", N(InventoryAdmin)),
    ("POST", "/api/v1/orders/{id}/schedule", N(InventoryAdmin)),
    ("POST", "/api/v1/orders/{id}/complete", N(InventoryAdmin)),
    ("POST", "/api/v1/orders/{id}/reject", N(InventoryAdmin)),
    ("GET", "/api/v1/tickets", N(Tickets)),
    ("POST", "/api/v1/tickets", N(Tickets)),
    ("GET", "/api/v1/tickets/{id}", N(Tickets)),
    ("PATCH", "/api/v1/tickets/{id}", N(Tickets)),
    ("GET", "/api/v1/tickets/{id}/messages", N(Tickets)),
    ("POST", "/api/v1/tickets/{id}/messages", N(Tickets)),
    ("POST", "/api/v1/tickets/{id}/state", N(Tickets)),
    ("GET", "/api/v1/tickets/{id}/events", N(Tickets)),
    ("POST", "/api/v1/tickets/{id}/class", N(SupportDesk)),
    ("POST", "/api/v1/tickets/{id}/assign", N(SupportDesk)),
    (
        "POST",
        "/api/v1/tickets/{id}/remote-access/reveal",
        N(SupportDesk),
    ),
    ("GET", "/api/v1/support/at-risk", N(SupportDesk)),
    ("GET", "/api/v1/support/breached", N(SupportDesk)),
    ("GET", "/api/v1/support/sla-report", N(SupportDesk)),
    ("GET", "/api/v1/support/centres", N(Authenticated)),
    ("GET", "/api/v1/partners/{id}/support-centre", N(OrgRead)),
    (
        "PUT",
        "/api/v1/partners/{id}/support-centre",
        N(SupportDesk),
    ),
    ("POST", "/api/v1/mail/inbound", N(SupportDesk)),
    ("GET", "/api/v1/mail/inbound", N(SupportDesk)),
    ("GET", "/api/v1/service-kinds", N(Authenticated)),
    ("POST", "/api/v1/service-kinds", N(StaffAdmin)),
    ("POST", "/api/v1/licenses/quote", N(Authenticated)),
    ("GET", "/api/v1/packages", N(OrgRead)),
    ("POST", "/api/v1/packages", N(InventoryAdmin)),
    ("GET", "/api/v1/packages/{id}", N(OrgRead)),
    ("PUT", "/api/v1/packages/{id}", N(InventoryAdmin)),
    ("DELETE", "/api/v1/packages/{id}", N(InventoryAdmin)),
    ("GET", "/api/v1/client-packages", N(OrgRead)),
    ("POST", "/api/v1/client-packages", N(InventoryAdmin)),
    ("GET", "/api/v1/client-packages/{id}", N(OrgRead)),
    ("PATCH", "/api/v1/client-packages/{id}", N(InventoryAdmin)),
    (
        "POST",
        "/api/v1/client-packages/{id}/dids",
        N(InventoryAdmin),
    ),
    (
        "DELETE",
        "/api/v1/client-packages/{id}/dids/{did_id}",
        N(InventoryAdmin),
    ),
    (
        "POST",
        "/api/v1/client-packages/{id}/blocks",
        N(InventoryAdmin),
    ),
    ("GET", "/api/v1/stock/blocks", N(InventoryRead)),
    ("GET", "/api/v1/customers/{id}/dids", N(OrgRead)),
    ("GET", "/api/v1/routing/{number}", N(InventoryRead)),
    ("GET", "/api/v1/operators", N(InventoryRead)),
    ("POST", "/api/v1/operators", N(InventoryAdmin)),
    ("GET", "/api/v1/operators/{id}", N(InventoryRead)),
    ("PATCH", "/api/v1/operators/{id}", N(InventoryAdmin)),
    ("DELETE", "/api/v1/operators/{id}", N(InventoryAdmin)),
    ("GET", "/api/v1/dids", N(InventoryRead)),
    ("POST", "/api/v1/dids", N(InventoryAdmin)),
    ("GET", "/api/v1/dids/count", N(InventoryRead)),
    ("GET", "/api/v1/dids/{id}", N(InventoryRead)),
    ("PATCH", "/api/v1/dids/{id}", N(InventoryAdmin)),
    ("DELETE", "/api/v1/dids/{id}", N(InventoryAdmin)),
    ("GET", "/api/v1/dids/{id}/history", N(InventoryRead)),
    ("POST", "/api/v1/dids/bulk-edit", N(InventoryAdmin)),
    ("POST", "/api/v1/dids/bulk-delete", N(InventoryAdmin)),
    ("POST", "/api/v1/dids/import", N(InventoryAdmin)),
    ("GET", "/api/v1/dids/import/rejects/{id}", N(InventoryAdmin)),
    ("GET", "/api/v1/dids/export", N(InventoryAdmin)),
    ("GET", "/api/v1/audit", N(InventoryAdmin)),
    ("POST", "/api/v1/documents", N(OrgWrite)),
    ("GET", "/api/v1/documents/{id}", N(OrgRead)),
    ("GET", "/api/v1/documents/{id}/content", N(OrgRead)),
    ("GET", "/api/v1/outbox", N(Staff)),
];

/// A route's policy for a method. `HEAD` is `GET` without the body (axum answers it from the
/// GET handler), so it has GET's policy.
pub fn policy_for(method: &Method, path: &str) -> Option<Policy> {
    let method = as_get(method);
    POLICY
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == path)
        .map(|(_, _, pol)| *pol)
}

fn as_get(method: &Method) -> &Method {
    if method == Method::HEAD {
        &Method::GET
    } else {
        method
    }
}

/// The methods `POLICY` lists for a route template.
/// The routes (method, path) whose OpenAPI operation declares query parameters: every other
/// route refuses a query string rather than ignore it (`authorize`).
static QUERY_ROUTES: std::sync::OnceLock<std::collections::HashSet<(String, String)>> =
    std::sync::OnceLock::new();

/// Notes, from the OpenAPI document the routes were built with, which take query parameters.
pub fn note_query_routes(doc: &utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    QUERY_ROUTES.get_or_init(|| {
        let mut set = std::collections::HashSet::new();
        for (path, item) in &doc.paths.paths {
            let ops = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let query = op
                    .parameters
                    .iter()
                    .flatten()
                    .chain(item.parameters.iter().flatten())
                    .any(|p| p.parameter_in == ParameterIn::Query);
                if query {
                    set.insert((method.to_string(), path.clone()));
                }
            }
        }
        set
    });
}

/// Whether the route takes query parameters (see `note_query_routes`; true until noted).
pub fn takes_query(method: &Method, path: &str) -> bool {
    let method = as_get(method);
    QUERY_ROUTES
        .get()
        .is_none_or(|s| s.contains(&(method.as_str().to_string(), path.to_string())))
}

/// The methods a route takes (for `Allow`): those `POLICY` lists, and `HEAD` with `GET`.
pub fn methods_for(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = POLICY
        .iter()
        .filter(|(_, p, _)| *p == path)
        .map(|(m, _, _)| *m)
        .collect();
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    methods
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(users::login))
        .routes(routes!(users::logout))
        .routes(routes!(users::me))
        .routes(routes!(users::list_tokens, users::create_token))
        .routes(routes!(users::revoke_token))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::set_password))
        .routes(routes!(orgs::list_partners, orgs::create_partner))
        .routes(routes!(
            orgs::get_partner,
            orgs::update_partner,
            orgs::delete_partner
        ))
        .routes(routes!(orgs::list_customers, orgs::create_customer))
        .routes(routes!(
            orgs::get_customer,
            orgs::update_customer,
            orgs::delete_customer
        ))
        .routes(routes!(orgs::list_pbxs, orgs::create_pbx))
        .routes(routes!(orgs::get_pbx, orgs::update_pbx, orgs::delete_pbx))
        .routes(routes!(licenses::get_license, licenses::set_license))
        .routes(routes!(licenses::renew_license))
        .routes(routes!(licenses::list_services, licenses::add_service))
        .routes(routes!(licenses::preview_service))
        .routes(routes!(licenses::cancel_service))
        .routes(routes!(
            licenses::list_service_kinds,
            licenses::create_service_kind
        ))
        .routes(routes!(licenses::quote))
        .routes(routes!(catalog::whole))
        .routes(routes!(catalog::country))
        .routes(routes!(orders::list, orders::create))
        .routes(routes!(orders::get, orders::update))
        .routes(routes!(orders::timeline))
        .routes(routes!(orders::loa))
        .routes(routes!(orders::confirm))
        .routes(routes!(orders::submit))
        .routes(routes!(orders::sign))
        .routes(routes!(orders::cancel))
        .routes(routes!(orders::register))
        .routes(routes!(orders::schedule))
        .routes(routes!(orders::complete))
        .routes(routes!(orders::reject))
        .routes(routes!(tickets::list, tickets::create))
        .routes(routes!(tickets::get, tickets::update))
        .routes(routes!(tickets::messages, tickets::add_message))
        .routes(routes!(tickets::set_state))
        .routes(routes!(tickets::events))
        .routes(routes!(tickets::set_class))
        .routes(routes!(tickets::assign))
        .routes(routes!(tickets::reveal))
        .routes(routes!(desk::at_risk))
        .routes(routes!(desk::breached))
        .routes(routes!(desk::sla_report))
        .routes(routes!(desk::centres))
        .routes(routes!(desk::partner_centre, desk::set_partner_centre))
        .routes(routes!(inbound::ingest, inbound::list))
        .routes(routes!(assign::list_packages, assign::create_package))
        .routes(routes!(
            assign::get_package,
            assign::update_package,
            assign::delete_package
        ))
        .routes(routes!(
            assign::list_client_packages,
            assign::create_client_package
        ))
        .routes(routes!(assign::get_client_package, assign::set_state))
        .routes(routes!(assign::assign))
        .routes(routes!(assign::unassign))
        .routes(routes!(assign::allocate_block))
        .routes(routes!(assign::availability))
        .routes(routes!(assign::customer_dids))
        .routes(routes!(assign::routing))
        .routes(routes!(operators::list, operators::create))
        .routes(routes!(
            operators::get_one,
            operators::update,
            operators::delete
        ))
        .routes(routes!(dids::list, dids::create))
        .routes(routes!(dids::count))
        .routes(routes!(dids::get_one, dids::update_one, dids::delete_one))
        .routes(routes!(dids::history))
        .routes(routes!(dids::bulk_update))
        .routes(routes!(dids::bulk_delete))
        .routes(routes!(dids::import))
        .routes(routes!(dids::import_rejects))
        .routes(routes!(dids::export))
        .routes(routes!(audit::list))
        .routes(routes!(documents::upload))
        .routes(routes!(documents::get_one))
        .routes(routes!(documents::content))
        .routes(routes!(mail::list))
}

/// The version named by `If-Match`: `"3"`, `W/"3"` or `3`, 1 to 18 digits (the form the
/// OpenAPI document gives, `openapi::IF_MATCH_PATTERN`); anything else is refused.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    let quoted = s.strip_prefix("W/").unwrap_or(s);
    let digits = match quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
        Some(d) => d,
        None if quoted.len() == s.len() => s,
        // `W/` without quotes.
        None => "",
    };
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let shown: String = s.chars().take(100).collect();
        return Err(ApiError::field(
            "If-Match",
            format!("'{shown}' is not a version (send the ETag read: \"3\", W/\"3\" or 3)"),
        ));
    }
    digits
        .parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::field("If-Match", format!("'{digits}' is not a version")))
}

/// An entity tag for a version.
pub fn etag(version: i64) -> (axum::http::HeaderName, String) {
    (axum::http::header::ETAG, format!("\"{version}\""))
}

/// The `Idempotency-Key` of a request, if any: 1 to 200 visible ASCII characters once trimmed
/// (the form the OpenAPI document gives, `openapi::IDEMPOTENCY_KEY_PATTERN`).
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let k = v
        .to_str()
        .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?
        .trim();
    if k.is_empty() || k.len() > 200 {
        return Err(ApiError::field(
            "Idempotency-Key",
            "must be 1 to 200 characters",
        ));
    }
    Ok(Some(k.to_string()))
}

/// Runs a create once per `Idempotency-Key`: a retry with the same key and body gets the first
/// answer; the same key with another body is refused. `f` gets the state, the caller and the
/// request back, because with a key it runs in a task of its own: a client that goes away
/// mid-request does not cancel it half-way, and its answer is recorded for the retry.
pub async fn idempotent<T, B, F, Fut>(
    s: AppState,
    p: Principal,
    headers: &HeaderMap,
    request: T,
    f: F,
) -> ApiResult<Response>
where
    T: Serialize + Send + 'static,
    B: Serialize + Send + 'static,
    F: FnOnce(AppState, Principal, T) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ApiResult<(StatusCode, B)>> + Send + 'static,
{
    let Some(k) = idempotency_key(headers)? else {
        let (status, body) = f(s, p, request).await?;
        return json_response(status, &body);
    };
    let hash = hex::encode(Sha256::digest(
        serde_json::to_vec(&request).unwrap_or_default(),
    ));
    // Everything from the reservation on runs in a task of its own: a client that goes away
    // (dropping this future) cannot leave a reserved key with no request behind it.
    use tracing::Instrument;
    tokio::spawn(keyed(s, p, k, hash, request, f).instrument(tracing::Span::current()))
        .await
        .map_err(|e| {
            ApiError::Store(didhub_store::StoreError::Io(std::io::Error::other(
                format!("the request's task failed: {e}"),
            )))
        })?
}

/// The keyed part of [`idempotent`]: reserve the key, run the create once, record its answer.
async fn keyed<T, B, F, Fut>(
    s: AppState,
    p: Principal,
    k: String,
    hash: String,
    request: T,
    f: F,
) -> ApiResult<Response>
where
    T: Serialize + Send + 'static,
    B: Serialize + Send + 'static,
    F: FnOnce(AppState, Principal, T) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ApiResult<(StatusCode, B)>> + Send + 'static,
{
    let principal = p.user_id.to_string();
    let mismatch = || {
        ApiError::IdempotencyMismatch(format!(
            "Idempotency-Key '{k}' was used for a different request"
        ))
    };
    let store = s.store.clone();
    match store
        .accounts()
        .idempotent_begin(&principal, &k, &hash)
        .await?
    {
        Begin::Done(prev) if prev.request_hash != hash => Err(mismatch()),
        Begin::InProgress { request_hash } | Begin::Abandoned { request_hash, .. }
            if request_hash != hash =>
        {
            Err(mismatch())
        }
        Begin::InProgress { .. } => Err(ApiError::Store(didhub_store::StoreError::Conflict(
            format!("a request with Idempotency-Key '{k}' is still in progress; retry it later"),
        ))),
        Begin::Abandoned { since, .. } => Err(ApiError::Store(didhub_store::StoreError::Conflict(
            format!(
                "the request with Idempotency-Key '{k}' started at {since} never finished, \
                    so it may or may not have taken effect: check, then send it again with a \
                    new key"
            ),
        ))),
        Begin::Done(prev) => {
            let status = StatusCode::from_u16(prev.status).unwrap_or(StatusCode::OK);
            Ok((
                status,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (
                        header::HeaderName::from_static("idempotent-replayed"),
                        "true",
                    ),
                ],
                prev.body,
            )
                .into_response())
        }
        Begin::Run { token } => match f(s, p, request).await {
            Ok((status, body)) => {
                let text = to_json(&body)?;
                store
                    .accounts()
                    .idempotent_finish(&principal, &k, &token, status.as_u16(), &text)
                    .await?;
                Ok((status, [(header::CONTENT_TYPE, "application/json")], text).into_response())
            }
            Err(e) if e.status().is_client_error() => {
                // Refused before anything was written: free the key for the corrected retry.
                if let Err(x) = store
                    .accounts()
                    .idempotent_abandon(&principal, &k, &token)
                    .await
                {
                    tracing::warn!("freeing an Idempotency-Key failed: {x}");
                }
                Err(e)
            }
            // A server-side failure may have come after the commit: the reservation stays, and
            // the key answers "never finished" rather than risk a second create.
            Err(e) => Err(e),
        },
    }
}

fn to_json<B: Serialize>(body: &B) -> ApiResult<String> {
    serde_json::to_string(body)
        .map_err(|e| ApiError::Store(didhub_store::StoreError::Io(std::io::Error::other(e))))
}

fn json_response<B: Serialize>(status: StatusCode, body: &B) -> ApiResult<Response> {
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/json")],
        to_json(body)?,
    )
        .into_response())
}
