//! Tickets: partners' users open and answer their own; support staff open them for partners
//! (a phone call, a chat), answer, write internal notes, set the class and the assignee, and
//! reveal the remote access. Each call is one store call (`store.support()`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use didhub_core::sla::TicketClass;
use didhub_core::ticket::{CriticalCriterion, MessageVisibility, TicketChannel, TicketState};
use didhub_store::support::messages::{NewMessage, TicketMessage};
use didhub_store::support::secrets::RevealedAccess;
use didhub_store::support::tickets::{NewTicket, TicketFilter, TicketPatch};
use didhub_store::support::{Ticket, TicketDetail, TicketEvent};
use didhub_store::Page;
use serde::Deserialize;
use uuid::Uuid;

use super::{author, side};
use crate::api::{etag, if_match};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::{AppState, Principal};

fn answer(d: TicketDetail) -> impl IntoResponse {
    ([etag(d.ticket.version)], Json(d))
}

fn parsed<T: std::str::FromStr<Err = String>>(
    field: &str,
    v: Option<&str>,
) -> ApiResult<Option<T>> {
    v.map(str::parse)
        .transpose()
        .map_err(|e: String| ApiError::field(field, e))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    /// `open`, `pending`, `solved` or `closed`.
    pub state: Option<String>,
    /// `critical` or `standard`.
    pub class: Option<String>,
    /// Support staff: one partner's tickets.
    pub partner_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    /// `newest` (default), `oldest`, or `due` (the first-response deadline soonest).
    pub sort: Option<String>,
    /// Page size (1 to 1000, default 100).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl TicketQuery {
    /// The store's filter: the API's list and the portal's read a query the same way.
    pub fn filter(&self) -> ApiResult<TicketFilter> {
        Ok(TicketFilter {
            state: parsed("state", self.state.as_deref())?,
            class: self
                .class
                .as_deref()
                .map(str::parse::<TicketClass>)
                .transpose()
                .map_err(|e| ApiError::field("class", e))?,
            partner_id: self.partner_id,
            customer_id: self.customer_id,
            assignee_id: self.assignee_id,
            sort: parsed("sort", self.sort.as_deref())?.unwrap_or_default(),
        })
    }
}

/// Tickets, newest first unless sorted (a partner's users see their partner's).
#[utoipa::path(get, path = "/api/v1/tickets", tag = "support", params(TicketQuery),
    responses((status = 200, body = Page<Ticket>), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<TicketQuery>,
) -> ApiResult<Json<Page<Ticket>>> {
    let f = q.filter()?;
    let page = s
        .store
        .support()
        .list_tickets(p.scope(), &f, q.cursor.as_deref(), q.limit.unwrap_or(100))
        .await?;
    Ok(Json(page))
}

/// Opens a ticket. A partner's users open their partner's (through the portal, and may ask
/// for `critical` naming the criterion); support staff name the partner (or its customer or
/// PBX) and the channel it came by. A closed ticket is followed up by a new one whose
/// `references` name it.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "support", request_body = NewTicket,
    responses((status = 201, body = TicketDetail), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(b): Json<NewTicket>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .support()
        .create_ticket(&p.actor(), &author(&p), p.scope(), &b, &s.secrets)
        .await?;
    Ok((StatusCode::CREATED, answer(d)))
}

/// A ticket, with the tickets it references and those referencing it.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "support", params(("id" = Uuid, Path)),
    responses((status = 200, body = TicketDetail), (status = 404, body = Problem)))]
pub async fn get(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<impl IntoResponse> {
    Ok(answer(s.store.support().get_ticket(p.scope(), id).await?))
}

/// Changes a ticket's fields (absent fields stay, `null` clears; a new `remote_access`
/// replaces the stored one whole). A closed ticket's fields stay (409).
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "support", params(("id" = Uuid, Path),
    ("If-Match" = Option<String>, Header)), request_body = TicketPatch,
    responses((status = 200, body = TicketDetail), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<TicketPatch>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .support()
        .update_ticket(
            &p.actor(),
            p.scope(),
            id,
            if_match(&headers)?,
            &b,
            &s.secrets,
        )
        .await?;
    Ok(answer(d))
}

/// The conversation, oldest first: internal notes only for support staff.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/messages", tag = "support", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<TicketMessage>), (status = 404, body = Problem)))]
pub async fn messages(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<TicketMessage>>> {
    let staff = !p.role.is_partner();
    Ok(Json(
        s.store
            .support()
            .list_messages(p.scope(), id, staff)
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageBody {
    pub body: String,
    /// `public` (default) or `internal` (support staff only: partners never see it).
    pub visibility: Option<MessageVisibility>,
    /// Support staff: how the answer went out, when not through the portal (`phone`, …).
    pub channel: Option<TicketChannel>,
    /// Support staff: the state the message leaves the ticket in (`pending`: waiting on the
    /// partner, `solved`, `closed`).
    pub state: Option<TicketState>,
}

/// The channel a message added by `p` came by: the portal unless support staff log a phone
/// call, chat or social message; mail comes in on its own route.
pub fn message_channel(p: &Principal, asked: Option<TicketChannel>) -> ApiResult<TicketChannel> {
    let channel = asked.unwrap_or(TicketChannel::Portal);
    if channel == TicketChannel::Email || (p.role.is_partner() && channel != TicketChannel::Portal)
    {
        return Err(ApiError::field(
            "channel",
            "messages come through the portal (support staff may log a phone call, chat or \
             social message); mail comes in on its own route",
        ));
    }
    Ok(channel)
}

/// Adds a message. The first public reply by support staff is the first response (it meets
/// or misses the deadline); a partner's answer opens a pending or solved ticket again. A
/// closed ticket takes none: 409, saying to open a new case referencing it.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/messages", tag = "support", params(("id" = Uuid, Path)),
    request_body = NewMessageBody,
    responses((status = 201, body = TicketMessage), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 422, body = Problem)))]
pub async fn add_message(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    Json(b): Json<NewMessageBody>,
) -> ApiResult<impl IntoResponse> {
    let channel = message_channel(&p, b.channel)?;
    let m = s
        .store
        .support()
        .add_message(
            &p.actor(),
            &author(&p),
            p.scope(),
            id,
            &NewMessage {
                body: &b.body,
                visibility: b.visibility.unwrap_or(MessageVisibility::Public),
                channel,
                state: b.state,
                mail_message_id: None,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(m)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    pub state: TicketState,
    /// Kept in the timeline.
    pub reason: Option<String>,
}

/// Moves a ticket: support staff to any state; a partner's users close their ticket (or
/// open a solved one again). Closed is final.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/state", tag = "support",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = StateBody,
    responses((status = 200, body = TicketDetail), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn set_state(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<StateBody>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .support()
        .set_state(
            &p.actor(),
            side(&p),
            p.scope(),
            id,
            if_match(&headers)?,
            b.state,
            b.reason.as_deref(),
        )
        .await?;
    Ok(answer(d))
}

/// The ticket's timeline: changes of state, class and assignee.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/events", tag = "support", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<TicketEvent>), (status = 404, body = Problem)))]
pub async fn events(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<TicketEvent>>> {
    Ok(Json(s.store.support().ticket_events(p.scope(), id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassBody {
    pub class: TicketClass,
    /// A critical ticket's criterion.
    pub criterion: Option<CriticalCriterion>,
    pub reason: Option<String>,
}

/// Sets the class of service (support staff); the deadline is computed again from the
/// ticket's creation.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/class", tag = "support",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = ClassBody,
    responses((status = 200, body = TicketDetail), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn set_class(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<ClassBody>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .support()
        .set_class(
            &p.actor(),
            id,
            if_match(&headers)?,
            b.class,
            b.criterion,
            b.reason.as_deref(),
        )
        .await?;
    Ok(answer(d))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A support or admin user; null for nobody.
    pub assignee_id: Option<Uuid>,
}

/// Gives the ticket to a member of support staff (or to nobody).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/assign", tag = "support",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = AssignBody,
    responses((status = 200, body = TicketDetail), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn assign(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(b): Json<AssignBody>,
) -> ApiResult<impl IntoResponse> {
    let d = s
        .store
        .support()
        .assign_ticket(&p.actor(), id, if_match(&headers)?, b.assignee_id)
        .await?;
    Ok(answer(d))
}

/// The remote access in clear (support staff and admins); the audit log records each
/// reveal. 404 when the ticket has none.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/remote-access/reveal", tag = "support",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RevealedAccess), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn reveal(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<RevealedAccess>> {
    Ok(Json(
        s.store
            .support()
            .reveal_remote_access(&p.actor(), id, &s.secrets)
            .await?,
    ))
}
