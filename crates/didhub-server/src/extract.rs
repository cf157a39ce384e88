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
                ApiError::field(field_of(&e, "body"), plain(e.inner().to_string()))
            } else {
                ApiError::BadRequest(format!("the body is not valid JSON: {}", e.inner()))
            }
        })?;
        de.end()
            .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
        Ok(Json(v))
    }
}

/// A value-parsing message of the standard library or a crate, as a user reads it: what was
/// expected rather than how parsing failed.
fn plain(message: String) -> String {
    let m = message.as_str();
    if m.contains("invalid digit found in string") || m.contains("cannot parse integer") {
        "expected a whole number".into()
    } else if m.contains("number too large") || m.contains("number too small") {
        "out of range".into()
    } else if m.contains("UUID parsing failed") || m.starts_with("invalid character: expected") {
        "expected an id (a UUID such as 0193a5b0-7c1e-7d2a-9f3b-2c4d5e6f7a8b)".into()
    } else if m.contains("input contains invalid characters")
        || m.contains("premature end of input")
        || m.contains("input is out of range")
        || m.contains("trailing input")
    {
        "expected a date and time in RFC 3339 form, such as 2026-11-29T10:00:00Z".into()
    } else if let Some(rest) = m.strip_prefix("unknown variant `") {
        // "unknown variant `x`, expected one of `a`, `b`"
        let (value, expected) = rest.split_once("`, expected").unwrap_or((rest, ""));
        format!(
            "unknown value '{value}'; expected{}",
            expected.replace('`', "")
        )
    } else if let Some(rest) = m.strip_prefix("unknown field `") {
        let expected = rest.split_once("`, expected").map(|(_, e)| e).unwrap_or("");
        format!(
            "not a parameter of this request; expected{}",
            expected.replace('`', "")
        )
    } else {
        message
    }
}

/// Query string; a bad or unknown parameter is a 422 problem naming it (a misspelt filter
/// must not widen a list or an export to everything).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| ApiError::field(field_of(&e, "query"), plain(e.inner().to_string())))
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
            .map_err(|_| {
                let path: String = parts.uri.path().chars().take(200).collect();
                ApiError::NotFound(format!("nothing at {path}: it names no valid id"))
            })
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}
