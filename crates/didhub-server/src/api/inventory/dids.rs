use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use didhub_core::did::DidStatus;
use didhub_core::import::{Defaults, MAX_IMPORT_NUMBERS};
use didhub_core::number::Country;
use didhub_store::inventory::dids::{
    Changed, Created, Deleted, DidPatch, NewDids, Selection, Target,
};
use didhub_store::inventory::import::{ImportFile, ImportOptions, ImportReport};
use didhub_store::{AuditEntry, Did, DidFilter, DidSort, Page, StoreError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::api::{etag, idempotent, if_match};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query, QueryKeys, SplitQuery};
use crate::{AppState, Principal};

/// A list's page: sort, order, size and where it starts (the filter is the store's own
/// [`DidFilter`], read from the same query string).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// `number` (default), `created`, `updated`, `status` or `country`.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl QueryKeys for PageQuery {
    const KEYS: &'static [&'static str] = &["sort", "order", "limit", "cursor"];
}

/// List DIDs: filtered, sorted, keyset-paginated.
#[utoipa::path(get, path = "/api/v1/dids", tag = "dids", params(DidFilter, PageQuery), responses((status = 200,
    body = Page<Did>), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    SplitQuery(f, q): SplitQuery<DidFilter, PageQuery>,
) -> ApiResult<Json<Page<Did>>> {
    let sort = match q.sort.as_deref() {
        None | Some("") => DidSort::Number,
        Some(v) => v.parse().map_err(|e| ApiError::field("sort", e))?,
    };
    let desc = match q.order.as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(ApiError::field(
                "order",
                format!("'{o}' is not asc or desc"),
            ))
        }
    };
    Ok(Json(
        s.store
            .inventory()
            .list_dids(&f, sort, desc, q.limit.unwrap_or(100), q.cursor.as_deref())
            .await?,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Count {
    pub count: i64,
}

/// Count the DIDs matching a filter.
#[utoipa::path(get, path = "/api/v1/dids/count", tag = "dids", params(DidFilter), responses((status = 200,
    body = Count), (status = 422, body = Problem)))]
pub async fn count(
    State(s): State<AppState>,
    Query(f): Query<DidFilter>,
) -> ApiResult<Json<Count>> {
    Ok(Json(Count {
        count: s.store.inventory().count_dids(&f).await?,
    }))
}

fn default_status() -> DidStatus {
    DidStatus::InStock
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// Numbers (E.164, international or national format) or ranges `FIRST-LAST`; at most
    /// 100,000 numbers in all.
    #[schema(example = json!(["+442079460100-+442079460199", "+33 1 23 45 67 89"]))]
    pub numbers: Vec<String>,
    /// Default country for national-format numbers.
    pub country: Option<String>,
    pub operator_id: Uuid,
    /// `in_stock` (default), `reserved` or `archive`.
    #[serde(default = "default_status")]
    pub status: DidStatus,
    /// Status after hold: `in_stock` (default), `reserved` or `archive`.
    #[serde(default = "default_status")]
    pub after_hold: DidStatus,
    pub tag: Option<String>,
    pub notes: Option<String>,
    /// Why, for the audit log.
    pub reason: Option<String>,
}

/// Create DIDs: single numbers, several, or ranges. All or nothing. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/dids", tag = "dids", request_body = CreateBody,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, body = Created),
    (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Json(b): Json<CreateBody>,
) -> ApiResult<Response> {
    idempotent(s, p, &headers, b, |s, p, b| async move {
        let country = match b.country.as_deref().filter(|c| !c.trim().is_empty()) {
            Some(c) => Some(Country::parse(c).map_err(|e| ApiError::field("country", e))?),
            None => None,
        };
        let req = NewDids {
            numbers: b.numbers.clone(),
            country,
            operator_id: b.operator_id,
            status: b.status,
            after_hold: b.after_hold,
            tag: b.tag.clone(),
            notes: b.notes.clone(),
            reason: b.reason.clone(),
        };
        let created = s.store.inventory().create_dids(&p.actor(), req).await?;
        Ok((
            StatusCode::CREATED,
            serde_json::to_value(created).unwrap_or_default(),
        ))
    })
    .await
}

/// Get one DID (its `ETag` is its version).
#[utoipa::path(get, path = "/api/v1/dids/{id}", tag = "dids", params(("id" = Uuid, Path)),
    responses((status = 200, body = Did), (status = 404, body = Problem)))]
pub async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<impl IntoResponse> {
    let d = s.store.inventory().get_did(id).await?;
    Ok(([etag(d.version)], Json(d)))
}

/// The fields of [`DidPatch`] listed rather than flattened, so that a bad value is reported
/// under its own name (a flattened struct loses it).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    pub operator_id: Option<Uuid>,
    pub status: Option<DidStatus>,
    pub after_hold: Option<DidStatus>,
    /// `null` clears it.
    #[serde(default, with = "didhub_store::inventory::dids::double_option")]
    #[schema(value_type = Option<String>)]
    pub tag: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, with = "didhub_store::inventory::dids::double_option")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    pub reason: Option<String>,
}

impl PatchBody {
    fn patch(&self) -> DidPatch {
        DidPatch {
            operator_id: self.operator_id,
            status: self.status,
            after_hold: self.after_hold,
            tag: self.tag.clone(),
            notes: self.notes.clone(),
        }
    }
}

/// Edit one DID. `If-Match: "<version>"` is required: an edit based on a stale read gets 412.
#[utoipa::path(patch, path = "/api/v1/dids/{id}", tag = "dids", params(("id" = Uuid, Path),
    ("If-Match" = String, Header)), request_body = PatchBody, responses((status = 200, body = Did),
    (status = 412, body = Problem), (status = 428, body = Problem), (status = 422, body = Problem)))]
pub async fn update_one(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<PatchBody>,
) -> ApiResult<impl IntoResponse> {
    let version = if_match(&headers)?.ok_or_else(|| {
        ApiError::PreconditionRequired(
            "send If-Match with the version you read (the ETag of GET /api/v1/dids/{id})".into(),
        )
    })?;
    let sel = Selection::Ids(vec![Target {
        id,
        version: Some(version),
    }]);
    s.store
        .inventory()
        .update_dids(&p.actor(), &sel, &b.patch(), b.reason.as_deref())
        .await
        .map_err(|e| match e {
            // The body here is the patch itself.
            StoreError::Invalid { field, message } if field == "patch" => {
                ApiError::field("body", message)
            }
            e => e.into(),
        })?;
    let d = s.store.inventory().get_did(id).await?;
    Ok(([etag(d.version)], Json(d)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReasonQuery {
    /// Why, for the audit log.
    pub reason: Option<String>,
}

impl ReasonQuery {
    /// The reason of a DELETE: `?reason=`, or a JSON body `{"reason": …}` (clients that
    /// send one must not see it dropped); both at once must agree.
    pub fn with_body(self, headers: &HeaderMap, body: &[u8]) -> ApiResult<Option<String>> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(self.reason);
        }
        if !crate::extract::is_json(headers) {
            return Err(ApiError::BadRequest(
                "a DELETE takes its reason as ?reason= or as a JSON body {\"reason\": …} \
                    with 'Content-Type: application/json'"
                    .into(),
            ));
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            reason: Option<String>,
        }
        let b: Option<Body> = crate::extract::from_json(body)?;
        match (self.reason, b.and_then(|b| b.reason)) {
            (Some(q), Some(b)) if q != b => Err(ApiError::field(
                "reason",
                "given twice, differently (query and body)",
            )),
            (q, b) => Ok(q.or(b)),
        }
    }
}

/// Delete one DID; refused while assigned, porting or on hold. `If-Match` is honoured. The
/// reason for the audit log comes as `?reason=` or as a JSON body `{"reason": …}`.
#[utoipa::path(delete, path = "/api/v1/dids/{id}", tag = "dids", params(("id" = Uuid, Path),
    ("If-Match" = Option<String>, Header), ReasonQuery), responses((status = 204), (status = 404,
    body = Problem), (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn delete_one(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Query(q): Query<ReasonQuery>,
    crate::extract::RawBody(body): crate::extract::RawBody,
) -> ApiResult<StatusCode> {
    let reason = q.with_body(&headers, &body)?;
    let sel = Selection::Ids(vec![Target {
        id,
        version: if_match(&headers)?,
    }]);
    s.store
        .inventory()
        .delete_dids(&p.actor(), &sel, reason.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A DID's history: the create or import that made it, then every change, oldest first.
#[utoipa::path(get, path = "/api/v1/dids/{id}/history", tag = "dids", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<AuditEntry>), (status = 404, body = Problem)))]
pub async fn history(
    State(s): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(s.store.audit().did_history(id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkEditBody {
    /// `{"ids": [{"id": …, "version": …}]}` or `{"filter": {…}}`.
    pub selection: Selection,
    pub patch: DidPatch,
    pub reason: Option<String>,
}

/// Edit many DIDs at once (by ids, with versions, or by filter). All or nothing; any stale
/// version fails the whole edit with 412.
#[utoipa::path(post, path = "/api/v1/dids/bulk-edit", tag = "dids", request_body = BulkEditBody,
    responses((status = 200, body = Changed), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn bulk_update(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(b): Json<BulkEditBody>,
) -> ApiResult<Json<Changed>> {
    Ok(Json(
        s.store
            .inventory()
            .update_dids(&p.actor(), &b.selection, &b.patch, b.reason.as_deref())
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkDeleteBody {
    pub selection: Selection,
    pub reason: Option<String>,
}

/// Delete many DIDs; refused for all if any is assigned, porting or on hold.
#[utoipa::path(post, path = "/api/v1/dids/bulk-delete", tag = "dids", request_body = BulkDeleteBody,
    responses((status = 200, body = Deleted), (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn bulk_delete(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(b): Json<BulkDeleteBody>,
) -> ApiResult<Json<Deleted>> {
    Ok(Json(
        s.store
            .inventory()
            .delete_dids(&p.actor(), &b.selection, b.reason.as_deref())
            .await?,
    ))
}

/// Multipart form of an import.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ImportForm {
    /// CSV, XLSX or XLS file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Default operator (created if it does not exist).
    operator: Option<String>,
    /// Default country for national numbers.
    country: Option<String>,
    status: Option<String>,
    after_hold: Option<String>,
    tag: Option<String>,
    skip_invalid: Option<bool>,
    dry_run: Option<bool>,
    reason: Option<String>,
}

fn truthy(field: &str, v: &str) -> ApiResult<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ApiError::field(
            field,
            format!("'{v}' is not true or false"),
        )),
    }
}

/// Import DIDs from a file. The answer is the import report: 200 when imported (or a dry
/// run), 422 with the same report when refused (all or nothing, unless `skip_invalid`).
/// Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/dids/import", tag = "dids", request_body(content = ImportForm,
    content_type = "multipart/form-data"), params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ImportReport), (status = 422, body = ImportReport)))]
pub async fn import(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    // Not multipart at all: a problem like every other refusal, not axum's plain text.
    let mut form = form.map_err(|e| {
        ApiError::field(
            "file",
            format!("send the file as multipart/form-data with the field 'file' ({e})"),
        )
    })?;
    let mut file: Option<(String, tempfile::NamedTempFile, String)> = None;
    let mut defaults = Defaults::default();
    let (mut skip_invalid, mut dry_run, mut reason) = (false, false, None);
    let mut fields = serde_json::Map::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("multipart: {e}")))?
    {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let fname = field.file_name().unwrap_or("upload").to_string();
            let (spooled, digest) = spool(field).await?;
            file = Some((fname, spooled, digest));
            continue;
        }
        let v = field.text().await.map_err(|e| ApiError::field(&name, e))?;
        fields.insert(name.clone(), serde_json::Value::String(v.clone()));
        let v = v.trim().to_string();
        match name.as_str() {
            f if Defaults::FIELDS.contains(&f) => {
                defaults.set(f, &v).map_err(|e| ApiError::field(f, e))?
            }
            "skip_invalid" => skip_invalid = truthy("skip_invalid", &v)?,
            "dry_run" => dry_run = truthy("dry_run", &v)?,
            "reason" => reason = Some(v),
            // Left empty: the file's column or the usual default decides.
            "country" | "status" | "after_hold" => {}
            _ => {
                return Err(ApiError::field(
                    name.chars().take(100).collect::<String>(),
                    "not a field of an import; expected file, operator, country, status, \
                        after_hold, tag, skip_invalid, dry_run, reason",
                ))
            }
        }
    }
    let (file_name, spooled, digest) = file
        .ok_or_else(|| ApiError::field("file", "attach the file as the multipart field 'file'"))?;
    let request = serde_json::json!({ "fields": fields, "file": digest });
    idempotent(s, p, &headers, request, move |s, p, _| async move {
        // Every rejected row goes to a CSV kept for the user to download (bounded in size).
        let rejects = tempfile::NamedTempFile::new().map_err(StoreError::from)?;
        let opts = ImportOptions {
            defaults,
            skip_invalid,
            dry_run,
            file_name,
            reason,
            max_numbers: MAX_IMPORT_NUMBERS,
            rejects_csv: Some(rejects.path().to_path_buf()),
            rejects_csv_limit: Some(didhub_store::inventory::rejects::MAX_KEPT_BYTES),
        };
        let file = ImportFile::Path(spooled.path().to_path_buf());
        let mut report = s
            .store
            .inventory()
            .import_dids(&p.actor(), file, opts, None)
            .await?;
        drop(spooled);
        // The import is done (committed or not) whatever becomes of its rejects CSV: a failure
        // to keep it leaves the report without the link rather than answering an error.
        let kept = match report.rejected_total {
            0 => None,
            _ => match s
                .store
                .inventory()
                .keep_import_rejects(p.user_id, rejects.path())
                .await
            {
                Ok(id) => Some(id),
                Err(e) => {
                    tracing::error!("keeping an import's rejected rows failed: {e}");
                    None
                }
            },
        };
        match kept {
            Some(id) => report.rejects_url = Some(format!("/api/v1/dids/import/rejects/{id}")),
            None => report.rejects_rows = None,
        }
        let status = if report.imported > 0 || dry_run || report.rejected.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        Ok((status, serde_json::to_value(report).unwrap_or_default()))
    })
    .await
}

/// Writes an uploaded file to a temporary file as it arrives (an import reads it from there,
/// so that no upload is held in memory); returns it with its SHA-256 (for `Idempotency-Key`).
async fn spool(
    mut field: axum::extract::multipart::Field<'_>,
) -> ApiResult<(tempfile::NamedTempFile, String)> {
    use tokio::io::AsyncWriteExt;
    let spooled = tempfile::NamedTempFile::new().map_err(StoreError::from)?;
    let mut out = tokio::fs::File::from_std(spooled.reopen().map_err(StoreError::from)?);
    let mut digest = Sha256::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::TooLarge(format!("file: {e}")))?
    {
        digest.update(&chunk);
        out.write_all(&chunk).await.map_err(StoreError::from)?;
    }
    out.flush().await.map_err(StoreError::from)?;
    Ok((spooled, hex::encode(digest.finalize())))
}

/// The rejected rows of an import made through the API, as CSV (`row,value,reason`, in row
/// order): the link an import's report gives in `rejects_url`. Only the user who made the
/// import may download it, for 24 hours; 404 otherwise.
#[utoipa::path(get, path = "/api/v1/dids/import/rejects/{id}", tag = "dids", params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem)))]
pub async fn import_rejects(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let parts = s
        .store
        .inventory()
        .import_rejects_parts(id, p.user_id)
        .await?;
    let store = s.store.clone();
    // Part by part: a failure part-way cuts the response, as an export does.
    let body = futures::stream::iter(0..parts).then(move |seq| {
        let store = store.clone();
        async move {
            store
                .inventory()
                .import_rejects_part(id, seq)
                .await
                .map(axum::body::Bytes::from)
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"rejects.csv\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// A body read from `r` that the `writer` task fills. After the last byte comes the writer's
/// outcome: a failure ends the body with an error, so the connection is cut (no final chunk)
/// and the client cannot take a cut file for a whole one.
pub(crate) fn streamed<T, E>(
    r: tokio::io::DuplexStream,
    writer: tokio::task::JoinHandle<Result<T, E>>,
) -> Body
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let outcome = futures::stream::once(async move {
        match writer.await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(Err(std::io::Error::other(e.to_string()))),
            Err(e) => Some(Err(std::io::Error::other(e.to_string()))),
        }
    })
    .filter_map(std::future::ready);
    Body::from_stream(tokio_util::io::ReaderStream::new(r).chain(outcome))
}

/// Export the DIDs matching a filter as CSV (streamed; any size). Stock re-imports as is; a failure
/// part-way cuts the response.
#[utoipa::path(get, path = "/api/v1/dids/export", tag = "dids", params(DidFilter), responses((status = 200,
    content_type = "text/csv", body = String), (status = 422, body = Problem)))]
pub async fn export(State(s): State<AppState>, Query(f): Query<DidFilter>) -> ApiResult<Response> {
    // Validate before the 200 goes out; a bad filter must be a problem, not a broken stream.
    s.store.inventory().check_filter(&f).await?;
    let (mut w, r) = tokio::io::duplex(256 * 1024);
    let store = s.store.clone();
    let writer = tokio::spawn(async move {
        let done = store.inventory().export_dids(&f, &mut w).await;
        if let Err(e) = &done {
            tracing::error!("export failed mid-stream: {e}");
        }
        done
    });
    let body = streamed(r, writer);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"dids.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    async fn body_of(fail: bool) -> Result<Vec<u8>, String> {
        let (mut w, r) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            w.write_all(b"number\n+441134960000\n")
                .await
                .map_err(|e| e.to_string())?;
            if fail {
                return Err("the database went away".to_string());
            }
            Ok(())
        });
        axum::body::to_bytes(streamed(r, writer), usize::MAX)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_finished_export_is_the_whole_body() {
        assert_eq!(body_of(false).await.unwrap(), b"number\n+441134960000\n");
    }

    #[tokio::test]
    async fn a_failed_export_ends_the_body_with_its_error() {
        let e = body_of(true).await.unwrap_err();
        assert!(e.contains("the database went away"), "{e}");
    }
}
