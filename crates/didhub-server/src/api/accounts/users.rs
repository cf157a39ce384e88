//! Login, sessions, API tokens and users.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use didhub_core::access::Role;
use didhub_store::accounts::tokens::TokenInfo;
use didhub_store::accounts::users::{LoginError, User};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::session_cookie;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::{AppState, Principal};

/// Session lifetime.
pub(crate) const SESSION_HOURS: i64 = 12;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginAnswer {
    pub user: User,
    /// Send as `X-CSRF-Token` on every unsafe request made with the session cookie.
    pub csrf_token: String,
}

/// Password login: sets the session cookie (HttpOnly, SameSite=Strict, Secure unless
/// configured otherwise). Failed logins are throttled per account and per address.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginBody, security(()),
    responses((status = 200, body = LoginAnswer), (status = 401,
    description = "Wrong e-mail address or password", body = Problem), (status = 429,
    description = "Too many failed logins: try again after `Retry-After` seconds", body = Problem)))]
pub async fn login(
    State(s): State<AppState>,
    ext: axum::http::Extensions,
    Json(b): Json<LoginBody>,
) -> ApiResult<Response> {
    let address = crate::auth::client_address(&ext);
    let (user, token, csrf) = open_session(&s, &b.email, &b.password, &address).await?;
    let cookie = session_cookie(&token, s.secure_cookies, SESSION_HOURS * 3600);
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(LoginAnswer {
            user,
            csrf_token: csrf,
        }),
    )
        .into_response())
}

/// Checks a password login (throttled per account and per address) and opens a session:
/// (user, session token, CSRF token). The API's login and the portal's.
pub(crate) async fn open_session(
    s: &AppState,
    email: &str,
    password: &str,
    address: &str,
) -> ApiResult<(User, String, String)> {
    let user = match s.store.accounts().login(email, password, address).await {
        Ok(u) => u,
        Err(LoginError::Invalid) => {
            return Err(ApiError::Unauthorized("wrong e-mail address or password"))
        }
        Err(LoginError::Throttled { retry_after_secs }) => {
            return Err(ApiError::Throttled(
                "too many failed logins; try again later".into(),
                retry_after_secs,
            ))
        }
        Err(LoginError::Store(e)) => return Err(e.into()),
    };
    let (token, csrf) = s
        .store
        .accounts()
        .create_session(user.id, chrono::Duration::hours(SESSION_HOURS))
        .await?;
    Ok((user, token, csrf))
}

/// Ends a session (nothing for a token) and records the logout: the API's and the portal's.
pub(crate) async fn close_session(s: &AppState, p: &Principal) -> ApiResult<()> {
    if p.session {
        s.store.accounts().end_session(p.credential_id).await?;
    }
    s.store
        .audit()
        .audit_event(
            &p.actor(),
            "auth.logout",
            "user",
            Some(p.email.clone()),
            serde_json::json!({}),
        )
        .await?;
    Ok(())
}

/// End the session (or do nothing for a token) and clear the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", responses((status = 204)))]
pub async fn logout(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    close_session(&s, &p).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie("", s.secure_cookies, 0))],
    )
        .into_response())
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "accounts", responses((status = 200, body = User)))]
pub async fn me(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<User>> {
    Ok(Json(s.store.accounts().get_user(None, p.user_id).await?))
}

/// Your tokens (admins: everyone's).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "accounts", responses((status = 200, body = Vec<TokenInfo>)))]
pub async fn list_tokens(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    let owner = (p.role != Role::Admin).then_some(p.user_id);
    Ok(Json(s.store.accounts().list_tokens(owner).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewToken {
    pub token: TokenInfo,
    /// The secret, shown once.
    pub secret: String,
}

/// Create a token for yourself; it acts with your role.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "accounts", request_body = TokenBody,
    responses((status = 201, body = NewToken), (status = 422, body = Problem)))]
pub async fn create_token(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(b): Json<TokenBody>,
) -> ApiResult<impl IntoResponse> {
    let (token, secret) = s
        .store
        .accounts()
        .create_token(&p.actor(), p.user_id, &b.name, b.expires_at)
        .await?;
    Ok((StatusCode::CREATED, Json(NewToken { token, secret })))
}

/// Revoke one of your tokens (admins: any).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "accounts", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let owner = (p.role != Role::Admin).then_some(p.user_id);
    s.store
        .accounts()
        .revoke_token(&p.actor(), id, owner)
        .await?;
    s.tokens.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// Partner admins manage their partner's users only.
pub(crate) fn user_scope(p: &Principal) -> Option<Uuid> {
    // Fails closed like `Principal::scope`: no partner, no users.
    p.role
        .is_partner()
        .then(|| p.partner_id.unwrap_or(Uuid::nil()))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "accounts", responses((status = 200, body = Vec<User>)))]
pub async fn list_users(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(s.store.accounts().list_users(user_scope(&p)).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    pub email: String,
    pub role: Role,
    /// Required for partner roles; partner admins create users of their own partner.
    pub partner_id: Option<Uuid>,
    pub password: Option<String>,
}

/// Create a user. Admins give any role; partner admins give partner roles in their partner.
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", request_body = UserBody,
    responses((status = 201, body = User), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(b): Json<UserBody>,
) -> ApiResult<impl IntoResponse> {
    let partner = match user_scope(&p) {
        Some(own) => Some(own),
        None => b.partner_id,
    };
    let u = s
        .store
        .accounts()
        .create_user(
            &p.actor(),
            Some(p.role),
            &b.email,
            b.role,
            partner,
            b.password.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(u)))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "accounts", params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 404, body = Problem)))]
pub async fn get_user(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<User>> {
    Ok(Json(s.store.accounts().get_user(user_scope(&p), id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Change a user's role or disable it (security audit entries).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "accounts", params(("id" = Uuid, Path)),
    request_body = UserPatch, responses((status = 200, body = User), (status = 404, body = Problem),
    (status = 422, body = Problem)))]
pub async fn update_user(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    Json(b): Json<UserPatch>,
) -> ApiResult<Json<User>> {
    let u = s
        .store
        .accounts()
        .update_user(&p.actor(), p.role, user_scope(&p), id, b.role, b.disabled)
        .await?;
    // Role and disabled flag are part of cached identities.
    s.tokens.clear();
    Ok(Json(u))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub password: String,
}

/// Set a user's password.
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "accounts", params(("id" = Uuid, Path)),
    request_body = PasswordBody, responses((status = 204), (status = 404, body = Problem), (status = 422,
    body = Problem)))]
pub async fn set_password(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    Json(b): Json<PasswordBody>,
) -> ApiResult<StatusCode> {
    s.store.accounts().get_user(user_scope(&p), id).await?;
    s.store
        .accounts()
        .set_password(&p.actor(), id, &b.password)
        .await?;
    // The user's sessions ended with the old password; cached ones with them.
    s.tokens.clear();
    Ok(StatusCode::NO_CONTENT)
}
