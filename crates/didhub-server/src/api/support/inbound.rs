//! Mail that follows up on tickets: a mail gateway (or `didhub mail ingest`) hands each
//! message over as delivered, raw RFC 5322; the store appends it to the ticket it references
//! or records why not. The same message handed over twice counts once.

use axum::extract::State;
use axum::Extension;
use didhub_store::support::inbound::InboundMail;
use didhub_store::Page;
use serde::Deserialize;

use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Query, RawBody};
use crate::{AppState, Principal};

/// Takes one mail, raw (RFC 5322, any content type): appended to the ticket it references
/// (`[#N]` in the subject, or In-Reply-To / References naming a mail of the ticket) when the
/// sender is a contact of the ticket. `outcome` says what became of it; `duplicate` is true
/// when the same Message-ID came before (nothing is done again).
///
/// The body's schema is any value: every byte string is a message here (one that is not
/// well-formed is read as far as it goes and kept), so no body is refused for its form.
#[utoipa::path(post, path = "/api/v1/mail/inbound", tag = "support",
    request_body(content = serde_json::Value, content_type = "message/rfc822"),
    responses((status = 200, body = InboundMail), (status = 422, body = Problem)))]
pub async fn ingest(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    RawBody(raw): RawBody,
) -> ApiResult<Json<InboundMail>> {
    Ok(Json(s.store.support().ingest_mail(&p.actor(), &raw).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboundQuery {
    /// Page size (1 to 1000, default 100).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Mails received, newest first, with what became of each.
#[utoipa::path(get, path = "/api/v1/mail/inbound", tag = "support", params(InboundQuery),
    responses((status = 200, body = Page<InboundMail>), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<InboundQuery>,
) -> ApiResult<Json<Page<InboundMail>>> {
    Ok(Json(
        s.store
            .support()
            .list_inbound(q.cursor.as_deref(), q.limit.unwrap_or(100))
            .await?,
    ))
}
