//! Documents: uploads of letters of authorisation, invoices, agreements and ticket
//! attachments. The rules (kinds, accepted contents, the size limit, safe names, content
//! addresses) are `didhub_core::documents`'; this room keeps the content in the object store
//! (`objects.rs`) and a row per upload, owned by a partner (partner users see their own
//! partner's only), optionally attached to an order or a ticket.

pub mod objects;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use didhub_core::documents::{
    self as rules, ContentType, DocumentError, DocumentKind, SubjectKind,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::accounts::orgs::Scope;
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{on_tx, Tx};
use crate::{new_id, now, on, retry, Actor, Result, StoreError};

pub use objects::DocumentsConfig;

crate::handle!(
    /// Documents: uploads, their metadata and contents, by partner.
    Documents,
    documents
);

/// What a document is attached to: an order or a ticket, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = DocumentSubject)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: Uuid,
}

/// A document's metadata (its content is `GET /api/v1/documents/{id}/content`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Document {
    pub id: Uuid,
    pub kind: DocumentKind,
    /// The uploaded file's name, made safe to show and save (`didhub_core::documents::
    /// file_name`).
    pub file_name: String,
    /// As the content shows it: `application/pdf`, `image/png`, `image/jpeg` or
    /// `application/zip`.
    pub content_type: String,
    /// In bytes.
    pub size: i64,
    /// The SHA-256 of the content, hex: the same content uploaded twice is kept once.
    pub sha256: String,
    /// The partner it belongs to.
    pub partner_id: Uuid,
    pub subject_kind: Option<SubjectKind>,
    pub subject_id: Option<Uuid>,
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
}

impl Document {
    pub fn subject(&self) -> Option<Subject> {
        Some(Subject {
            kind: self.subject_kind?,
            id: self.subject_id?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    file_name: String,
    content_type: String,
    size: i64,
    sha256: String,
    partner_id: Uuid,
    subject_kind: Option<String>,
    subject_id: Option<Uuid>,
    uploaded_by: String,
    created_at: DateTime<Utc>,
}

impl Row {
    fn into_document(self) -> Result<Document> {
        // The schema's checks hold these to the core's lists; a row outside them is damage.
        let bad = |what: &str, e: String| {
            StoreError::Io(std::io::Error::other(format!(
                "document {}: stored {what}: {e}",
                self.id
            )))
        };
        let kind = self.kind.parse().map_err(|e| bad("kind", e))?;
        let subject_kind = match &self.subject_kind {
            Some(k) => Some(k.parse().map_err(|e| bad("subject kind", e))?),
            None => None,
        };
        Ok(Document {
            id: self.id,
            kind,
            file_name: self.file_name,
            content_type: self.content_type,
            size: self.size,
            sha256: self.sha256,
            partner_id: self.partner_id,
            subject_kind,
            subject_id: self.subject_id,
            uploaded_by: self.uploaded_by,
            created_at: self.created_at,
        })
    }
}

const SELECT: &str = "SELECT id, kind, file_name, content_type, size, sha256, partner_id, \
    subject_kind, subject_id, uploaded_by, created_at FROM documents";

/// A content checked and kept in the object store, its row not yet written.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub kind: DocumentKind,
    pub content_type: ContentType,
    pub file_name: String,
    pub size: i64,
    pub sha256: String,
}

/// A refused document as the store says it: the field `file`, 413 for its size.
fn refused(e: DocumentError) -> StoreError {
    match e {
        DocumentError::TooLarge { .. } => StoreError::TooLarge {
            field: "file".into(),
            message: e.to_string(),
        },
        _ => StoreError::invalid("file", e),
    }
}

/// The query of the partner a subject belongs to: the one place that knows where each kind
/// of subject lives. None for a kind not stored yet (tickets), which nothing can be attached
/// to.
fn subject_sql(kind: SubjectKind) -> Option<&'static str> {
    match kind {
        SubjectKind::Order => Some("SELECT partner_id FROM orders WHERE id = $1"),
        SubjectKind::Ticket => None,
    }
}

/// Checks that `s` exists and belongs to `partner`; one of another partner reads as one that
/// does not exist.
fn subject_owned(partner: Uuid, s: Subject, owner: Option<Uuid>) -> Result<()> {
    match owner {
        Some(p) if p == partner => Ok(()),
        _ => Err(StoreError::invalid(
            "subject_id",
            format!("no {} {} of this partner", s.kind, s.id),
        )),
    }
}

async fn check_subject(tx: &mut Tx, partner: Uuid, s: Subject) -> Result<()> {
    let owner = match subject_sql(s.kind) {
        Some(sql) => on_tx!(tx, |c| sqlx::query_scalar(sql)
            .bind(s.id)
            .fetch_optional(&mut *c)
            .await?),
        None => None,
    };
    subject_owned(partner, s, owner)
}

fn no_partner(partner: Uuid) -> StoreError {
    StoreError::invalid("partner_id", format!("no partner {partner}"))
}

async fn check_partner(tx: &mut Tx, partner: Uuid) -> Result<()> {
    let found: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM partners WHERE id = $1"
    )
    .bind(partner)
    .fetch_one(&mut *c)
    .await?);
    match found {
        0 => Err(no_partner(partner)),
        _ => Ok(()),
    }
}

/// The documents of `partner` attached to `subject`, oldest first, in the caller's
/// transaction (an order lists its own to know which kinds it has).
#[allow(dead_code)] // For the rooms of the subjects (orders, tickets), in their transactions.
pub(crate) async fn list_in_tx(tx: &mut Tx, partner: Uuid, s: Subject) -> Result<Vec<Document>> {
    let sql = format!(
        "{SELECT} WHERE partner_id = $1 AND subject_kind = $2 AND subject_id = $3 ORDER BY id"
    );
    let rows: Vec<Row> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(partner)
        .bind(s.kind.as_str())
        .bind(s.id)
        .fetch_all(&mut *c)
        .await?);
    rows.into_iter().map(Row::into_document).collect()
}

/// Writes the row of a content already stored ([`Documents::store_content`]), and its audit
/// entry, in the caller's transaction. The partner and the subject are the caller's to check.
pub(crate) async fn insert_in_tx(
    tx: &mut Tx,
    actor: &Actor,
    partner: Uuid,
    stored: &Stored,
    subject: Option<Subject>,
) -> Result<Document> {
    let d = Document {
        id: new_id(),
        kind: stored.kind,
        file_name: stored.file_name.clone(),
        content_type: stored.content_type.mime().to_string(),
        size: stored.size,
        sha256: stored.sha256.clone(),
        partner_id: partner,
        subject_kind: subject.map(|s| s.kind),
        subject_id: subject.map(|s| s.id),
        uploaded_by: actor.as_str().to_string(),
        created_at: now(),
    };
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO documents (id, sha256, kind, content_type, size, file_name, partner_id, \
        subject_kind, subject_id, uploaded_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
    )
    .bind(d.id)
    .bind(&d.sha256)
    .bind(d.kind.as_str())
    .bind(&d.content_type)
    .bind(d.size)
    .bind(&d.file_name)
    .bind(d.partner_id)
    .bind(d.subject_kind.map(|k| k.as_str()))
    .bind(d.subject_id)
    .bind(&d.uploaded_by)
    .bind(d.created_at)
    .execute(&mut *c)
    .await?
    .rows_affected()
    });
    write_audit(
        tx,
        AuditWrite {
            id: None,
            actor,
            action: "document.upload",
            entity: "document",
            entity_id: Some(d.id),
            subject: Some(d.file_name.clone()),
            changes: json!({
                "kind": [null, d.kind],
                "file_name": [null, d.file_name],
                "content_type": [null, d.content_type],
                "size": [null, d.size],
                "sha256": [null, d.sha256],
                "partner_id": [null, d.partner_id],
                "subject": [null, subject],
            }),
            reason: None,
        },
    )
    .await?;
    Ok(d)
}

/// Attaches a document of `partner` that is attached to nothing yet to `subject`, in the
/// caller's transaction (the subject is the caller's to check). Attaching it again to the
/// same subject changes nothing; a document of another partner is not found.
pub(crate) async fn attach_in_tx(
    tx: &mut Tx,
    actor: &Actor,
    partner: Uuid,
    id: Uuid,
    subject: Subject,
) -> Result<Document> {
    let lock = tx.row_lock(" FOR UPDATE");
    let sql = format!("{SELECT} WHERE id = $1 AND partner_id = $2{lock}");
    let row: Option<Row> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .bind(partner)
        .fetch_optional(&mut *c)
        .await?);
    let mut d = row
        .ok_or_else(|| StoreError::not_found("document", id))?
        .into_document()?;
    match d.subject() {
        Some(s) if s == subject => return Ok(d),
        Some(s) => {
            return Err(StoreError::Conflict(format!(
                "document {id} is attached to {} {} already",
                s.kind, s.id
            )))
        }
        None => {}
    }
    on_tx!(tx, |c| sqlx::query(
        "UPDATE documents SET subject_kind = $2, subject_id = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(subject.kind.as_str())
    .bind(subject.id)
    .execute(&mut *c)
    .await?
    .rows_affected());
    write_audit(
        tx,
        AuditWrite {
            id: None,
            actor,
            action: "document.attach",
            entity: "document",
            entity_id: Some(id),
            subject: Some(d.file_name.clone()),
            changes: json!({"subject": [null, subject]}),
            reason: None,
        },
    )
    .await?;
    d.subject_kind = Some(subject.kind);
    d.subject_id = Some(subject.id);
    Ok(d)
}

impl Documents<'_> {
    /// The size limit of one document, in bytes (`--max-document-bytes`).
    pub fn max_bytes(&self) -> u64 {
        self.objects.max_bytes
    }

    /// Checks a content (type by its bytes, size, name) and keeps it in the object store,
    /// once per content; nothing is kept when a check fails. The row is the caller's to
    /// write ([`insert_in_tx`]).
    pub(crate) async fn store_content(
        &self,
        kind: DocumentKind,
        file_name: &str,
        bytes: &Bytes,
    ) -> Result<Stored> {
        let size = bytes.len() as u64;
        let ct = rules::check(file_name, size, bytes, self.max_bytes()).map_err(refused)?;
        let sha256 = self.objects.put(bytes).await?;
        Ok(Stored {
            kind,
            content_type: ct,
            file_name: rules::file_name(file_name, ct),
            size: size as i64,
            sha256,
        })
    }

    /// Uploads a document of `partner` (for a partner user, their own partner; any other is
    /// refused as one that does not exist), attached to `subject` when given (an order of
    /// that partner). The content is checked first (a refused one stores nothing), then
    /// kept, then its row and audit entry are written.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        actor: &Actor,
        scope: Scope,
        partner: Uuid,
        kind: DocumentKind,
        file_name: &str,
        bytes: Bytes,
        subject: Option<Subject>,
    ) -> Result<Document> {
        if scope.partner().is_some_and(|p| p != partner) {
            return Err(no_partner(partner));
        }
        // Every check before anything is kept: the content's, then the owner's.
        rules::check(file_name, bytes.len() as u64, &bytes, self.max_bytes()).map_err(refused)?;
        self.check_owner(partner, subject).await?;
        let stored = self.store_content(kind, file_name, &bytes).await?;
        retry(|| async {
            let mut tx = self.begin().await?;
            // Again in the transaction of the row, whose foreign key then holds the partner.
            check_partner(&mut tx, partner).await?;
            if let Some(s) = subject {
                check_subject(&mut tx, partner, s).await?;
            }
            let d = insert_in_tx(&mut tx, actor, partner, &stored, subject).await?;
            tx.commit().await?;
            Ok(d)
        })
        .await
    }

    /// Checks, without a transaction, that the partner exists and the subject is its own.
    async fn check_owner(&self, partner: Uuid, subject: Option<Subject>) -> Result<()> {
        let found: i64 = on!(self, |p| sqlx::query_scalar(
            "SELECT count(*) FROM partners WHERE id = $1"
        )
        .bind(partner)
        .fetch_one(p)
        .await?);
        if found == 0 {
            return Err(no_partner(partner));
        }
        let Some(s) = subject else { return Ok(()) };
        let owner = match subject_sql(s.kind) {
            Some(sql) => on!(self, |p| sqlx::query_scalar(sql)
                .bind(s.id)
                .fetch_optional(p)
                .await?),
            None => None,
        };
        subject_owned(partner, s, owner)
    }

    /// A document's metadata; one of another partner is not found for a partner user.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get(&self, scope: Scope, id: Uuid) -> Result<Document> {
        let row: Option<Row> = match scope.partner() {
            Some(p) => on!(self, |pool| sqlx::query_as(&format!(
                "{SELECT} WHERE id = $1 AND partner_id = $2"
            ))
            .bind(id)
            .bind(p)
            .fetch_optional(pool)
            .await?),
            None => on!(self, |pool| sqlx::query_as(&format!(
                "{SELECT} WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?),
        };
        row.ok_or_else(|| StoreError::not_found("document", id))?
            .into_document()
    }

    /// A document and its content, as it was uploaded (checked against its SHA-256).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn content(&self, scope: Scope, id: Uuid) -> Result<(Document, Bytes)> {
        let d = self.get(scope, id).await?;
        let bytes = self.objects.get(&d.sha256).await?;
        Ok((d, bytes))
    }

    /// The documents attached to `subject` that the caller may see, oldest first.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_for(&self, scope: Scope, subject: Subject) -> Result<Vec<Document>> {
        let sql = format!(
            "{SELECT} WHERE subject_kind = $1 AND subject_id = $2 AND ($3 IS NULL OR partner_id = $3) \
             ORDER BY id"
        );
        let rows: Vec<Row> = on!(self, |p| sqlx::query_as(&sql)
            .bind(subject.kind.as_str())
            .bind(subject.id)
            .bind(scope.partner())
            .fetch_all(p)
            .await?);
        rows.into_iter().map(Row::into_document).collect()
    }

    /// Attaches a document to a subject of the same partner (an order): see [`attach_in_tx`].
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn attach(
        &self,
        actor: &Actor,
        scope: Scope,
        id: Uuid,
        subject: Subject,
    ) -> Result<Document> {
        let d = self.get(scope, id).await?;
        retry(|| async {
            let mut tx = self.begin().await?;
            check_subject(&mut tx, d.partner_id, subject).await?;
            let d = attach_in_tx(&mut tx, actor, d.partner_id, id, subject).await?;
            tx.commit().await?;
            Ok(d)
        })
        .await
    }
}
