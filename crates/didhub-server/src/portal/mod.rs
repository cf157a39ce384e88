//! The web portal: server-rendered pages at `/` for staff and partners (docs/PORTAL.md).
//!
//! Same users, sessions, CSRF tokens and role policy as the API: a page reads the session
//! cookie the API's login sets, is refused by the same `Principal::require` (404 for a partner
//! user, 403 for staff), and calls the same store functions the API's handlers call, scoped
//! the same way. Every route has an entry in [`POLICY`]; one without is refused.

use askama::Template;
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

/// What every page's frame shows: title, navigation, the user and the logout form.
pub struct Chrome {
    pub title: String,
    pub htmx: &'static str,
    pub user: Option<User>,
    pub nav: Vec<NavLink>,
}

pub struct User {
    pub email: String,
    pub role: &'static str,
    pub csrf: String,
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

impl Chrome {
    /// The session's CSRF token, for a form of the page.
    pub fn csrf(&self) -> &str {
        self.user.as_ref().map(|u| u.csrf.as_str()).unwrap_or("")
    }

    /// The frame of a page nobody is signed in to (login, errors before a session).
    pub fn anonymous(title: &str) -> Chrome {
        Chrome {
            title: title.to_string(),
            htmx: HTMX_PATH,
            user: None,
            nav: Vec::new(),
        }
    }
}

impl Viewer {
    /// The frame of a page for this user; `here` is the navigation entry it belongs to.
    pub fn chrome(&self, title: &str, here: &str) -> Chrome {
        let role = self.principal.role;
        let nav = NAV
            .iter()
            .filter(|(href, _)| match policy_for(&Method::GET, href) {
                Some(Access::Need(n)) => role.allows(n),
                Some(Access::Public) => true,
                None => false,
            })
            .map(|(href, label)| NavLink {
                href,
                label,
                current: *href == here,
            })
            .collect();
        Chrome {
            title: title.to_string(),
            htmx: HTMX_PATH,
            user: Some(User {
                email: self.principal.email.clone(),
                role: role.as_str(),
                csrf: self.csrf.clone(),
            }),
            nav,
        }
    }

    /// An error as a page in this user's frame, with the status the API gives it.
    pub fn fail(&self, e: impl Into<ApiError>) -> PageError {
        PageError::new(Some(self.chrome("", "")), e.into())
    }
}

#[derive(Template)]
#[template(path = "portal/error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: String,
    detail: String,
}

/// A page's failure: rendered as an error page with the status the API would answer.
pub struct PageError {
    chrome: Option<Chrome>,
    error: ApiError,
}

impl PageError {
    pub fn new(chrome: Option<Chrome>, error: ApiError) -> Self {
        PageError { chrome, error }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let (heading, detail) = match status {
            StatusCode::NOT_FOUND => (
                "Page not found".to_string(),
                "There is nothing here, or nothing you may see.".to_string(),
            ),
            s if s.is_server_error() => {
                tracing::warn!(error = %self.error, "portal page failed");
                (
                    "Something went wrong".to_string(),
                    "The page could not be shown. Try again in a moment.".to_string(),
                )
            }
            StatusCode::FORBIDDEN => ("Not allowed".to_string(), self.error.to_string()),
            _ => ("That did not work".to_string(), self.error.to_string()),
        };
        let mut chrome = self.chrome.unwrap_or_else(|| Chrome::anonymous(""));
        chrome.title = heading.clone();
        render(
            status,
            &ErrorPage {
                chrome,
                heading,
                detail,
            },
        )
    }
}

pub type PageResult = Result<Response, PageError>;

/// The page that says something is deleted (DIDs, a package, a partner, a customer, a PBX) and
/// leads back.
#[derive(Template)]
#[template(path = "portal/did_deleted.html")]
struct DeletedPage {
    chrome: Chrome,
    done: String,
    back: String,
}

/// The deleted page: `done` says what went, `back` where to go on.
pub fn deleted(v: &Viewer, title: &str, nav: &str, done: String, back: String) -> Response {
    let chrome = v.chrome(title, nav);
    render(StatusCode::OK, &DeletedPage { chrome, done, back })
}

/// After the delete of a partner, customer or PBX: the deleted page, or the thing's own page
/// with the store's refusal (`again` draws it); a thing out of reach is the 404 page.
pub async fn after_delete<F: std::future::Future<Output = PageResult>>(
    v: &Viewer,
    outcome: Result<(), didhub_store::StoreError>,
    (title, nav): (&str, &str),
    done: String,
    back: String,
    again: impl FnOnce(Errors) -> F,
) -> PageResult {
    match outcome {
        Ok(()) => Ok(deleted(v, title, nav, done, back)),
        Err(e @ didhub_store::StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            let mut errors = Errors::default();
            errors.store(e, &[], "delete").map_err(|e| v.fail(e))?;
            again(errors).await
        }
    }
}

/// A template as an HTML answer with a status.
pub fn render(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a portal template failed to render");
            plain_error(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// An error answered before any page frame can be built.
fn plain_error(status: StatusCode) -> Response {
    let mut chrome = Chrome::anonymous("");
    let heading = status.canonical_reason().unwrap_or("Error").to_string();
    chrome.title = heading.clone();
    let page = ErrorPage {
        chrome,
        heading,
        detail: String::new(),
    };
    match page.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(_) => status.into_response(),
    }
}

/// A form body or query string as its fields, in order (a field given twice keeps both).
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(bytes: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn query(uri: &axum::http::Uri) -> Form {
        Form::parse(uri.query().unwrap_or_default().as_bytes())
    }

    /// The first value of a field, as typed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value to show back in the field: what was typed, or nothing.
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// The non-blank fields among `names`, trimmed, as a query string.
    pub fn encode(&self, names: &[&str]) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if names.contains(&k.as_str()) && !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }

    /// The non-blank fields not among `skip`, trimmed, as a query string.
    pub fn encode_except(&self, skip: &[&str]) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if !skip.contains(&k.as_str()) && !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }
}

/// Errors of a form, each about one field, shown beside it.
#[derive(Debug, Default, Clone)]
pub struct Errors(pub Vec<(String, String)>);

impl Errors {
    pub fn add(&mut self, field: impl Into<String>, message: impl ToString) {
        self.0.push((field.into(), message.to_string()));
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes a refusal about a field (a filter's value, a store check) as that field's error;
    /// anything else is the page's failure.
    pub fn take(&mut self, e: ApiError) -> Result<(), ApiError> {
        match e {
            ApiError::Field { field, message } => {
                self.add(field, message);
                Ok(())
            }
            ApiError::Store(didhub_store::StoreError::Invalid { field, message }) => {
                self.add(field, message);
                Ok(())
            }
            e => Err(e),
        }
    }

    /// Takes a store refusal of a form: a field it names that the form shows goes beside that
    /// field, any other refusal (a field not shown, a name taken, a version conflict, an
    /// object in use) beside `whole`; a failure that is no refusal is the page's.
    pub fn store(
        &mut self,
        e: didhub_store::StoreError,
        fields: &[&str],
        whole: &str,
    ) -> Result<(), ApiError> {
        use didhub_store::StoreError as E;
        let to = |f: String| {
            if fields.contains(&f.as_str()) {
                f
            } else {
                whole.to_string()
            }
        };
        match e {
            E::Invalid { field, message } => self.add(to(field), message),
            E::InvalidFields(list) => {
                for (f, m) in list {
                    self.add(to(f), m);
                }
            }
            e @ (E::Conflict(_) | E::InUse(_) | E::VersionMismatch { .. } | E::Raced { .. }) => {
                self.add(whole, e)
            }
            e => return Err(e.into()),
        }
        Ok(())
    }

    /// Errors about fields the form does not show (a stray parameter in the address).
    pub fn others(&self, shown: &[&str]) -> Vec<String> {
        self.0
            .iter()
            .filter(|(f, _)| !shown.contains(&f.as_str()))
            .map(|(f, m)| format!("{f}: {m}"))
            .collect()
    }
}

/// Stored text as shown on a page: control and bidirectional characters made visible (the
/// core's display rule); HTML escaping is the templates' own.
pub fn shown(s: &str) -> String {
    didhub_core::text::escape(s).into_owned()
}

/// A time as pages show it: UTC, to the minute.
pub fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A time as a `<time datetime>` attribute.
pub fn machine_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A count with thousands separators.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
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
