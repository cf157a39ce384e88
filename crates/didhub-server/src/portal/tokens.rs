//! API tokens: the user's own (an admin's: everyone's, as the API lists them), a new one
//! whose secret is shown once, and revoking one.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{NaiveDate, TimeZone, Utc};
use didhub_core::access::Role;
use didhub_store::StoreError;
use uuid::Uuid;

use super::{render, shown, when, Chrome, Errors, Form, PageResult, Viewer};
use crate::error::ApiError;
use crate::AppState;

pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub revoked: String,
}

#[derive(Template)]
#[template(path = "portal/tokens.html")]
struct TokensPage {
    chrome: Chrome,
    rows: Vec<TokenView>,
    form: Form,
    errors: Errors,
    /// A token just created: its name and its secret, shown this once.
    created: Option<(String, String)>,
    done: Option<String>,
}

/// Whose tokens the viewer manages: its own, an admin everyone's (the API's rule).
fn owner(v: &Viewer) -> Option<Uuid> {
    (v.principal.role != Role::Admin).then_some(v.principal.user_id)
}

async fn tokens_page(
    s: &AppState,
    v: &Viewer,
    form: Form,
    errors: Errors,
    created: Option<(String, String)>,
    done: Option<String>,
) -> PageResult {
    let list = s
        .store
        .accounts()
        .list_tokens(owner(v))
        .await
        .map_err(|e| v.fail(e))?;
    let page = TokensPage {
        chrome: v.chrome("API tokens", "/tokens"),
        rows: list
            .iter()
            .map(|t| TokenView {
                id: t.id,
                name: shown(&t.name),
                created: when(&t.created_at),
                expires: t.expires_at.as_ref().map(when).unwrap_or_default(),
                last_used: t.last_used_at.as_ref().map(when).unwrap_or_default(),
                revoked: t.revoked_at.as_ref().map(when).unwrap_or_default(),
            })
            .collect(),
        form,
        errors,
        created,
        done,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

pub async fn list(State(s): State<AppState>, v: Viewer) -> PageResult {
    tokens_page(&s, &v, Form::default(), Errors::default(), None, None).await
}

pub async fn create(State(s): State<AppState>, v: Viewer, body: axum::body::Bytes) -> PageResult {
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let expires = match form.value("expires").trim() {
        "" => None,
        d => match d.parse::<NaiveDate>() {
            Ok(d) => d.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t)),
            Err(_) => {
                errors.add(
                    "expires",
                    format!("'{}' is not a day (YYYY-MM-DD)", shown(d)),
                );
                None
            }
        },
    };
    if !errors.is_empty() {
        return tokens_page(&s, &v, form, errors, None, None).await;
    }
    match s
        .store
        .accounts()
        .create_token(
            &v.principal.actor(),
            v.principal.user_id,
            form.value("name"),
            expires,
        )
        .await
    {
        Ok((t, secret)) => {
            let created = Some((shown(&t.name), secret));
            tokens_page(&s, &v, Form::default(), errors, created, None).await
        }
        Err(StoreError::Invalid { field, message }) => {
            let field = if field == "expires_at" {
                "expires".into()
            } else {
                field
            };
            errors.add(field, message);
            tokens_page(&s, &v, form, errors, None, None).await
        }
        Err(e) => Err(v.fail(e)),
    }
}

pub async fn revoke(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id: Uuid = id
        .parse()
        .map_err(|_| v.fail(ApiError::NotFound("token".into())))?;
    s.store
        .accounts()
        .revoke_token(&v.principal.actor(), id, owner(&v))
        .await
        .map_err(|e| v.fail(e))?;
    // As the API does: cached identities go with it.
    s.tokens.clear();
    let done = Some("The token is revoked.".to_string());
    tokens_page(&s, &v, Form::default(), Errors::default(), None, done).await
}
