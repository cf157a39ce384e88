//! Extractors whose rejections are problem+json naming what was wrong: the field of a JSON body
//! or the parameter of a query string, found by `serde_path_to_error`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// JSON body; a malformed body is a 400/422 problem naming the field.
pub struct Json<T>(pub T);

/// The field a deserialization error is about: its path (`numbers[2]`, `block.size`), or for a
/// missing field the field itself, which serde names only in the message.
fn field_of<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>, whole: &str) -> String {
    let path = e.path().to_string();
    let message = e.inner().to_string();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next());
    match (path.as_str(), missing) {
        (".", Some(f)) => f.to_string(),
        (p, Some(f)) => format!("{p}.{f}"),
        (".", None) => whole.to_string(),
        (p, None) => p.to_string(),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::BadRequest(
                "expected a JSON body with 'Content-Type: application/json'".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(e.body_text())
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let v = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            if e.inner().is_data() {
                ApiError::field(field_of(&e, "body"), e.inner())
            } else {
                ApiError::BadRequest(format!("the body is not valid JSON: {}", e.inner()))
            }
        })?;
        de.end()
            .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
        Ok(Json(v))
    }
}

/// Query string; a bad parameter is a 422 problem naming it.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| ApiError::field(field_of(&e, "query"), e.inner()))
    }
}

/// Path parameters; a malformed id is a 404 (it cannot name anything).
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| ApiError::NotFound(format!("resource ({})", e.body_text())))
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}
