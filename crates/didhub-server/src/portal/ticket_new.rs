//! The new-ticket form: the API's new ticket (`create_ticket`), with the earlier tickets it
//! references (the reference field), the product, the class asked for, the details and the
//! remote access; support staff also name the partner, the channel and when the call came in.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect};
use chrono::{DateTime, NaiveDateTime, Utc};
use didhub_core::sla::TicketClass;
use didhub_core::ticket::{CallTrace, CriticalCriterion, TicketChannel, TicketKind, TicketTopic};
use didhub_store::support::tickets::{NewTicket, RemoteAccessInput};

use super::inventory::{choices, Choice};
use super::ticket::{labelled, optional, parse_opt, refused};
use super::{render, shown, Chrome, Errors, Form, PageResult, Viewer};
use crate::api::support::author;
use crate::AppState;

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
    fn the_store_s_field_names_map_to_the_form_s() {
        assert_eq!(form_field("references[1]"), "references");
        assert_eq!(form_field("remote_access.address"), "remote_address");
        assert_eq!(form_field("traces[0].caller"), "traces");
        assert_eq!(form_field("subject"), "subject");
    }
}
