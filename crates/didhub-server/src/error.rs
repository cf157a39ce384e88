//! RFC 9457 problem details: every error the API returns, with a stable `type`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use didhub_store::StoreError;
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A problem+json body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `urn:didhub:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// No credentials at all.
pub const NO_CREDENTIALS: &str = "authentication required: send 'Authorization: Bearer <token>'";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Why the request is not authenticated (no credentials, or ones that are not valid).
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("{0}")]
    IdempotencyMismatch(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UriTooLong(String),
    #[error("{0}")]
    HeadTooLarge(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Throttled(String, u64),
    #[error("this route does not take that method; it takes {allow}")]
    MethodNotAllowed { allow: String },
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl ToString) -> Self {
        ApiError::Field {
            field: field.into(),
            message: message.to_string(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StoreError as S;
        match self {
            ApiError::Store(S::NotFound { .. }) | ApiError::NotFound(_) => {
                (StatusCode::NOT_FOUND, "not-found", "Not found")
            }
            ApiError::Store(S::Invalid { .. })
            | ApiError::Store(S::InvalidFields(_))
            | ApiError::Field { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
            ),
            ApiError::Store(S::Conflict(_) | S::Raced { .. }) => {
                (StatusCode::CONFLICT, "conflict", "Conflict")
            }
            ApiError::Store(S::InUse(_)) => (StatusCode::CONFLICT, "in-use", "In use"),
            ApiError::Store(S::TooLarge { .. }) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Payload too large",
            ),
            // The last line behind the store's own in-use checks: never a 500 for it.
            ApiError::Store(e) if e.is_foreign_key_violation() => {
                (StatusCode::CONFLICT, "in-use", "In use")
            }
            ApiError::Store(S::VersionMismatch { .. }) => (
                StatusCode::PRECONDITION_FAILED,
                "version-mismatch",
                "Changed by someone else",
            ),
            ApiError::Store(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::PreconditionRequired(_) => (
                StatusCode::PRECONDITION_REQUIRED,
                "precondition-required",
                "Precondition required",
            ),
            ApiError::IdempotencyMismatch(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
            ),
            ApiError::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Payload too large",
            ),
            ApiError::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "uri-too-long", "URI too long"),
            ApiError::HeadTooLarge(_) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "head-too-large",
                "Request header fields too large",
            ),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::Throttled(..) => (
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "Too many attempts",
            ),
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, kind, title) = self.parts();
        let errors = match self {
            ApiError::Store(StoreError::Invalid { field, message })
            | ApiError::Store(StoreError::TooLarge { field, message })
            | ApiError::Field { field, message } => {
                vec![FieldError {
                    field: field.clone(),
                    message: message.clone(),
                }]
            }
            ApiError::Store(StoreError::InvalidFields(all)) => all
                .iter()
                .map(|(field, message)| FieldError {
                    field: field.clone(),
                    message: message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let detail = if matches!(self, ApiError::Store(e) if e.is_foreign_key_violation()) {
            "it refers to a record that no longer exists, or other records still refer to it"
                .to_string()
        } else if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Internal details go to the log, not to the client.
            "the server could not complete the request; it has been logged".to_string()
        } else {
            self.to_string()
        };
        Problem {
            kind: format!("urn:didhub:problem:{kind}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let p = self.problem();
        if p.status >= 500 {
            tracing::error!(error = %self, "request failed");
        }
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&p).unwrap_or_default();
        let mut r = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let ApiError::MethodNotAllowed { allow } = &self {
            if let Ok(v) = header::HeaderValue::from_str(allow) {
                r.headers_mut().insert(header::ALLOW, v);
            }
        }
        if let ApiError::Throttled(_, secs) = &self {
            if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
