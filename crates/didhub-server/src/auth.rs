//! Bearer-token authentication for `/api`.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use didhub_store::Actor;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::error::ApiError;
use crate::AppState;

/// Who is calling, attached to every authenticated request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: uuid::Uuid,
    pub name: String,
    pub role: String,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor(format!("token:{}", self.name))
    }
}

pub async fn require_token(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return ApiError::Unauthorized.into_response();
    };
    match s.store.verify_token(token).await {
        Ok(Some(t)) => {
            req.extensions_mut().insert(Principal {
                token_id: t.id,
                name: t.name,
                role: t.role,
            });
            next.run(req).await
        }
        Ok(None) => ApiError::Unauthorized.into_response(),
        Err(e) => ApiError::Store(e).into_response(),
    }
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
