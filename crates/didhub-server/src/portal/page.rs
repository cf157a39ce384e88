//! What every page is drawn with: its frame (`Chrome`), the error page, rendering, the form
//! read back and its errors beside the fields, and the few formats pages share. Apart from
//! `mod.rs`, which holds the policy, the routes and the gate.

use askama::Template;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{policy_for, Access, Viewer, HTMX_PATH, NAV};
use crate::error::ApiError;

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
pub(super) fn plain_error(status: StatusCode) -> Response {
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
