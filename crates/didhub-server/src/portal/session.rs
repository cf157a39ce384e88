//! Login, logout and the landing page. The login is the API's (`open_session`: the same
//! password check, throttling and session); the portal adds a form and a login CSRF cookie.

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use didhub_core::access::Need;

use super::{render, Chrome, Errors, Form, PageResult, Viewer};
use crate::api::accounts::users::{close_session, open_session, SESSION_HOURS};
use crate::auth::{same, session_cookie};
use crate::error::ApiError;
use crate::AppState;

/// The cookie that proves a login form was ours (double submit): a login from another site
/// cannot read it, so it cannot sign a visitor in to an account of its choosing.
const LOGIN_COOKIE: &str = "didhub_login";

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage {
    chrome: Chrome,
    email: String,
    next: String,
    token: String,
    errors: Errors,
    /// A refusal of the whole attempt (wrong password, throttled, expired form).
    refusal: Option<String>,
}

/// Where a user goes first: staff to the dashboard, partner users to their customers.
pub async fn landing(v: Viewer) -> Response {
    if v.principal.role.allows(Need::Staff) {
        Redirect::to("/dashboard").into_response()
    } else {
        Redirect::to("/customers").into_response()
    }
}

/// Only a path of this site: never another host (`//host`, `/\host`) or a scheme.
fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control())
        && next.len() <= 2000;
    ok.then_some(next)
}

fn login_cookie(token: &str, secure: bool, max_age: u32) -> String {
    format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

fn login_page(
    s: &AppState,
    status: StatusCode,
    email: &str,
    next: &str,
    errors: Errors,
    refusal: Option<String>,
) -> Response {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let page = LoginPage {
        chrome: Chrome::anonymous("Sign in"),
        email: email.to_string(),
        next: safe_next(next).unwrap_or("").to_string(),
        token: token.clone(),
        errors,
        refusal,
    };
    let mut resp = render(status, &page);
    if let Ok(v) = login_cookie(&token, s.secure_cookies, 3600).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

pub async fn login_form(State(s): State<AppState>, uri: axum::http::Uri) -> Response {
    let q = Form::query(&uri);
    login_page(
        &s,
        StatusCode::OK,
        "",
        q.value("next"),
        Errors::default(),
        None,
    )
}

pub async fn login(
    State(s): State<AppState>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = Form::parse(&body);
    let (email, password, next) = (f.value("email"), f.value("password"), f.value("next"));
    let sent_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == LOGIN_COOKIE)
        .map(|(_, v)| v)
        .unwrap_or("");
    if sent_cookie.is_empty() || !same(sent_cookie, f.value("token")) {
        let why = "This sign-in form had expired. Please sign in again.".to_string();
        return login_page(
            &s,
            StatusCode::FORBIDDEN,
            email,
            next,
            Errors::default(),
            Some(why),
        );
    }
    let mut errors = Errors::default();
    if email.trim().is_empty() {
        errors.add("email", "Enter your e-mail address.");
    }
    if password.is_empty() {
        errors.add("password", "Enter your password.");
    }
    if !errors.is_empty() {
        return login_page(
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            email,
            next,
            errors,
            None,
        );
    }
    let address = crate::auth::client_address(&ext);
    match open_session(&s, email, password, &address).await {
        Ok((_, token, _)) => {
            let cookie = session_cookie(&token, s.secure_cookies, SESSION_HOURS * 3600);
            let to = safe_next(next).unwrap_or("/");
            let mut resp = Redirect::to(to).into_response();
            let h = resp.headers_mut();
            for c in [cookie, login_cookie("", s.secure_cookies, 0)] {
                if let Ok(v) = c.parse() {
                    h.append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Err(ApiError::Unauthorized(_)) => login_page(
            &s,
            StatusCode::UNAUTHORIZED,
            email,
            next,
            Errors::default(),
            Some("Wrong e-mail address or password.".into()),
        ),
        Err(ApiError::Throttled(_, secs)) => {
            let minutes = secs.div_ceil(60);
            let why = format!(
                "Too many failed sign-ins. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut resp = login_page(
                &s,
                StatusCode::TOO_MANY_REQUESTS,
                email,
                next,
                Errors::default(),
                Some(why),
            );
            if let Ok(v) = secs.to_string().parse() {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Err(e) => super::PageError::new(None, e).into_response(),
    }
}

pub async fn logout(State(s): State<AppState>, v: Viewer) -> PageResult {
    close_session(&s, &v.principal)
        .await
        .map_err(|e| v.fail(e))?;
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(c) = session_cookie("", s.secure_cookies, 0).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next("/dids?status=in_stock"),
            Some("/dids?status=in_stock")
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
            "dids",
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
    }
}
