//! Authentication (bearer token or session cookie with CSRF) and authorisation: every route has
//! an entry in [`crate::api::POLICY`]; a route without one is refused, never open.

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use didhub_core::access::{Need, Role};
use didhub_store::accounts::orgs::Scope;
use didhub_store::accounts::tokens::Identity;
use didhub_store::Actor;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::api::{policy_for, Policy};
use crate::error::ApiError;
use crate::AppState;

pub const SESSION_COOKIE: &str = "didhub_session";

/// How long a verified token is trusted without asking the database again. A revocation made
/// on this instance clears the cache at once; one made elsewhere takes effect within this time.
/// A token's own expiry is never stretched by it: the cache checks it on every use.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Verified bearer tokens, so that hot paths (routing lookups) cost no database round trip.
/// Lookups take a shared lock and hash the token before taking it: two request threads never
/// wait for each other, and none waits on a thread that was preempted while hashing.
#[derive(Default)]
pub struct TokenCache {
    inner: std::sync::RwLock<std::collections::HashMap<[u8; 32], (Identity, std::time::Instant)>>,
    /// Bumped by every `clear`: an identity read from the database before a clear is not
    /// cached after it (it may be the role or state the clear was for).
    generation: std::sync::atomic::AtomicU64,
}

impl TokenCache {
    fn key(token: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    pub fn get(&self, token: &str) -> Option<Identity> {
        let k = Self::key(token);
        let m = self.inner.read().unwrap_or_else(|e| e.into_inner());
        m.get(&k)
            .filter(|(i, at)| {
                at.elapsed() < TOKEN_CACHE_TTL
                    // The database's test (`expires_at > now`), to the same instant.
                    && i.expires_at.is_none_or(|e| chrono::Utc::now() < e)
            })
            .map(|(i, _)| i.clone())
    }

    /// The generation to hand to `put` for an identity about to be read from the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Caches an identity read while the cache was at `generation`, unless cleared since.
    pub fn put(&self, token: &str, i: Identity, generation: u64) {
        let k = Self::key(token);
        let mut m = self.inner.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the write lock, which `clear` also takes after bumping the generation.
        if self.generation() != generation {
            return;
        }
        if m.len() > 10_000 {
            m.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE_TTL);
        }
        m.insert(k, (i, std::time::Instant::now()));
    }

    pub fn clear(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is calling, attached to every authenticated request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: uuid::Uuid,
    pub email: String,
    pub role: Role,
    pub partner_id: Option<uuid::Uuid>,
    pub credential_id: uuid::Uuid,
    pub session: bool,
    pub token_name: Option<String>,
}

impl Principal {
    pub(crate) fn from_identity(i: Identity) -> Self {
        Principal {
            user_id: i.user_id,
            email: i.email,
            role: i.role,
            partner_id: i.partner_id,
            credential_id: i.credential_id,
            session: i.csrf.is_some(),
            token_name: i.token_name,
        }
    }

    pub fn actor(&self) -> Actor {
        match &self.token_name {
            Some(t) => Actor(format!("user:{} (token {t})", self.email)),
            None => Actor(format!("user:{}", self.email)),
        }
    }

    /// The rows this caller may see.
    pub fn scope(&self) -> Scope {
        match (self.role.is_partner(), self.partner_id) {
            (true, Some(p)) => Scope::Partner(p),
            // A partner role always has a partner (a database CHECK); should one not, it
            // sees nothing rather than everything: the nil partner owns no rows.
            (true, None) => Scope::Partner(uuid::Uuid::nil()),
            (false, _) => Scope::All,
        }
    }

    /// Refuses a need the role lacks: 404 for partner users (they must not learn what exists
    /// beyond their own data), 403 for staff.
    pub fn require(&self, need: Need) -> Result<(), ApiError> {
        if self.role.allows(need) {
            Ok(())
        } else if self.role.is_partner() {
            Err(ApiError::NotFound("resource".into()))
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role may not do this",
                self.role
            )))
        }
    }
}

pub(crate) fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Constant-time comparison for secrets.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub async fn authorize(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let Some(policy) = policy_for(req.method(), &path) else {
        // Another method of a known route: 405, as the router would answer (no handler runs).
        let allow = crate::api::methods_for(&path);
        if !allow.is_empty() {
            return ApiError::MethodNotAllowed {
                allow: allow.join(", "),
            }
            .into_response();
        }
        // A route that was added without a policy: refused, and worth an operator's look.
        tracing::error!(method = %req.method(), path, "route has no access policy; refused");
        return ApiError::Forbidden("this route has no access policy".into()).into_response();
    };
    if policy == Policy::Public {
        if let Some(refused) = stray_query(&req, &path) {
            return refused;
        }
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let identity = match (&bearer, cookie(&req, SESSION_COOKIE)) {
        (Some(t), _) => match s.tokens.get(t) {
            Some(i) => Ok(Some(i)),
            None => {
                let generation = s.tokens.generation();
                let r = s.store.accounts().verify_token(t).await;
                if let Ok(Some(i)) = &r {
                    s.tokens.put(t, i.clone(), generation);
                }
                r
            }
        },
        (None, Some(c)) => {
            let c = c.to_string();
            match s.store.accounts().verify_session(&c).await {
                Ok(Some(i)) => {
                    // Cookies ride along on cross-site requests; unsafe ones must prove origin.
                    let unsafe_method =
                        !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
                    let sent = req
                        .headers()
                        .get(CSRF_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if unsafe_method && !i.csrf.as_deref().is_some_and(|c| same(c, sent)) {
                        return ApiError::Forbidden(format!(
                            "missing or wrong {CSRF_HEADER} header"
                        ))
                        .into_response();
                    }
                    Ok(Some(i))
                }
                other => other,
            }
        }
        (None, None) => Ok(None),
    };
    let p = match identity {
        Ok(Some(i)) => Principal::from_identity(i),
        Ok(None) => {
            let why = match (&bearer, cookie(&req, SESSION_COOKIE)) {
                (Some(_), _) => "the bearer token is not valid (unknown, expired or revoked)",
                (None, Some(_)) => "the session has ended; log in again",
                (None, None) => crate::error::NO_CREDENTIALS,
            };
            return ApiError::Unauthorized(why).into_response();
        }
        Err(e) => return ApiError::Store(e).into_response(),
    };
    if let Policy::Need(n) = policy {
        if let Err(e) = p.require(n) {
            return e.into_response();
        }
    }
    // Only now, for a caller who may use the route: what it takes is none of an outsider's
    // business (401 and 404 come first).
    if let Some(refused) = stray_query(&req, &path) {
        return refused;
    }
    req.extensions_mut().insert(p);
    next.run(req).await
}

/// A query string on a route that takes none would be ignored: refused instead, naming its
/// first parameter (a filter sent to the wrong route must not pass for applied).
fn stray_query(req: &Request, path: &str) -> Option<Response> {
    let q = req.uri().query().filter(|q| !q.is_empty())?;
    if crate::api::takes_query(req.method(), path) {
        return None;
    }
    let first: String = form_urlencoded::parse(q.as_bytes())
        .next()
        .map(|(k, _)| k.chars().take(100).collect())
        .unwrap_or_default();
    Some(ApiError::field(first, "this route takes no query parameters").into_response())
}

/// The client address for login throttling.
pub fn client_address(req: &axum::http::Extensions) -> String {
    req.get::<ConnectInfo<crate::PeerAddr>>()
        .map(|c| c.0 .0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn session_cookie(token: &str, secure: bool, max_age: i64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(role: Role) -> Identity {
        Identity {
            user_id: uuid::Uuid::now_v7(),
            email: "a@example.com".into(),
            role,
            partner_id: None,
            credential_id: uuid::Uuid::now_v7(),
            csrf: None,
            token_name: Some("t".into()),
            expires_at: None,
        }
    }

    #[test]
    fn a_clear_wins_over_a_lookup_that_started_before_it() {
        let cache = TokenCache::default();
        let g = cache.generation();
        cache.put("tok", identity(Role::Admin), g);
        assert_eq!(cache.get("tok").map(|i| i.role), Some(Role::Admin));
        // A lookup starts, a role change clears the cache, the lookup ends: not cached.
        let before = cache.generation();
        cache.clear();
        cache.put("tok", identity(Role::Admin), before);
        assert!(cache.get("tok").is_none());
        // A lookup that starts after the clear is cached.
        cache.put("tok", identity(Role::Operations), cache.generation());
        assert_eq!(cache.get("tok").map(|i| i.role), Some(Role::Operations));
        assert!(cache.get("other").is_none());
    }

    #[test]
    fn a_cached_token_dies_at_its_expiry() {
        let cache = TokenCache::default();
        let mut i = identity(Role::Admin);
        i.expires_at = Some(chrono::Utc::now() + chrono::Duration::milliseconds(300));
        cache.put("tok", i.clone(), cache.generation());
        assert!(cache.get("tok").is_some(), "valid until its expiry");
        std::thread::sleep(std::time::Duration::from_millis(350));
        assert!(cache.get("tok").is_none(), "cached, but expired");
        // One that expired before it was cached is never answered from the cache either.
        i.expires_at = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
        cache.put("old", i, cache.generation());
        assert!(cache.get("old").is_none());
    }
}
