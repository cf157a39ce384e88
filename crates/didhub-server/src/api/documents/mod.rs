//! Documents: upload (multipart), metadata and content. Partner users upload and read their
//! own partner's documents only; another partner's are not found. The checks (type by
//! content, size, name) are the core's, applied by `store.documents()`.

use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::{Bytes, BytesMut};
use didhub_core::documents::{content_disposition, DocumentKind, SubjectKind};
use didhub_store::documents::{Document, Subject};
use didhub_store::StoreError;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::{AppState, Principal};

/// Multipart form of an upload.
#[derive(utoipa::ToSchema)]
#[schema(as = DocumentUpload)]
#[allow(dead_code)]
pub struct UploadForm {
    /// `loa`, `invoice`, `agreement`, `other` or `attachment`.
    kind: DocumentKind,
    /// The file: PDF, PNG, JPEG or ZIP (judged by its content), at most the configured size
    /// (10 MiB unless configured).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The partner the document belongs to: required for staff; a partner user's own partner
    /// otherwise.
    partner_id: Option<Uuid>,
    /// `order` (with `subject_id`): attach the document to an order of that partner.
    subject_kind: Option<SubjectKind>,
    subject_id: Option<Uuid>,
}

/// The bytes of a document, as the OpenAPI document describes a download.
#[derive(utoipa::ToSchema)]
#[schema(as = DocumentContent, value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct Content(Vec<u8>);

/// Room above the file for the form's other fields and its multipart framing.
pub const FORM_OVERHEAD: u64 = 64 * 1024;

/// The refusal of a file over the limit, naming the field.
pub fn too_large(max: u64) -> ApiError {
    ApiError::Store(StoreError::TooLarge {
        field: "file".into(),
        message: format!("the file is over the limit of {max} bytes"),
    })
}

/// Reads the file field into memory, refusing it as soon as it passes `max` bytes.
async fn read_file(mut field: Field<'_>, max: u64) -> ApiResult<Bytes> {
    let mut buf = BytesMut::new();
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            // The body was cut at the route's limit, or the framing is broken.
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(max)),
            Err(e) => return Err(ApiError::field("file", e.body_text())),
        };
        if buf.len() as u64 + chunk.len() as u64 > max {
            return Err(too_large(max));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

async fn text(field: Field<'_>, name: &str) -> ApiResult<String> {
    let v = field
        .text()
        .await
        .map_err(|e| ApiError::field(name, e.body_text()))?;
    Ok(v.trim().to_string())
}

fn uuid(name: &str, v: &str) -> ApiResult<Uuid> {
    v.parse()
        .map_err(|_| ApiError::field(name, format!("'{}' is not an id", short(v))))
}

fn short(v: &str) -> String {
    let s: String = v.chars().take(100).collect();
    didhub_core::text::escape(&s).into_owned()
}

/// Upload a document (multipart: `kind`, `file`, optional `partner_id`, `subject_kind` and
/// `subject_id`). Its type is taken from its content; a refused file stores nothing. The
/// same content uploaded twice is kept once (two documents, one content).
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents", request_body(content = UploadForm,
    content_type = "multipart/form-data"), responses((status = 201, body = Document),
    (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let mut form = form.map_err(|e| {
        ApiError::field(
            "file",
            format!(
                "send the file as multipart/form-data with the fields 'kind' and 'file' ({})",
                e.body_text()
            ),
        )
    })?;
    let max = s.store.documents().max_bytes();
    let (mut kind, mut file, mut partner) = (None, None, None);
    let (mut subject_kind, mut subject_id) = (None, None);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(max)),
            Err(e) => {
                return Err(ApiError::BadRequest(format!(
                    "multipart: {}",
                    e.body_text()
                )))
            }
        };
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "file" => {
                let file_name = field.file_name().unwrap_or("").to_string();
                file = Some((file_name, read_file(field, max).await?));
            }
            "kind" => {
                let v = text(field, "kind").await?;
                kind = Some(
                    v.parse::<DocumentKind>()
                        .map_err(|e| ApiError::field("kind", e))?,
                );
            }
            "partner_id" => partner = Some(uuid("partner_id", &text(field, &name).await?)?),
            "subject_kind" => {
                let v = text(field, "subject_kind").await?;
                subject_kind = Some(
                    v.parse::<SubjectKind>()
                        .map_err(|e| ApiError::field("subject_kind", e))?,
                );
            }
            "subject_id" => subject_id = Some(uuid("subject_id", &text(field, &name).await?)?),
            _ => {
                return Err(ApiError::field(
                    short(&name),
                    "not a field of an upload; expected kind, file, partner_id, subject_kind, \
                     subject_id",
                ))
            }
        }
    }
    let kind = kind.ok_or_else(|| {
        ApiError::field(
            "kind",
            "required: loa, invoice, agreement, other or attachment",
        )
    })?;
    let (file_name, bytes) = file
        .ok_or_else(|| ApiError::field("file", "attach the file as the multipart field 'file'"))?;
    let partner = partner.or(p.scope().partner()).ok_or_else(|| {
        ApiError::field(
            "partner_id",
            "required: the partner the document belongs to",
        )
    })?;
    let subject = match (subject_kind, subject_id) {
        (Some(kind), Some(id)) => Some(Subject { kind, id }),
        (None, None) => None,
        (Some(_), None) => return Err(ApiError::field("subject_id", "required with subject_kind")),
        (None, Some(_)) => return Err(ApiError::field("subject_kind", "required with subject_id")),
    };
    let d = s
        .store
        .documents()
        .put(
            &p.actor(),
            p.scope(),
            partner,
            kind,
            &file_name,
            bytes,
            subject,
        )
        .await?;
    let location = format!("/api/v1/documents/{}", d.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(d)).into_response())
}

/// A document's metadata.
#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents", params(("id" = Uuid, Path)),
    responses((status = 200, body = Document), (status = 404, body = Problem)))]
pub async fn get_one(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Document>> {
    Ok(Json(s.store.documents().get(p.scope(), id).await?))
}

/// A document's content, as uploaded: its type as the content showed it, to be saved
/// (`Content-Disposition: attachment`), never sniffed into another type by a browser.
#[utoipa::path(get, path = "/api/v1/documents/{id}/content", tag = "documents", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The content (PDF, PNG, JPEG or ZIP).",
        content((Content = "application/pdf"), (Content = "image/png"), (Content = "image/jpeg"),
        (Content = "application/zip"))), (status = 404, body = Problem)))]
pub async fn content(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let (d, bytes) = s.store.documents().content(p.scope(), id).await?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    let value =
        |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("attachment"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&d.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        value(&content_disposition(&d.file_name)),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(header::ETAG, value(&format!("\"{}\"", d.sha256)));
    Ok(r)
}
