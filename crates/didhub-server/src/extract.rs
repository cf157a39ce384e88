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

pub fn is_json(headers: &HeaderMap) -> bool {
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

/// A JSON body's bytes as `T`: a value that does not fit is a 422 naming its field, text that
/// is not JSON a 400.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // Objects only: serde_json alone would read a struct from an array of its fields.
    let v = serde_path_to_error::deserialize(crate::objects_only::ObjectsOnly(&mut de)).map_err(
        |e| {
            if e.inner().is_data() {
                ApiError::field(field_of(&e, "body"), plain(e.inner().to_string()))
            } else {
                ApiError::BadRequest(format!("the body is not valid JSON: {}", e.inner()))
            }
        },
    )?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    Ok(v)
}

/// A request body as bytes, whatever its type; a body over the route's limit is a 413
/// problem like any other refusal.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge(e.body_text())
                } else {
                    ApiError::BadRequest(e.body_text())
                }
            })
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::BadRequest(
                "expected a JSON body with 'Content-Type: application/json'".into(),
            ));
        }
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        from_json(&bytes).map(Json)
    }
}

/// A value-parsing message of the standard library or a crate, as a user reads it: what was
/// expected rather than how parsing failed. Matched on how the messages begin (they may end
/// with a JSON position), never on text a user's value could put in the middle.
fn plain(message: String) -> String {
    let m = message.as_str();
    let starts = |p: &[&str]| p.iter().any(|p| m.starts_with(p));
    if starts(&[
        "invalid digit found in string",
        "cannot parse integer from empty string",
    ]) {
        "expected a whole number (digits only)".into()
    } else if starts(&[
        "number too large to fit in target type",
        "number too small to fit in target type",
    ]) {
        "out of range".into()
    } else if starts(&["UUID parsing failed:"]) {
        "expected an id (a UUID such as 0193a5b0-7c1e-7d2a-9f3b-2c4d5e6f7a8b)".into()
    } else if starts(&[
        "input contains invalid characters",
        "premature end of input",
        "input is out of range",
        "trailing input",
        "input is not enough for unique date and time",
        "no possible date and time matching input",
    ]) {
        "expected a date as YYYY-MM-DD (a year from 1900 to 9999), or a date and time in \
         RFC 3339 form such as 2026-11-29T10:00:00Z (in a query string, write a '+' of the \
         offset as %2B)"
            .into()
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

pub(crate) fn query_of<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de)
        .map_err(|e| ApiError::field(field_of(&e, "query"), plain(e.inner().to_string())))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        query_of(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// The parameters a query type owns, so that one query string can feed two types.
pub trait QueryKeys {
    const KEYS: &'static [&'static str];
}

/// A query string shared by a filter `F` (the domain's own type) and a page `P` (sort, order,
/// limit, cursor: the keys `P::KEYS` names). Each refuses keys it does not know, so a
/// misspelt parameter is still a 422 naming it.
pub struct SplitQuery<F, P>(pub F, pub P);

impl<F, P, S> FromRequestParts<S> for SplitQuery<F, P>
where
    F: DeserializeOwned,
    P: DeserializeOwned + QueryKeys,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let mut filter = form_urlencoded::Serializer::new(String::new());
        let mut page = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let to = if P::KEYS.contains(&k.as_ref()) {
                &mut page
            } else {
                &mut filter
            };
            to.append_pair(&k, &v);
        }
        Ok(SplitQuery(
            query_of(&filter.finish())?,
            query_of(&page.finish())?,
        ))
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
            .map_err(|e| {
                use axum::extract::path::ErrorKind;
                use axum::extract::rejection::PathRejection;
                let path: String = parts.uri.path().chars().take(200).collect();
                match &e {
                    PathRejection::FailedToDeserializePathParams(f) => {
                        // A segment that cannot be what the route names (an id that is no id):
                        // it names nothing, so 404, saying which segment.
                        let short = |v: &str| v.chars().take(100).collect::<String>();
                        let which = match f.kind() {
                            ErrorKind::ParseErrorAtKey { key, value, .. } => {
                                format!("`{key}` '{}' is not an id", short(value))
                            }
                            ErrorKind::ParseErrorAtIndex { index, value, .. } => {
                                format!("segment {index} '{}' is not an id", short(value))
                            }
                            ErrorKind::ParseError { value, .. } => {
                                format!("'{}' is not an id", short(value))
                            }
                            // A single id (the usual case) reports only its parse error.
                            _ => "an id in it is not valid".to_string(),
                        };
                        // Read as "<path> (<why>) not found".
                        ApiError::NotFound(format!("{path} ({which})"))
                    }
                    // The route and its extractor disagree: a server fault, not the client's.
                    _ => {
                        tracing::error!(path = %path, "path parameters: {}", e.body_text());
                        ApiError::Store(didhub_store::StoreError::Io(std::io::Error::other(
                            e.body_text(),
                        )))
                    }
                }
            })
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}
