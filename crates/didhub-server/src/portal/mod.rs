//! The web portal: server-rendered pages at `/` for staff and partners (docs/PORTAL.md).
//!
//! Same users, sessions, CSRF tokens and role policy as the API: a page reads the session
//! cookie the API's login sets, is refused by the same `Principal::require` (404 for a partner
//! user, 403 for staff), and calls the same store functions the API's handlers call, scoped
//! the same way. Every route has an entry in [`POLICY`]; one without is refused.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use didhub_core::access::Need;

use crate::auth::{cookie, same, CSRF_HEADER, SESSION_COOKIE};
use crate::error::ApiError;
use crate::{AppState, Principal};
use page::plain_error;
pub use page::{
    after_delete, deleted, machine_time, render, shown, thousands, when, Chrome, Errors, Form,
    NavLink, PageError, PageResult, User,
};

mod accounts;
mod attention;
mod audit;
mod catalog;
mod dashboard;
mod did_forms;
mod import;
pub mod import_progress;
mod inventory;
mod order_form;
mod order_page;
mod orders;
mod packages;
mod page;
mod partners;
mod pbx;
mod session;
mod sla_clock;
mod svg;
mod ticket;
mod ticket_new;
mod tickets;
mod tokens;
mod users;

/// Every portal page's policy: no request leaves the machine, and no other site frames it.
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// The vendored htmx (0BSD; docs/PORTAL.md), served under its version so it can be cached.
const HTMX: &str = include_str!("../../static/htmx-2.0.11.min.js");
const HTMX_PATH: &str = "/static/htmx-2.0.11.min.js";
const CSS: &str = include_str!("../../static/portal.css");
/// The ticket page's first-response countdown (no inline script: the policy refuses it).
const SLA_CLOCK: &str = include_str!("../../static/sla-clock.js");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No session needed: the login form and the static files.
    Public,
    Need(Need),
}

use Access::Need as N;
use Need::*;

/// What each page needs: the API's needs, read by the same `Role::allows`.
pub const POLICY: &[(&str, &str, Access)] = &[
    ("GET", "/", N(Authenticated)),
    ("GET", "/login", Access::Public),
    ("POST", "/login", Access::Public),
    ("POST", "/logout", N(Authenticated)),
    ("GET", "/dashboard", N(Staff)),
    ("GET", "/dids", N(InventoryRead)),
    ("GET", "/dids/new", N(InventoryAdmin)),
    ("POST", "/dids/new", N(InventoryAdmin)),
    ("GET", "/dids/export", N(InventoryAdmin)),
    ("GET", "/dids/import", N(InventoryAdmin)),
    ("POST", "/dids/import", N(InventoryAdmin)),
    ("POST", "/dids/import/confirm", N(InventoryAdmin)),
    ("GET", "/dids/import/progress/{id}", N(InventoryAdmin)),
    ("GET", "/dids/bulk", N(InventoryAdmin)),
    ("POST", "/dids/bulk-edit", N(InventoryAdmin)),
    ("POST", "/dids/delete", N(InventoryAdmin)),
    ("GET", "/dids/{id}", N(InventoryRead)),
    ("GET", "/operators", N(InventoryRead)),
    ("GET", "/audit", N(InventoryAdmin)),
    ("GET", "/pbxs/{id}", N(OrgRead)),
    ("POST", "/pbxs/{id}", N(OrgWrite)),
    ("POST", "/pbxs/{id}/delete", N(OrgWrite)),
    ("POST", "/pbxs/{id}/license", N(OrgWrite)),
    ("POST", "/pbxs/{id}/services/preview", N(OrgRead)),
    ("POST", "/pbxs/{id}/services", N(OrgWrite)),
    (
        "POST",
        "/pbxs/{id}/services/{service_id}/cancel",
        N(OrgWrite),
    ),
    ("POST", "/pbxs/{id}/license/renew", N(OrgWrite)),
    ("GET", "/packages", N(OrgRead)),
    ("GET", "/packages/new", N(InventoryAdmin)),
    ("POST", "/packages/new", N(InventoryAdmin)),
    ("GET", "/packages/{id}", N(OrgRead)),
    ("POST", "/packages/{id}", N(InventoryAdmin)),
    ("POST", "/packages/{id}/delete", N(InventoryAdmin)),
    ("GET", "/client-packages", N(OrgRead)),
    ("GET", "/client-packages/{id}", N(OrgRead)),
    ("POST", "/client-packages/{id}/state", N(InventoryAdmin)),
    ("POST", "/client-packages/{id}/assign", N(InventoryAdmin)),
    ("POST", "/client-packages/{id}/block", N(InventoryAdmin)),
    ("GET", "/routing", N(InventoryRead)),
    ("GET", "/orders", N(OrgRead)),
    ("GET", "/orders/new", N(OrgWrite)),
    ("POST", "/orders/new", N(OrgWrite)),
    ("GET", "/orders/{id}", N(OrgRead)),
    ("POST", "/orders/{id}", N(OrgWrite)),
    ("POST", "/orders/{id}/documents", N(OrgWrite)),
    ("POST", "/orders/{id}/confirm", N(OrgWrite)),
    ("POST", "/orders/{id}/submit", N(OrgWrite)),
    ("POST", "/orders/{id}/sign", N(OrgWrite)),
    ("POST", "/orders/{id}/cancel", N(OrgWrite)),
    ("POST", "/orders/{id}/register", N(InventoryAdmin)),
    ("POST", "/orders/{id}/schedule", N(InventoryAdmin)),
    ("POST", "/orders/{id}/complete", N(InventoryAdmin)),
    ("POST", "/orders/{id}/reject", N(InventoryAdmin)),
    ("GET", "/tickets", N(Tickets)),
    ("GET", "/tickets/new", N(Tickets)),
    ("POST", "/tickets/new", N(Tickets)),
    ("GET", "/tickets/at-risk", N(SupportDesk)),
    ("GET", "/tickets/breached", N(SupportDesk)),
    ("GET", "/tickets/report", N(SupportDesk)),
    ("GET", "/tickets/{id}", N(Tickets)),
    ("POST", "/tickets/{id}/messages", N(Tickets)),
    ("POST", "/tickets/{id}/state", N(Tickets)),
    ("POST", "/tickets/{id}/class", N(SupportDesk)),
    ("POST", "/tickets/{id}/assign", N(SupportDesk)),
    ("POST", "/tickets/{id}/reveal", N(SupportDesk)),
    ("GET", "/partners", N(OrgRead)),
    ("POST", "/partners", N(StaffAdmin)),
    ("GET", "/partners/{id}", N(OrgRead)),
    ("POST", "/partners/{id}", N(StaffAdmin)),
    ("POST", "/partners/{id}/delete", N(StaffAdmin)),
    ("POST", "/partners/{id}/support-centre", N(SupportDesk)),
    ("GET", "/customers", N(OrgRead)),
    ("POST", "/customers", N(OrgWrite)),
    ("GET", "/customers/{id}", N(OrgRead)),
    ("POST", "/customers/{id}", N(OrgWrite)),
    ("POST", "/customers/{id}/delete", N(OrgWrite)),
    ("POST", "/customers/{id}/pbxs", N(OrgWrite)),
    ("GET", "/users", N(Users)),
    ("POST", "/users", N(Users)),
    ("GET", "/users/{id}", N(Users)),
    ("POST", "/users/{id}/role", N(Users)),
    ("POST", "/users/{id}/password", N(Users)),
    ("POST", "/users/{id}/disabled", N(Users)),
    ("GET", "/tokens", N(Authenticated)),
    ("POST", "/tokens", N(Authenticated)),
    ("POST", "/tokens/{id}/revoke", N(Authenticated)),
    ("GET", "/static/{file}", Access::Public),
];

/// The main navigation, in order; a link shows when the user's role may open its page.
const NAV: &[(&str, &str)] = &[
    ("/dashboard", "Dashboard"),
    ("/dids", "DIDs"),
    ("/operators", "Operators"),
    ("/partners", "Partners"),
    ("/customers", "Customers"),
    ("/orders", "Orders"),
    ("/packages", "Packages"),
    ("/client-packages", "Client packages"),
    ("/routing", "Routing check"),
    ("/tickets", "Tickets"),
    ("/tickets/at-risk", "Tickets at risk"),
    ("/tickets/breached", "Tickets past deadline"),
    ("/tickets/report", "SLA report"),
    ("/audit", "Audit log"),
    ("/users", "Users"),
    ("/tokens", "API tokens"),
];

pub fn policy_for(method: &Method, path: &str) -> Option<Access> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    POLICY
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, a)| *a)
}

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(session::landing))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/dashboard", get(dashboard::page))
        .route("/dids", get(inventory::dids))
        .route("/dids/new", get(did_forms::add_form).post(did_forms::add))
        .route("/dids/export", get(did_forms::export))
        .route("/dids/import", get(import::form).post(import::check))
        .route("/dids/import/confirm", post(import::confirm))
        .route("/dids/import/progress/{id}", get(import_progress::progress))
        .route("/dids/bulk", get(did_forms::bulk_form))
        .route("/dids/bulk-edit", post(did_forms::bulk_edit))
        .route("/dids/delete", post(did_forms::delete))
        .route("/dids/{id}", get(inventory::did))
        .route("/operators", get(inventory::operators))
        .route("/audit", get(audit::page))
        .route("/pbxs/{id}", get(pbx::page).post(pbx::update))
        .route("/pbxs/{id}/delete", post(pbx::delete))
        .route("/pbxs/{id}/license", post(pbx::set_license))
        .route("/pbxs/{id}/services/preview", post(pbx::preview))
        .route("/pbxs/{id}/services", post(pbx::add))
        .route("/pbxs/{id}/services/{service_id}/cancel", post(pbx::cancel))
        .route("/pbxs/{id}/license/renew", post(pbx::renew))
        .route("/packages", get(catalog::list))
        .route(
            "/packages/new",
            get(catalog::new_form).post(catalog::create),
        )
        .route("/packages/{id}", get(catalog::page).post(catalog::update))
        .route("/packages/{id}/delete", post(catalog::delete))
        .route("/client-packages", get(packages::list))
        .route("/client-packages/{id}", get(packages::page))
        .route("/client-packages/{id}/state", post(packages::set_state))
        .route("/client-packages/{id}/assign", post(packages::assign))
        .route("/client-packages/{id}/block", post(packages::allocate))
        .route("/routing", get(packages::routing))
        .route("/orders", get(orders::list))
        .route(
            "/orders/new",
            get(order_form::new_form).post(order_form::create),
        )
        .route(
            "/orders/{id}",
            get(order_page::page).post(order_page::update),
        )
        .route("/orders/{id}/documents", post(order_page::upload))
        .route("/orders/{id}/confirm", post(order_page::confirm))
        .route("/orders/{id}/submit", post(order_page::submit))
        .route("/orders/{id}/sign", post(order_page::sign))
        .route("/orders/{id}/cancel", post(order_page::cancel))
        .route("/orders/{id}/register", post(order_page::register))
        .route("/orders/{id}/schedule", post(order_page::schedule))
        .route("/orders/{id}/complete", post(order_page::complete))
        .route("/orders/{id}/reject", post(order_page::reject))
        .route("/tickets", get(tickets::list))
        .route(
            "/tickets/new",
            get(ticket_new::new_form).post(ticket_new::create),
        )
        .route("/tickets/at-risk", get(tickets::at_risk))
        .route("/tickets/breached", get(tickets::breached))
        .route("/tickets/report", get(tickets::report))
        .route("/tickets/{id}", get(ticket::page))
        .route("/tickets/{id}/messages", post(ticket::reply))
        .route("/tickets/{id}/state", post(ticket::set_state))
        .route("/tickets/{id}/class", post(ticket::set_class))
        .route("/tickets/{id}/assign", post(ticket::assign))
        .route("/tickets/{id}/reveal", post(ticket::reveal))
        .route("/partners", get(partners::list).post(partners::create))
        .route("/partners/{id}", get(partners::page).post(partners::rename))
        .route("/partners/{id}/delete", post(partners::delete))
        .route("/partners/{id}/support-centre", post(partners::set_centre))
        .route(
            "/customers",
            get(accounts::customers).post(accounts::create),
        )
        .route(
            "/customers/{id}",
            get(accounts::customer).post(accounts::rename),
        )
        .route("/customers/{id}/delete", post(accounts::delete))
        .route("/customers/{id}/pbxs", post(accounts::add_pbx))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::page))
        .route("/users/{id}/role", post(users::set_role))
        .route("/users/{id}/password", post(users::set_password))
        .route("/users/{id}/disabled", post(users::set_disabled))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}/revoke", post(tokens::revoke))
        .route("/static/{file}", get(asset))
        .route_layer(middleware::from_fn_with_state(state, gate))
        .layer(middleware::from_fn(headers))
}

/// The signed-in user of a portal request (put there by [`gate`]) and the session's CSRF
/// token, which every form and htmx request sends back.
#[derive(Clone)]
pub struct Viewer {
    pub principal: Principal,
    pub csrf: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Viewer {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Viewer>().cloned().ok_or_else(|| {
            tracing::error!("a portal page ran without the gate");
            plain_error(StatusCode::INTERNAL_SERVER_ERROR)
        })
    }
}

/// Authenticates and authorises every portal route from [`POLICY`]: no session sends a page
/// request to the login form; a need the role lacks is the API's answer (404 for a partner
/// user, 403 for staff) as a page; an unsafe request must carry the session's CSRF token
/// (the `csrf` form field or the `X-CSRF-Token` header).
async fn gate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let need = match policy_for(req.method(), &path) {
        Some(Access::Public) => return next.run(req).await,
        Some(Access::Need(n)) => n,
        None if POLICY.iter().any(|(_, p, _)| *p == path) => {
            return plain_error(StatusCode::METHOD_NOT_ALLOWED)
        }
        None => {
            tracing::error!(method = %req.method(), path, "portal route has no policy; refused");
            return plain_error(StatusCode::FORBIDDEN);
        }
    };
    let identity = match cookie(&req, SESSION_COOKIE) {
        Some(c) => s.store.accounts().verify_session(c).await,
        None => Ok(None),
    };
    let identity = match identity {
        Ok(Some(i)) => i,
        Ok(None) => return to_login(&req),
        Err(e) => {
            tracing::warn!(error = %e, "portal session check failed");
            return plain_error(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let csrf = identity.csrf.clone().unwrap_or_default();
    let viewer = Viewer {
        principal: Principal::from_identity(identity),
        csrf,
    };
    if let Err(e) = viewer.principal.require(need) {
        return viewer.fail(e).into_response();
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) && streamed(&path, req.headers()) {
        // An import's file is not held in memory: the token is read from the body's first
        // part (the form's first field), and the body goes on to the page as it comes.
        let (parts, body) = req.into_parts();
        let (prefix, rest) = match read_prefix(body, STREAMED_PREFIX).await {
            Ok(p) => p,
            Err(_) => return plain_error(StatusCode::PAYLOAD_TOO_LARGE),
        };
        let header = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let sent = match header {
            Some(t) => t.to_string(),
            None => multipart_csrf(&parts.headers, &prefix)
                .await
                .unwrap_or_default(),
        };
        if viewer.csrf.is_empty() || !same(&viewer.csrf, &sent) {
            // The rest is read and dropped (up to the route's body limit), so that a client
            // still sending reads the refusal: closing on unread data resets the connection.
            let mut rest = rest.into_data_stream();
            while let Some(Ok(_)) = futures::StreamExt::next(&mut rest).await {}
            return viewer
                .fail(ApiError::Forbidden(
                    "this form has expired or did not come from didhub; open the page again".into(),
                ))
                .into_response();
        }
        let head = futures::stream::once(async move { Ok::<_, axum::Error>(prefix) });
        let body = Body::from_stream(futures::StreamExt::chain(head, rest.into_data_stream()));
        req = Request::from_parts(parts, body);
    } else if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, crate::MAX_BODY).await {
            Ok(b) => b,
            Err(_) => return plain_error(StatusCode::PAYLOAD_TOO_LARGE),
        };
        let header = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let sent = match header {
            Some(t) => t,
            None => match multipart_csrf(&parts.headers, &bytes).await {
                Some(t) => t,
                None => Form::parse(&bytes)
                    .get("csrf")
                    .map(str::to_string)
                    .unwrap_or_default(),
            },
        };
        if viewer.csrf.is_empty() || !same(&viewer.csrf, &sent) {
            return viewer
                .fail(ApiError::Forbidden(
                    "this form has expired or did not come from didhub; open the page again".into(),
                ))
                .into_response();
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(viewer);
    next.run(req).await
}

/// The routes whose multipart body the gate does not hold: the import's file (up to the
/// API import's limit, `MAX_UPLOAD`), whose form carries its token as its first field.
const STREAMED: &[&str] = &["/dids/import"];

/// How much of a streamed body the gate reads for the token.
const STREAMED_PREFIX: usize = 64 * 1024;

fn streamed(path: &str, headers: &axum::http::HeaderMap) -> bool {
    STREAMED.contains(&path)
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|k| k.starts_with("multipart/form-data"))
}

/// The body's first `at_least` bytes (or all of it, if shorter) and the body that follows.
async fn read_prefix(
    mut body: Body,
    at_least: usize,
) -> Result<(axum::body::Bytes, Body), axum::Error> {
    use http_body_util::BodyExt;
    let mut head = Vec::new();
    while head.len() < at_least {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    head.extend_from_slice(&d);
                }
            }
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    Ok((head.into(), body))
}

/// The `csrf` field of a multipart form (an upload), if the body is one.
async fn multipart_csrf(
    headers: &axum::http::HeaderMap,
    bytes: &axum::body::Bytes,
) -> Option<String> {
    use axum::extract::FromRequest;
    let kind = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    if !kind.starts_with("multipart/form-data") {
        return None;
    }
    let req = Request::builder()
        .header(header::CONTENT_TYPE, kind)
        .body(Body::from(bytes.clone()))
        .ok()?;
    let mut form = axum::extract::Multipart::from_request(req, &())
        .await
        .ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("csrf") {
            return field.text().await.ok();
        }
    }
    None
}

/// A page request without a session goes to the login form, which comes back here after.
fn to_login(req: &Request) -> Response {
    let here = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let target = if req.method() == Method::GET && here != "/" {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("next", here);
        format!("/login?{}", q.finish())
    } else {
        "/login".to_string()
    };
    Redirect::to(&target).into_response()
}

/// Headers on every portal answer: the content security policy, no sniffing, no referrer to
/// other sites, and pages never cached (they hold a user's data and a CSRF token).
async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    set_headers(&mut resp);
    resp
}

fn set_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// The page for a portal address no route has: "Page not found" (404) in the frame of the
/// signed-in user (its navigation), or the anonymous frame, with the portal's headers. The
/// API's addresses keep their problem+json answer (the server's fallback decides).
pub async fn not_found(s: &AppState, req: Request) -> Response {
    let session = cookie(&req, SESSION_COOKIE).map(str::to_string);
    drop(req);
    let identity = match session {
        Some(c) => s.store.accounts().verify_session(&c).await.ok().flatten(),
        None => None,
    };
    let chrome = identity.map(|i| {
        let csrf = i.csrf.clone().unwrap_or_default();
        Viewer {
            principal: Principal::from_identity(i),
            csrf,
        }
        .chrome("", "")
    });
    let mut resp = PageError::new(chrome, ApiError::NotFound("page".into())).into_response();
    set_headers(&mut resp);
    resp
}

/// The static files, compiled into the binary.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind, cache) = match format!("/static/{file}").as_str() {
        HTMX_PATH => (
            HTMX,
            "text/javascript",
            "public, max-age=31536000, immutable",
        ),
        "/static/portal.css" => (CSS, "text/css; charset=utf-8", "public, max-age=300"),
        "/static/sla-clock.js" => (SLA_CLOCK, "text/javascript", "public, max-age=300"),
        _ => return plain_error(StatusCode::NOT_FOUND),
    };
    (
        [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, cache)],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_policy_and_every_nav_link_a_route() {
        for (href, _) in NAV {
            assert!(policy_for(&Method::GET, href).is_some(), "{href}");
        }
        assert_eq!(
            policy_for(&Method::HEAD, "/dids"),
            policy_for(&Method::GET, "/dids")
        );
        assert_eq!(policy_for(&Method::DELETE, "/dids"), None);
    }

    #[test]
    fn counts_read_with_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1234), "-1,234");
    }
}
