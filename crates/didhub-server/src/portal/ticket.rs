//! One ticket's page (its facts, the first-response clock, the conversation, the timeline)
//! and its forms: a reply (internal notes for support staff only), a change of state, class
//! or assignee, and the staff's reveal of the remote access (audited by the store). Each form
//! calls the store function the API's handler calls, with its arguments.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Need;
use didhub_core::sla::TicketClass;
use didhub_core::ticket::{
    check_transition, closed_refusal, CriticalCriterion, MessageVisibility, TicketChannel,
    TicketState,
};
use didhub_store::support::messages::NewMessage;
use didhub_store::support::TicketDetail;
use didhub_store::StoreError;
use uuid::Uuid;

use super::inventory::{choices, Choice};
use super::sla_clock::{clock, Clock};
use super::{machine_time, render, shown, when, Chrome, Errors, Form, PageResult, Viewer};
use crate::api::support::tickets::message_channel;
use crate::api::support::{author, side};
use crate::error::ApiError;
use crate::AppState;

/// A ticket's id from the address; anything else is "not found".
pub(super) fn id_of(v: &Viewer, id: &str) -> Result<Uuid, Box<super::PageError>> {
    id.parse()
        .map_err(|_| Box::new(v.fail(ApiError::NotFound("ticket".into()))))
}

/// A store refusal beside its field (`rename` maps the store's names to the form's); a
/// refusal of the whole change (closed, not allowed, stale) beside `whole`. The status the
/// API answers it with; anything else fails the page.
pub(super) fn refused(
    errors: &mut Errors,
    e: StoreError,
    rename: &dyn Fn(&str) -> String,
    whole: &str,
) -> Result<StatusCode, ApiError> {
    match e {
        StoreError::Invalid { field, message } => {
            errors.add(rename(&field), message);
            Ok(StatusCode::UNPROCESSABLE_ENTITY)
        }
        StoreError::InvalidFields(list) => {
            for (f, m) in list {
                errors.add(rename(&f), m);
            }
            Ok(StatusCode::UNPROCESSABLE_ENTITY)
        }
        e @ (StoreError::Conflict(_) | StoreError::Raced { .. }) => {
            errors.add(whole, e);
            Ok(StatusCode::CONFLICT)
        }
        e @ StoreError::VersionMismatch { .. } => {
            errors.add(whole, &e);
            Ok(ApiError::from(e).status())
        }
        e => Err(e.into()),
    }
}

pub(super) fn labelled<T: Copy>(all: &[T], name: fn(&T) -> &'static str) -> Vec<(String, String)> {
    all.iter()
        .map(|v| (name(v).to_string(), name(v).replace('_', " ")))
        .collect()
}

pub(super) fn optional(form: &Form, name: &str) -> Option<String> {
    Some(form.value(name).trim().to_string()).filter(|v| !v.is_empty())
}

pub(super) fn parse_opt<T: std::str::FromStr>(
    form: &Form,
    name: &str,
    errors: &mut Errors,
) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    let v = optional(form, name)?;
    v.parse::<T>().map_err(|e| errors.add(name, e)).ok()
}

pub struct MessageView {
    pub at: String,
    pub at_machine: String,
    pub author: String,
    pub side: &'static str,
    pub internal: bool,
    pub channel: &'static str,
    pub body: String,
}

pub struct EventView {
    pub at: String,
    pub at_machine: String,
    pub actor: String,
    pub what: String,
    pub reason: String,
}

pub struct LinkView {
    pub href: String,
    pub number: String,
    pub subject: String,
    pub state: String,
}

pub struct RevealedView {
    pub address: String,
    pub login: String,
    pub password: String,
}

#[derive(Template)]
#[template(path = "portal/ticket.html")]
struct TicketPage {
    chrome: Chrome,
    id: Uuid,
    number: i64,
    version: i64,
    subject: String,
    state: &'static str,
    closed: bool,
    closed_text: String,
    class: &'static str,
    criterion: String,
    class_set_by: &'static str,
    kind: String,
    channel: &'static str,
    partner: String,
    customer: String,
    customer_href: String,
    pbx: String,
    pbx_href: String,
    device: String,
    contact: String,
    centre: String,
    opened: String,
    clock: Clock,
    wms_version: String,
    firmware: Vec<String>,
    diagnostics: String,
    traces: Vec<String>,
    remote_address: String,
    remote_credentials: bool,
    references: Vec<LinkView>,
    referenced_by: Vec<LinkView>,
    messages: Vec<MessageView>,
    /// Who the ticket is given to (support staff see the address).
    assignee: String,
    events: Vec<EventView>,
    /// Support staff who may take the ticket (the assignment form's choices).
    assignees: Vec<Choice>,
    /// Support staff: internal notes, channels, the state a reply leaves.
    staff: bool,
    /// The desk's own forms: class, reveal.
    desk: bool,
    states: Vec<Choice>,
    reply_states: Vec<Choice>,
    visibilities: Vec<Choice>,
    channels: Vec<Choice>,
    classes: Vec<Choice>,
    criteria: Vec<Choice>,
    form: Form,
    errors: Errors,
    done: Option<String>,
    revealed: Option<RevealedView>,
}

/// What a form on the page brings back to it.
#[derive(Default)]
struct Outcome {
    form: Form,
    errors: Errors,
    done: Option<String>,
    revealed: Option<RevealedView>,
}

fn link(l: &didhub_store::support::TicketLink) -> LinkView {
    LinkView {
        href: format!("/tickets/{}", l.id),
        number: format!("#{}", l.number),
        subject: shown(&l.subject),
        state: shown(&l.state),
    }
}

async fn ticket_page(
    s: &AppState,
    v: &Viewer,
    id: Uuid,
    out: Outcome,
    status: StatusCode,
) -> PageResult {
    let scope = v.principal.scope();
    let desk_store = s.store.support();
    let TicketDetail {
        ticket: t,
        references,
        referenced_by,
    } = desk_store
        .get_ticket(scope, id)
        .await
        .map_err(|e| v.fail(e))?;
    // Internal notes are the desk's: a partner user never reads them (the API's rule).
    let staff = !v.principal.role.is_partner();
    let messages = desk_store
        .list_messages(scope, id, staff)
        .await
        .map_err(|e| v.fail(e))?;
    let acc = s.store.accounts();
    let partner = if staff {
        acc.get_partner(scope, t.partner_id)
            .await
            .map(|p| shown(&p.name))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let customer = match t.customer_id {
        Some(c) => acc
            .get_customer(scope, c)
            .await
            .map(|c| shown(&c.name))
            .unwrap_or_default(),
        None => String::new(),
    };
    let clock = clock(s, &t).await.map_err(|e| v.fail(e))?;
    let events = desk_store
        .ticket_events(scope, id)
        .await
        .map_err(|e| v.fail(e))?;
    let desk = v.principal.role.allows(Need::SupportDesk);
    // Users by address for the desk (the assignee is a user id); partners read "support".
    let users = if desk {
        acc.list_users(None).await.map_err(|e| v.fail(e))?
    } else {
        Vec::new()
    };
    let user_name = |u: &str| match u.parse::<Uuid>() {
        Ok(id) => users
            .iter()
            .find(|x| x.id == id)
            .map(|x| shown(&x.email))
            .unwrap_or_else(|| "support".to_string()),
        Err(_) => shown(u),
    };
    let event_text = |e: &didhub_store::support::TicketEvent| {
        let show = |v: &Option<String>| match (e.field.as_str(), v) {
            (_, None) => "nobody".to_string(),
            ("assignee", Some(u)) => user_name(u),
            (_, Some(x)) => shown(&x.replace('_', " ")),
        };
        match (e.field.as_str(), &e.before) {
            ("assignee", _) => format!("assigned: {} → {}", show(&e.before), show(&e.after)),
            (f, None) => format!("{f}: {}", show(&e.after)),
            (f, Some(_)) => format!("{f}: {} → {}", show(&e.before), show(&e.after)),
        }
    };
    let assignee = t
        .assignee_id
        .map(|a| user_name(&a.to_string()))
        .unwrap_or_default();
    let assignees = users
        .iter()
        .filter(|u| !u.disabled && !u.role.is_partner() && u.role.allows(Need::SupportDesk))
        .map(|u| (u.id.to_string(), shown(&u.email)));
    let me = side(&v.principal);
    // The states this viewer may move the ticket to: the core's rule, asked for each.
    let states = TicketState::ALL
        .iter()
        .filter(|to| check_transition(t.number, t.state, **to, me).is_ok())
        .map(|to| (to.as_str().to_string(), to.as_str().to_string()));
    let reply_states = [
        TicketState::Pending,
        TicketState::Solved,
        TicketState::Closed,
    ]
    .into_iter()
    .filter(|to| *to == t.state || check_transition(t.number, t.state, *to, me).is_ok())
    .map(|to| (to.as_str().to_string(), format!("leave it {to}")));
    let channels: Vec<TicketChannel> = TicketChannel::ALL
        .iter()
        .copied()
        .filter(|c| *c != TicketChannel::Email)
        .collect();
    let f = &out.form;
    let page = TicketPage {
        chrome: v.chrome(&format!("Ticket #{}", t.number), "/tickets"),
        id: t.id,
        number: t.number,
        version: t.version,
        subject: shown(&t.subject),
        state: t.state.as_str(),
        closed: t.state == TicketState::Closed,
        closed_text: closed_refusal(t.number),
        class: t.class.as_str(),
        criterion: t
            .criterion
            .map(|c| c.as_str().replace('_', " "))
            .unwrap_or_default(),
        class_set_by: t.class_set_by.as_str(),
        kind: match t.topic {
            Some(topic) => format!("{} ({topic})", t.kind.as_str().replace('_', " ")),
            None => t.kind.as_str().replace('_', " "),
        },
        channel: t.channel.as_str(),
        partner,
        customer,
        customer_href: t
            .customer_id
            .map(|c| format!("/customers/{c}"))
            .unwrap_or_default(),
        pbx: t.pbx_serial.as_deref().map(shown).unwrap_or_default(),
        pbx_href: t.pbx_id.map(|p| format!("/pbxs/{p}")).unwrap_or_default(),
        device: t.device_serial.as_deref().map(shown).unwrap_or_default(),
        contact: t.contact_email.as_deref().map(shown).unwrap_or_default(),
        centre: shown(&t.centre),
        opened: when(&t.created_at),
        clock,
        wms_version: t
            .details
            .wms_version
            .as_deref()
            .map(shown)
            .unwrap_or_default(),
        firmware: t.details.firmware.iter().map(|f| shown(f)).collect(),
        diagnostics: t
            .details
            .diagnostics
            .as_deref()
            .map(shown)
            .unwrap_or_default(),
        traces: t
            .details
            .traces
            .iter()
            .map(|c| {
                format!(
                    "{} → {} at {}",
                    shown(&c.caller),
                    shown(&c.called),
                    when(&c.at)
                )
            })
            .collect(),
        remote_address: t.remote_address.as_deref().map(shown).unwrap_or_default(),
        remote_credentials: t.remote_credentials,
        references: references.iter().map(link).collect(),
        referenced_by: referenced_by.iter().map(link).collect(),
        messages: messages
            .iter()
            .map(|m| MessageView {
                at: when(&m.at),
                at_machine: machine_time(&m.at),
                author: shown(&m.author),
                side: m.side.as_str(),
                internal: m.visibility == MessageVisibility::Internal,
                channel: m.channel.as_str(),
                body: shown(&m.body),
            })
            .collect(),
        assignee,
        events: events
            .iter()
            .map(|e| EventView {
                at: when(&e.at),
                at_machine: machine_time(&e.at),
                actor: shown(e.actor.trim_start_matches("user:")),
                what: event_text(e),
                reason: e.reason.as_deref().map(shown).unwrap_or_default(),
            })
            .collect(),
        assignees: choices(
            assignees,
            f.get("assignee_id")
                .unwrap_or(&t.assignee_id.map(|a| a.to_string()).unwrap_or_default()),
            Some("Nobody"),
        ),
        staff,
        desk,
        states: choices(states, f.value("state"), Some("Choose a state")),
        reply_states: choices(
            reply_states,
            f.value("reply_state"),
            Some("leave the state as it is"),
        ),
        visibilities: choices(
            [
                (
                    "public".to_string(),
                    "public reply (the partner reads it)".to_string(),
                ),
                (
                    "internal".to_string(),
                    "internal note (support staff only)".to_string(),
                ),
            ],
            f.get("visibility").unwrap_or("public"),
            None,
        ),
        channels: choices(
            labelled(&channels, TicketChannel::as_str),
            f.get("channel").unwrap_or("portal"),
            None,
        ),
        classes: choices(
            labelled(&TicketClass::ALL, TicketClass::as_str),
            f.get("class").unwrap_or(t.class.as_str()),
            None,
        ),
        criteria: choices(
            labelled(CriticalCriterion::ALL, CriticalCriterion::as_str),
            f.get("criterion")
                .unwrap_or(t.criterion.map(|c| c.as_str()).unwrap_or("")),
            Some("None (standard)"),
        ),
        form: out.form,
        errors: out.errors,
        done: out.done,
        revealed: out.revealed,
    };
    Ok(render(status, &page))
}

pub async fn page(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    uri: Uri,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    let done = Form::query(&uri)
        .get("opened")
        .map(|_| "The ticket is opened.".to_string());
    let out = Outcome {
        done,
        ..Outcome::default()
    };
    ticket_page(&s, &v, id, out, StatusCode::OK).await
}

/// A message: the store's `add_message` with the API's channel rule. A partner's is public
/// and leaves the state to the rule; support staff choose a public reply or an internal note,
/// the channel and the state it leaves.
pub async fn reply(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let staff = !v.principal.role.is_partner();
    let visibility = if staff {
        parse_opt::<MessageVisibility>(&form, "visibility", &mut errors)
    } else {
        None
    };
    let state = if staff {
        parse_opt::<TicketState>(&form, "reply_state", &mut errors)
    } else {
        None
    };
    let asked = if staff {
        parse_opt::<TicketChannel>(&form, "channel", &mut errors)
    } else {
        None
    };
    let channel = match message_channel(&v.principal, asked) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.take(e).map_err(|e| v.fail(e))?;
            None
        }
    };
    let (Some(channel), true) = (channel, errors.is_empty()) else {
        return unchanged(&s, &v, id, form, errors).await;
    };
    let p = &v.principal;
    let visibility = visibility.unwrap_or(MessageVisibility::Public);
    let added = s
        .store
        .support()
        .add_message(
            &p.actor(),
            &author(p),
            p.scope(),
            id,
            &NewMessage {
                body: form.value("body"),
                visibility,
                channel,
                state,
                mail_message_id: None,
            },
        )
        .await;
    match added {
        Ok(_) => {
            let done = match visibility {
                MessageVisibility::Internal => "The internal note is added.",
                MessageVisibility::Public => "The reply is added.",
            };
            let out = Outcome {
                done: Some(done.into()),
                ..Outcome::default()
            };
            ticket_page(&s, &v, id, out, StatusCode::OK).await
        }
        Err(e) => {
            let rename = |f: &str| match f {
                "state" => "reply_state".to_string(),
                f => f.to_string(),
            };
            let status = refused(&mut errors, e, &rename, "body").map_err(|e| v.fail(e))?;
            let out = Outcome {
                form,
                errors,
                ..Outcome::default()
            };
            ticket_page(&s, &v, id, out, status).await
        }
    }
}

/// The version the page was read at: a form sent from a page older than the ticket is
/// refused by the store (as an `If-Match`).
/// The ticket page after a change of state, class or assignee: `done` when the store took
/// it, else the store's refusal beside the form's fields (`rename` maps the store's field
/// names to the form's, `whole` takes a conflict) with the form as sent.
#[allow(clippy::too_many_arguments)]
async fn changed<T>(
    s: &AppState,
    v: &Viewer,
    id: Uuid,
    outcome: Result<T, StoreError>,
    done: String,
    form: Form,
    rename: &(dyn Fn(&str) -> String + Sync),
    whole: &str,
) -> PageResult {
    match outcome.map(|_| ()) {
        Ok(()) => {
            let out = Outcome {
                done: Some(done),
                ..Outcome::default()
            };
            ticket_page(s, v, id, out, StatusCode::OK).await
        }
        Err(e) => {
            let mut errors = Errors::default();
            let status = refused(&mut errors, e, rename, whole).map_err(|e| v.fail(e))?;
            let out = Outcome {
                form,
                errors,
                ..Outcome::default()
            };
            ticket_page(s, v, id, out, status).await
        }
    }
}

/// The ticket page again with the form's own errors (nothing was sent to the store).
async fn unchanged(s: &AppState, v: &Viewer, id: Uuid, form: Form, errors: Errors) -> PageResult {
    let out = Outcome {
        form,
        errors,
        ..Outcome::default()
    };
    ticket_page(s, v, id, out, StatusCode::UNPROCESSABLE_ENTITY).await
}

fn version(form: &Form) -> Option<i64> {
    form.value("version").trim().parse().ok()
}

/// A change of state: the store's `set_state` (support staff to any state, a partner's
/// users close their ticket or open a solved one again: the core's rule).
pub async fn set_state(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let to = match form.value("state").parse::<TicketState>() {
        Ok(t) => Some(t),
        Err(e) => {
            errors.add("state", e);
            None
        }
    };
    let Some(to) = to else {
        return unchanged(&s, &v, id, form, errors).await;
    };
    let p = &v.principal;
    let reason = optional(&form, "state_reason");
    let out = s
        .store
        .support()
        .set_state(
            &p.actor(),
            side(p),
            p.scope(),
            id,
            version(&form),
            to,
            reason.as_deref(),
        )
        .await;
    let rename = |f: &str| match f {
        "reason" => "state_reason".to_string(),
        _ => "state".to_string(),
    };
    let done = format!("The ticket is {to}.");
    changed(&s, &v, id, out, done, form, &rename, "state").await
}

/// The class of service (support staff): the store's `set_class`, which computes the
/// deadline again from the ticket's creation.
pub async fn set_class(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let class = match form.value("class").parse::<TicketClass>() {
        Ok(c) => Some(c),
        Err(e) => {
            errors.add("class", e);
            None
        }
    };
    let criterion = parse_opt::<CriticalCriterion>(&form, "criterion", &mut errors);
    let (Some(class), true) = (class, errors.is_empty()) else {
        return unchanged(&s, &v, id, form, errors).await;
    };
    // Scoped as every page is: the store's `set_class` reads any ticket (the API's need
    // keeps partners out, and the gate has checked it).
    let reason = optional(&form, "class_reason");
    let out = s
        .store
        .support()
        .set_class(
            &v.principal.actor(),
            id,
            version(&form),
            class,
            criterion,
            reason.as_deref(),
        )
        .await;
    let rename = |f: &str| match f {
        "reason" => "class_reason".to_string(),
        "criterion" => "criterion".to_string(),
        _ => "class".to_string(),
    };
    let done = format!("The class is {class}; the deadline is computed again.");
    changed(&s, &v, id, out, done, form, &rename, "class").await
}

/// Gives the ticket to a member of support staff, or to nobody: the store's
/// `assign_ticket` (which checks who may take it), with the version read.
pub async fn assign(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let assignee = parse_opt::<Uuid>(&form, "assignee_id", &mut errors);
    if !errors.is_empty() {
        return unchanged(&s, &v, id, form, errors).await;
    }
    let out = s
        .store
        .support()
        .assign_ticket(&v.principal.actor(), id, version(&form), assignee)
        .await;
    let done = match assignee {
        Some(_) => "The ticket is assigned.",
        None => "The ticket is given to nobody.",
    };
    let rename = |_: &str| "assignee_id".to_string();
    changed(&s, &v, id, out, done.into(), form, &rename, "assignee_id").await
}

/// The remote access in clear, on this answer only (support staff and admins): the store's
/// `reveal_remote_access`, which writes the audit entry.
pub async fn reveal(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    let r = s
        .store
        .support()
        .reveal_remote_access(&v.principal.actor(), id, &s.secrets)
        .await
        .map_err(|e| v.fail(e))?;
    let opt = |x: &Option<String>| x.as_deref().map(shown).unwrap_or_default();
    let out = Outcome {
        revealed: Some(RevealedView {
            address: opt(&r.address),
            login: opt(&r.login),
            password: opt(&r.password),
        }),
        ..Outcome::default()
    };
    ticket_page(&s, &v, id, out, StatusCode::OK).await
}
