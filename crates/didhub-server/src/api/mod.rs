//! `/api/v1` handlers. Each is thin: parse, call the store (which applies core rules), answer.

use axum::http::HeaderMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub mod audit;
pub mod dids;
pub mod operators;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
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
        .routes(routes!(dids::export))
        .routes(routes!(audit::list))
}

/// The version named by `If-Match` (`"3"`, `3` or `W/"3"`).
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    let s = s.trim_start_matches("W/").trim_matches('"');
    s.parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::field("If-Match", format!("'{s}' is not a version number")))
}

/// An entity tag for a version.
pub fn etag(version: i64) -> (axum::http::HeaderName, String) {
    (axum::http::header::ETAG, format!("\"{version}\""))
}
