//! One ticket and the help desk's forms: a new ticket (with the earlier tickets it
//! references), the ticket's page (its facts, the first-response clock on the support
//! centre's hours, the conversation, the timeline), a reply (internal notes for support staff
//! only), a change of state, of class or of assignee, and the staff's reveal of the remote access (audited by the
//! store). Each form calls the store function the API's handler calls, with its arguments.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use didhub_core::access::Need;
use didhub_core::sla::TicketClass;
use didhub_core::ticket::{
    check_transition, closed_refusal, CallTrace, CriticalCriterion, MessageVisibility,
    TicketChannel, TicketKind, TicketState, TicketTopic,
};
use didhub_store::support::messages::NewMessage;
use didhub_store::support::tickets::{NewTicket, RemoteAccessInput};
use didhub_store::support::TicketDetail;
use didhub_store::StoreError;
use uuid::Uuid;

use super::inventory::{choices, Choice};
use super::tickets::sla_label;
use super::{machine_time, render, shown, when, Chrome, Errors, Form, PageResult, Viewer};
use crate::api::support::tickets::message_channel;
use crate::api::support::{author, side};
use crate::error::ApiError;
use crate::AppState;

/// A ticket's id from the address; anything else is "not found".
fn id_of(v: &Viewer, id: &str) -> Result<Uuid, Box<super::PageError>> {
    id.parse()
        .map_err(|_| Box::new(v.fail(ApiError::NotFound("ticket".into()))))
}

/// The form's field for a field the store names (`references[1]` → `references`).
fn form_field(store: &str) -> String {
    let base = store.split(['[', '.']).next().unwrap_or(store);
    match store {
        "remote_access.address" => "remote_address".into(),
        "remote_access.login" | "remote_access" => "remote_login".into(),
        "remote_access.password" => "remote_password".into(),
        "details" => "diagnostics".into(),
        _ => base.to_string(),
    }
}

/// A store refusal beside its field (`rename` maps the store's names to the form's); a
/// refusal of the whole change (closed, not allowed, stale) beside `whole`. The status the
/// API answers it with; anything else fails the page.
fn refused(
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

fn labelled<T: Copy>(all: &[T], name: fn(&T) -> &'static str) -> Vec<(String, String)> {
    all.iter()
        .map(|v| (name(v).to_string(), name(v).replace('_', " ")))
        .collect()
}

// ---- the new-ticket form ----

#[derive(Template)]
#[template(path = "portal/ticket_new.html")]
struct NewTicketPage {
    chrome: Chrome,
    form: Form,
    errors: Errors,
    stray: Vec<String>,
    /// Support staff open a ticket for a partner, by a channel, maybe later than the call.
    staff: bool,
    partners: Vec<Choice>,
    customers: Vec<Choice>,
    kinds: Vec<Choice>,
    topics: Vec<Choice>,
    classes: Vec<Choice>,
    criteria: Vec<Choice>,
    channels: Vec<Choice>,
}

/// The form's own fields (any other refusal is shown above the form).
const NEW_FIELDS: &[&str] = &[
    "partner_id",
    "customer_id",
    "channel",
    "received_at",
    "subject",
    "message",
    "type",
    "topic",
    "class",
    "criterion",
    "pbx_serial",
    "device_serial",
    "wms_version",
    "firmware",
    "diagnostics",
    "traces",
    "remote_address",
    "remote_login",
    "remote_password",
    "contact_email",
    "references",
];

async fn new_page(s: &AppState, v: &Viewer, form: Form, errors: Errors) -> PageResult {
    let scope = v.principal.scope();
    let acc = s.store.accounts();
    let staff = !v.principal.role.is_partner();
    let partners = if staff {
        acc.list_partners(scope).await.map_err(|e| v.fail(e))?
    } else {
        Vec::new()
    };
    let customers = acc
        .list_customers(scope, None)
        .await
        .map_err(|e| v.fail(e))?;
    let channels: Vec<TicketChannel> = TicketChannel::ALL
        .iter()
        .copied()
        .filter(|c| *c != TicketChannel::Email)
        .collect();
    let page = NewTicketPage {
        chrome: v.chrome("Open a ticket", "/tickets"),
        stray: errors.others(NEW_FIELDS),
        staff,
        partners: choices(
            partners.iter().map(|p| (p.id.to_string(), shown(&p.name))),
            form.value("partner_id"),
            Some("Choose a partner (or name its customer or PBX)"),
        ),
        customers: choices(
            customers.iter().map(|c| (c.id.to_string(), shown(&c.name))),
            form.value("customer_id"),
            Some("No customer named"),
        ),
        kinds: choices(
            labelled(TicketKind::ALL, TicketKind::as_str),
            form.get("type").unwrap_or("technical"),
            None,
        ),
        topics: choices(
            labelled(TicketTopic::ALL, TicketTopic::as_str),
            form.value("topic"),
            Some("No topic (technical)"),
        ),
        classes: choices(
            labelled(&TicketClass::ALL, TicketClass::as_str),
            form.get("class").unwrap_or("standard"),
            None,
        ),
        criteria: choices(
            labelled(CriticalCriterion::ALL, CriticalCriterion::as_str),
            form.value("criterion"),
            Some("None (standard)"),
        ),
        channels: choices(
            labelled(&channels, TicketChannel::as_str),
            form.get("channel").unwrap_or("portal"),
            None,
        ),
        form,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

/// The form, empty, or naming the tickets it follows up (`?references=12`: the link a closed
/// ticket gives).
pub async fn new_form(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let q = Form::query(&uri);
    let mut form = Form::default();
    if let Some(r) = q.get("references") {
        form.0.push(("references".into(), r.to_string()));
    }
    new_page(&s, &v, form, Errors::default()).await
}

fn optional(form: &Form, name: &str) -> Option<String> {
    Some(form.value(name).trim().to_string()).filter(|v| !v.is_empty())
}

fn parse_opt<T: std::str::FromStr>(form: &Form, name: &str, errors: &mut Errors) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    let v = optional(form, name)?;
    v.parse::<T>().map_err(|e| errors.add(name, e)).ok()
}

/// A time as the form asks for it: `YYYY-MM-DD HH:MM`, UTC.
fn utc_minute(v: &str) -> Option<DateTime<Utc>> {
    ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(v.trim(), f).ok())
        .map(|t| t.and_utc())
}

/// The ticket numbers of the reference field: `#12, 15` (commas or spaces between).
fn references(v: &str) -> Result<Vec<i64>, String> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.trim_start_matches('#')
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("'{t}' is not a ticket number (#N)"))
        })
        .collect()
}

/// Calls, one a line: `caller, called, YYYY-MM-DD HH:MM` (UTC).
fn traces(v: &str) -> Result<Vec<CallTrace>, String> {
    v.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            let parts: Vec<&str> = l.splitn(3, ',').map(str::trim).collect();
            let bad = || {
                format!(
                    "line {}: write the caller, the called number and the time (YYYY-MM-DD \
                     HH:MM, UTC), separated by commas",
                    i + 1
                )
            };
            match parts.as_slice() {
                [caller, called, at] => Ok(CallTrace {
                    caller: caller.to_string(),
                    called: called.to_string(),
                    at: utc_minute(at).ok_or_else(bad)?,
                }),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// The new ticket as the API's body would carry it; what the form itself must read (a
/// choice, a number, a time) refused beside its field.
fn new_ticket(form: &Form, staff: bool, errors: &mut Errors) -> Option<NewTicket> {
    let kind = match form.value("type").parse::<TicketKind>() {
        Ok(k) => Some(k),
        Err(e) => {
            errors.add("type", e);
            None
        }
    };
    let mut remote = None;
    if ["remote_address", "remote_login", "remote_password"]
        .iter()
        .any(|f| !form.value(f).trim().is_empty())
    {
        remote = Some(RemoteAccessInput {
            address: form.value("remote_address").to_string(),
            login: optional(form, "remote_login"),
            // A password is taken as typed (spaces may be part of it).
            password: Some(form.value("remote_password").to_string()).filter(|p| !p.is_empty()),
        });
    }
    let refs = references(form.value("references"))
        .map_err(|e| errors.add("references", e))
        .unwrap_or_default();
    let trace_list = traces(form.value("traces"))
        .map_err(|e| errors.add("traces", e))
        .unwrap_or_default();
    let received_at = match optional(form, "received_at") {
        Some(v) if staff => match utc_minute(&v) {
            Some(t) => Some(t),
            None => {
                errors.add("received_at", format!("'{v}' is not YYYY-MM-DD HH:MM"));
                None
            }
        },
        _ => None,
    };
    let new = NewTicket {
        partner_id: if staff {
            parse_opt(form, "partner_id", errors)
        } else {
            None
        },
        customer_id: parse_opt(form, "customer_id", errors),
        pbx_serial: optional(form, "pbx_serial"),
        device_serial: optional(form, "device_serial"),
        subject: form.value("subject").to_string(),
        message: form.value("message").to_string(),
        kind: kind.unwrap_or(TicketKind::Technical),
        topic: parse_opt(form, "topic", errors),
        channel: if staff {
            parse_opt(form, "channel", errors)
        } else {
            None
        },
        class: parse_opt(form, "class", errors),
        criterion: parse_opt(form, "criterion", errors),
        wms_version: optional(form, "wms_version"),
        firmware: form
            .value("firmware")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        diagnostics: optional(form, "diagnostics"),
        traces: trace_list,
        remote_access: remote,
        contact_email: optional(form, "contact_email"),
        references: refs,
        received_at,
    };
    errors.is_empty().then_some(new)
}

/// Opens the ticket (the store's `create_ticket`, as the API's handler calls it) and shows
/// its page; or the form again with each refusal beside its field, everything typed kept.
pub async fn create(State(s): State<AppState>, v: Viewer, body: axum::body::Bytes) -> PageResult {
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let staff = !v.principal.role.is_partner();
    let Some(new) = new_ticket(&form, staff, &mut errors) else {
        return new_page(&s, &v, form, errors).await;
    };
    let p = &v.principal;
    match s
        .store
        .support()
        .create_ticket(&p.actor(), &author(p), p.scope(), &new, &s.secrets)
        .await
    {
        Ok(d) => Ok(Redirect::to(&format!("/tickets/{}?opened=1", d.ticket.id)).into_response()),
        Err(e) => {
            refused(&mut errors, e, &form_field, "subject").map_err(|e| v.fail(e))?;
            new_page(&s, &v, form, errors).await
        }
    }
}

// ---- the ticket's page ----

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

/// The first-response clock, on the support centre's hours.
pub struct Clock {
    pub status: &'static str,
    /// When support answered, if it did.
    pub answered: Option<String>,
    pub due: String,
    pub due_machine: String,
    /// The deadline on the centre's wall clock, with its zone.
    pub due_local: String,
    /// What is left (support time) or how late it is (wall clock).
    pub left: Option<String>,
    pub left_machine: String,
    pub left_seconds: i64,
    /// While support is open: seconds until it closes (the countdown runs until then).
    pub open_seconds: Option<i64>,
    pub overdue: Option<String>,
    pub closed_now: bool,
}

/// A span of time as people read it: `2 h 05 min`, `20 min`, `3 d 4 h`.
pub fn span_text(d: TimeDelta) -> String {
    let m = d.num_minutes().max(0);
    let (days, hours, mins) = (m / 1440, m % 1440 / 60, m % 60);
    match (days, hours) {
        (0, 0) if d.num_seconds() < 60 => "less than a minute".into(),
        (0, 0) => format!("{mins} min"),
        (0, h) => format!("{h} h {mins:02} min"),
        (d, h) => format!("{d} d {h} h"),
    }
}

/// A span as an HTML `<time datetime>` duration.
fn span_machine(d: TimeDelta) -> String {
    format!("PT{}S", d.num_seconds().max(0))
}

async fn clock(s: &AppState, t: &didhub_store::support::Ticket) -> Result<Clock, ApiError> {
    let now = Utc::now();
    let hours = s.store.support().hours_around(&t.centre, now).await?;
    let due = t.first_response_due;
    let local = due.with_timezone(&hours.tz);
    let mut c = Clock {
        status: sla_label(t.sla),
        answered: t.first_response_at.as_ref().map(when),
        due: when(&due),
        due_machine: machine_time(&due),
        due_local: format!(
            "{} ({})",
            local.format("%a %-d %b %Y %H:%M"),
            hours.tz.name()
        ),
        left: None,
        left_machine: String::new(),
        left_seconds: 0,
        open_seconds: None,
        overdue: None,
        closed_now: false,
    };
    if t.first_response_at.is_some() {
        return Ok(c);
    }
    if now >= due {
        c.overdue = Some(span_text(now - due));
        return Ok(c);
    }
    let left = hours.support_time(now, due).unwrap_or(due - now);
    c.left = Some(span_text(left));
    c.left_machine = span_machine(left);
    c.left_seconds = left.num_seconds();
    match hours.open_span(now) {
        Some((_, end)) => c.open_seconds = Some((end.min(due) - now).num_seconds()),
        None => c.closed_now = true,
    }
    Ok(c)
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
        let out = Outcome {
            form,
            errors,
            ..Outcome::default()
        };
        return ticket_page(&s, &v, id, out, StatusCode::UNPROCESSABLE_ENTITY).await;
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
        let out = Outcome {
            form,
            errors,
            ..Outcome::default()
        };
        return ticket_page(&s, &v, id, out, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let p = &v.principal;
    let reason = optional(&form, "state_reason");
    match s
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
        .await
    {
        Ok(_) => {
            let out = Outcome {
                done: Some(format!("The ticket is {to}.")),
                ..Outcome::default()
            };
            ticket_page(&s, &v, id, out, StatusCode::OK).await
        }
        Err(e) => {
            let rename = |f: &str| match f {
                "reason" => "state_reason".to_string(),
                _ => "state".to_string(),
            };
            let status = refused(&mut errors, e, &rename, "state").map_err(|e| v.fail(e))?;
            let out = Outcome {
                form,
                errors,
                ..Outcome::default()
            };
            ticket_page(&s, &v, id, out, status).await
        }
    }
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
        let out = Outcome {
            form,
            errors,
            ..Outcome::default()
        };
        return ticket_page(&s, &v, id, out, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    // Scoped as every page is: the store's `set_class` reads any ticket (the API's need
    // keeps partners out, and the gate has checked it).
    let reason = optional(&form, "class_reason");
    match s
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
        .await
    {
        Ok(_) => {
            let out = Outcome {
                done: Some(format!(
                    "The class is {class}; the deadline is computed again."
                )),
                ..Outcome::default()
            };
            ticket_page(&s, &v, id, out, StatusCode::OK).await
        }
        Err(e) => {
            let rename = |f: &str| match f {
                "reason" => "class_reason".to_string(),
                "criterion" => "criterion".to_string(),
                _ => "class".to_string(),
            };
            let status = refused(&mut errors, e, &rename, "class").map_err(|e| v.fail(e))?;
            let out = Outcome {
                form,
                errors,
                ..Outcome::default()
            };
            ticket_page(&s, &v, id, out, status).await
        }
    }
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
        let out = Outcome {
            form,
            errors,
            ..Outcome::default()
        };
        return ticket_page(&s, &v, id, out, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match s
        .store
        .support()
        .assign_ticket(&v.principal.actor(), id, version(&form), assignee)
        .await
    {
        Ok(_) => {
            let done = match assignee {
                Some(_) => "The ticket is assigned.",
                None => "The ticket is given to nobody.",
            };
            let out = Outcome {
                done: Some(done.into()),
                ..Outcome::default()
            };
            ticket_page(&s, &v, id, out, StatusCode::OK).await
        }
        Err(e) => {
            let rename = |_: &str| "assignee_id".to_string();
            let status = refused(&mut errors, e, &rename, "assignee_id").map_err(|e| v.fail(e))?;
            let out = Outcome {
                form,
                errors,
                ..Outcome::default()
            };
            ticket_page(&s, &v, id, out, status).await
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_read_numbers_with_or_without_the_hash() {
        assert_eq!(references("#12, 15  #3"), Ok(vec![12, 15, 3]));
        assert_eq!(references(""), Ok(vec![]));
        assert!(references("#12, twelve").is_err());
        assert!(references("#0").is_err());
    }

    #[test]
    fn spans_read_in_hours_and_minutes() {
        assert_eq!(span_text(TimeDelta::minutes(20)), "20 min");
        assert_eq!(span_text(TimeDelta::minutes(125)), "2 h 05 min");
        assert_eq!(span_text(TimeDelta::hours(52)), "2 d 4 h");
        assert_eq!(span_text(TimeDelta::seconds(30)), "less than a minute");
    }

    #[test]
    fn the_store_s_field_names_map_to_the_form_s() {
        assert_eq!(form_field("references[1]"), "references");
        assert_eq!(form_field("remote_access.address"), "remote_address");
        assert_eq!(form_field("traces[0].caller"), "traces");
        assert_eq!(form_field("subject"), "subject");
    }
}
